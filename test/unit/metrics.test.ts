import t from 'tap';
import { aupro, auroc, f1Max, maskScores } from '../../eval/metrics.ts';

t.test('AUROC on hand-checked cases, ties count one half', async (t) => {
  t.equal(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
  t.equal(auroc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]), 0);
  // pairs (pos, neg): (0.5,0.5) tie = 0.5, (0.5,0.1) = 1, (0.7,0.5) = 1, (0.7,0.1) = 1 -> 3.5 / 4
  t.equal(auroc([0.5, 0.7, 0.5, 0.1], [1, 1, 0, 0]), 0.875);
  t.throws(() => auroc([1, 2], [1, 1]), /both good and defective/);
});

t.test('AUROC equals a naive pair count on random data with ties', async (t) => {
  let seed = 3;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let trial = 0; trial < 5; trial++) {
    const n = 200;
    const scores = Array.from({ length: n }, () => Math.floor(rnd() * 20) / 4);
    const labels = Array.from({ length: n }, () => (rnd() < 0.3 ? 1 : 0));
    let u = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (labels[i] !== 1 || labels[j] !== 0) continue;
        pairs++;
        u += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    t.ok(Math.abs(auroc(scores, labels) - u / pairs) < 1e-9, `trial ${trial}`);
  }
});

t.test('F1-max picks the best threshold, ties as one threshold', async (t) => {
  // threshold 0.6: tp 2 (0.9, 0.6), fp 1 (0.7), fn 0 -> P 2/3, R 1, F1 0.8
  const r = f1Max([0.9, 0.7, 0.6, 0.3, 0.2], [1, 0, 1, 0, 0]);
  t.ok(Math.abs(r.threshold - 0.6) < 1e-6, "threshold 0.6 (scores are compared in float32)");
  t.ok(Math.abs(r.f1 - 0.8) < 1e-12);
  // A tie between a positive and a negative cannot be split.
  const tie = f1Max([0.5, 0.5], [1, 0]);
  t.ok(Math.abs(tie.f1 - 2 / 3) < 1e-12);
});

t.test('AUPRO on two 4x4 maps, computed by hand', async (t) => {
  const w = 4;
  const h = 4;
  // Image A: a 2-pixel region at (0,0),(1,0); scores 0.9 and 0.4 there, 0 elsewhere except one normal pixel at 0.8.
  const mapA = new Float32Array(16);
  const maskA = new Uint8Array(16);
  maskA[0] = 1;
  maskA[1] = 1;
  mapA[0] = 0.9;
  mapA[1] = 0.4;
  mapA[15] = 0.8;
  // Image B: no defect, all zeros.
  const mapB = new Float32Array(16);
  const maskB = new Uint8Array(16);
  // Normal pixels: 14 + 16 = 30. Thresholds descending:
  // 0.9: PRO 0.5, FPR 0 ; 0.8: PRO 0.5, FPR 1/30 ; 0.4: PRO 1, FPR 1/30 ; 0: PRO 1, FPR 1.
  // Area to FPR 0.3: 0.5 * (1/30) + 1 * (0.3 - 1/30) = 1/60 + 0.26667 = 0.283333; / 0.3 = 0.944444
  t.ok(Math.abs(aupro([mapA, mapB], [maskA, maskB], w, h, 0.3) - 0.283333333 / 0.3) < 1e-6);
});

t.test('mask IoU and Dice', async (t) => {
  const gt = Uint8Array.from([1, 1, 0, 0]);
  const pred = Uint8Array.from([1, 0, 1, 0]);
  const s = maskScores(pred, gt);
  t.same({ tp: s.tp, fp: s.fp, fn: s.fn }, { tp: 1, fp: 1, fn: 1 });
  t.equal(s.iou, 1 / 3);
  t.equal(s.dice, 0.5);
  t.same(maskScores(new Uint8Array(4), new Uint8Array(4)).iou, 1);
});
