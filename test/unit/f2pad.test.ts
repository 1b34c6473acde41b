/**
 * F2PAD's pure parts on tiny hand-checkable inputs: dilation, the loss terms
 * and their gradients (against central differences), gradient sharing, the
 * pixel prior, in-painting, position weights, and the whole loop with a
 * hand-made feature objective (quadratic pull toward a known good image).
 */
import t, { type Test } from 'tap';
import { dilateMask, maskDifference } from '../../models/components/morphology.ts';
import { seededRandom } from '../../models/components/random.ts';
import { DEFAULT_F2PAD } from '../../config/refine.ts';
import { anomalyMask, refineF2pad, shareGradient, sparsityCost, totalVariation, type FeatureObjective } from '../../models/refine/f2pad.ts';
import { positionWeights } from '../../models/refine/f2pad-model.ts';
import { inpaintFromReferences } from '../../models/refine/inpaint.ts';
import { fitPixelPrior, pixelPriorCost, samplePixels } from '../../models/refine/pixel-prior.ts';

const rows = (m: Uint8Array, w: number) => Array.from({ length: m.length / w }, (_, y) => [...m.subarray(y * w, (y + 1) * w)].join(''));

t.test('dilateMask grows a pixel into a square; maskDifference keeps the ring', async (t) => {
  const m = new Uint8Array(25);
  m[12] = 1;
  const d = dilateMask(m, 5, 5, 1);
  t.same(rows(d, 5), ['00000', '01110', '01110', '01110', '00000']);
  t.same(rows(dilateMask(m, 5, 5, 0), 5), rows(m, 5), 'radius 0 keeps the mask');
  const edge = new Uint8Array(25);
  edge[0] = 1;
  t.same(rows(dilateMask(edge, 5, 5, 2), 5), ['11100', '11100', '11100', '00000', '00000'], 'clipped at the border');
  t.same(rows(maskDifference(d, m), 5), ['00000', '01110', '01010', '01110', '00000']);
});

/** Central-difference check of an analytic gradient over every coordinate. */
function checkGradient(t: Test, f: (x: Float32Array) => number, grad: Float32Array, x: Float32Array, label: string, h = 1e-2) {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] = plus[i]! + h;
    minus[i] = minus[i]! - h;
    const numeric = (f(plus) - f(minus)) / (2 * h);
    worst = Math.max(worst, Math.abs(numeric - grad[i]!) / Math.max(1e-3, Math.abs(numeric)));
  }
  t.ok(worst < 2e-2, `${label}: worst relative error ${worst.toExponential(2)}`);
}

t.test('loss terms: values on hand-checked inputs, gradients against finite differences', async (t) => {
  const region = Uint8Array.from([1, 1, 0, 1]);
  const x = Float32Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]);
  const xn = Float32Array.from([10, 25, 15, 40, 47, 90, 0, 0, 0, 99, 130, 119]);
  // |a| on region pixels: 0,5,15 | 0,3,30 | (skipped) | 1,20,1, eps 10
  const s = sparsityCost(x, xn, region, 10);
  const expected = [0, 5, 15, 0, 3, 30, 1, 20, 1].reduce((acc, a) => acc + Math.log1p(a / 10), 0);
  t.ok(Math.abs(s.cost - expected) < 1e-9, `LOG sparsity ${s.cost.toFixed(6)} = ${expected.toFixed(6)}`);
  t.equal(s.grad[6], 0, 'no gradient outside the region');
  const nonzero = Float32Array.from(xn, (v, i) => v + (i % 2 ? 0.3 : -0.4)); // |a| away from the kink at 0
  checkGradient(t, (v) => sparsityCost(x, v, region, 10).cost, sparsityCost(x, nonzero, region, 10).grad, nonzero, 'sparsity');

  // TV of a 2x2 image, one channel varying: forward differences at (0,0) only are non-zero.
  const flat = new Float32Array(12).fill(5);
  t.ok(Math.abs(totalVariation(flat, 2, 2, Uint8Array.from([1, 1, 1, 1])).cost - 12) < 1e-9, 'a flat image costs sqrt(delta) per pixel and channel');
  const rnd = seededRandom(4);
  const img = Float32Array.from({ length: 4 * 3 * 3 }, () => rnd() * 50);
  const all = new Uint8Array(12).fill(1);
  all[5] = 0;
  checkGradient(t, (v) => totalVariation(v, 4, 3, all).cost, totalVariation(img, 4, 3, all).grad, img, 'total variation');
});

t.test('shareGradient: a constant gradient stays; an edge in the guide stops the sharing', async (t) => {
  const w = 6;
  const h = 1;
  const region = new Uint8Array(6).fill(1);
  const constant = new Float32Array(18).fill(2);
  const guide = new Float32Array(18).fill(100);
  const shared = shareGradient(constant, guide, w, h, region, { radius: 2, sigmaSpace: 1.5, sigmaColour: 10 });
  t.ok(shared.every((v) => Math.abs(v - 2) < 1e-6), 'a constant gradient is unchanged');
  // Left half dark, right half bright; gradient 1 on the left, -1 on the right.
  const edgeGuide = Float32Array.from({ length: 18 }, (_, i) => (Math.floor(i / 3) < 3 ? 0 : 255));
  const grad = Float32Array.from({ length: 18 }, (_, i) => (Math.floor(i / 3) < 3 ? 1 : -1));
  const across = shareGradient(grad, edgeGuide, w, h, region, { radius: 2, sigmaSpace: 1.5, sigmaColour: 10 });
  t.ok(Math.abs(across[2 * 3]! - 1) < 1e-6 && Math.abs(across[3 * 3]! + 1) < 1e-6, 'no sharing across a strong colour edge');
  const outside = Uint8Array.from([1, 1, 1, 0, 0, 0]);
  const masked = shareGradient(grad, guide, w, h, outside, { radius: 2, sigmaSpace: 1.5, sigmaColour: 10 });
  t.ok(masked.subarray(9).every((v) => v === 0) && masked.subarray(0, 9).every((v) => Math.abs(v - 1) < 1e-6), 'only region pixels share, and only with each other');
});

t.test('pixel prior: EM finds two colour clusters; cost and gradient', async (t) => {
  const rnd = seededRandom(1);
  const colours = Float32Array.from({ length: 2000 * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    const base = p % 2 ? [0.8, 0.2, 0.2] : [0.1, 0.1, 0.6];
    return base[i % 3]! + (rnd() - 0.5) * 0.05;
  });
  const prior = fitPixelPrior(colours, 2, seededRandom(2));
  const means = [[...prior.means.subarray(0, 3)], [...prior.means.subarray(3, 6)]].sort((a, b) => a[0]! - b[0]!);
  t.ok(means[0]!.every((v, c) => Math.abs(v - [0.1, 0.1, 0.6][c]!) < 0.01), `blue cluster at ${means[0]!.map((v) => v.toFixed(3))}`);
  t.ok(means[1]!.every((v, c) => Math.abs(v - [0.8, 0.2, 0.2][c]!) < 0.01), `red cluster at ${means[1]!.map((v) => v.toFixed(3))}`);
  const onMode = pixelPriorCost(prior, Float32Array.from([0.8 * 255, 0.2 * 255, 0.2 * 255]), Uint8Array.from([1]));
  const offMode = pixelPriorCost(prior, Float32Array.from([0.2 * 255, 0.9 * 255, 0.2 * 255]), Uint8Array.from([1]));
  t.ok(onMode.cost < 3 && offMode.cost > 100 * onMode.cost, `a good colour costs ${onMode.cost.toFixed(2)}, a foreign one ${offMode.cost.toFixed(0)}`);
  const x = Float32Array.from([0.75 * 255, 0.25 * 255, 0.18 * 255]);
  checkGradient(t, (v) => pixelPriorCost(prior, v, Uint8Array.from([1])).cost, pixelPriorCost(prior, x, Uint8Array.from([1])).grad, x, 'prior', 1e-2);
  t.throws(() => fitPixelPrior(new Float32Array(3), 2, seededRandom(1)), /at least 2 colours/);
  const sample = samplePixels([{ data: new Float32Array(30).fill(255) }], 5, seededRandom(3));
  t.same([...sample], new Array(15).fill(1), 'sampled colours are scaled to [0, 1]');
});

t.test('inpaintFromReferences: the shifted golden reference fills the region', async (t) => {
  const w = 16;
  const h = 16;
  const pattern = (dx: number) => Float32Array.from({ length: w * h * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return ((p % w) + dx) * 10 + Math.floor(p / w) * 3 + (i % 3);
  });
  const golden = pattern(0);
  const frame = pattern(2); // the part sits 2 px to the side
  const region = new Uint8Array(w * h);
  for (let y = 6; y < 9; y++) for (let x = 6; x < 9; x++) region[y * w + x] = 1;
  for (let i = 0; i < 9 * 3; i++) frame[(7 * w + 7) * 3 + (i % 3)] = 255; // the defect
  const ring = maskDifference(dilateMask(region, w, h, 2), region);
  const decoy = new Float32Array(w * h * 3).fill(0);
  const result = inpaintFromReferences(frame, w, h, region, ring, [decoy, golden], 3);
  t.equal(result.reference, 1, 'the matching reference is chosen');
  t.same(result.shift, [0, 2], 'at the part\'s shift');
  t.equal(result.ringError, 0);
  t.same([...result.image], [...pattern(2)], 'the region holds the good part again, the rest is untouched');
  t.throws(() => inpaintFromReferences(frame, w, h, region, ring, [], 3), /at least one golden reference/);
});

t.test('positionWeights: cells the region touches, grown by one cell', async (t) => {
  const region = new Uint8Array(8 * 8);
  region[0] = 1; // top-left pixel -> cell (0, 0) of a 4x4 grid
  t.same(rows(Uint8Array.from(positionWeights(region, 8, 8, { width: 4, height: 4 })), 4), ['1100', '1100', '0000', '0000']);
});

t.test('refineF2pad: a hand-made objective recovers the defect exactly, within its bounds', async (t) => {
  const w = 24;
  const h = 24;
  const good = Float32Array.from({ length: w * h * 3 }, (_, i) => 100 + (Math.floor(i / 3) % w) * 2);
  const frame = good.slice();
  const truth = new Uint8Array(w * h);
  for (let y = 10; y < 14; y++) for (let x = 9; x < 15; x++) {
    truth[y * w + x] = 1;
    frame.fill(250, (y * w + x) * 3, (y * w + x) * 3 + 3);
  }
  // The backbone's mask is coarse: a larger box around the defect.
  const initialMask = dilateMask(truth, w, h, 3);
  // Feature term: a quadratic pull of x_n toward the good part inside the region.
  let evaluations = 0;
  const objective = async (_initial: Float32Array, region: Uint8Array): Promise<FeatureObjective> => ({
    async evaluate(image) {
      evaluations++;
      const grad = new Float32Array(image.length);
      let loss = 0;
      for (let i = 0; i < image.length; i++) {
        if (!region[Math.floor(i / 3)]) continue;
        const d = image[i]! - good[i]!;
        loss += 0.001 * d * d;
        grad[i] = 0.002 * d;
      }
      return { loss, grad };
    },
  });
  const rnd = seededRandom(5);
  const prior = fitPixelPrior(samplePixels([{ data: good }], 500, rnd), 2, rnd);
  // The reference is a differently lit good part, so in-painting alone is off by 40 levels.
  const reference = good.map((v) => v - 40);
  const settings = { ...DEFAULT_F2PAD, maxIterations: 60, tolerance: -1, budgetMs: 60_000, step: 4, tau: 30 };
  const result = await refineF2pad({ image: frame, width: w, height: h, initialMask, references: [reference], prior, objective }, settings);
  t.equal(result.iterations, 60);
  t.equal(evaluations, 60);
  t.equal(result.stoppedBy, 'iterations');
  t.same(rows(result.mask, w), rows(truth, w), 'the mask is the defect, not the coarse box');
  t.ok(result.losses.at(-1)! < result.losses[0]!, `loss fell from ${result.losses[0]!.toFixed(1)} to ${result.losses.at(-1)!.toFixed(1)}`);

  let clock = 0;
  const timed = await refineF2pad({ image: frame, width: w, height: h, initialMask, references: [reference], prior, objective }, { ...settings, budgetMs: 25 }, () => (clock += 10));
  t.equal(timed.stoppedBy, 'budget');
  t.ok(timed.iterations >= 1 && timed.iterations <= 3, `the wall-clock budget stops the loop (${timed.iterations} iterations)`);
  const stalled = await refineF2pad({ image: frame, width: w, height: h, initialMask, references: [reference], prior, objective }, { ...settings, tolerance: 0.5 });
  t.equal(stalled.stoppedBy, 'tolerance', 'a loss that stops falling ends the loop');
  const empty = await refineF2pad({ image: frame, width: w, height: h, initialMask: new Uint8Array(w * h), references: [reference], prior, objective }, settings);
  t.equal(empty.stoppedBy, 'empty');
  t.equal(empty.mask.reduce((a, v) => a + v, 0), 0, 'no initial mask, no defect');
  t.same([...anomalyMask(Float32Array.from([0, 0, 0, 50, 0, 0]), new Float32Array(6), Uint8Array.from([1, 1]), 30)], [0, 1]);
});
