/**
 * The feature adaptor's algebra (it must fold exactly into the scoring
 * graph's reduction), the linear solve under it, and a real tfjs training run
 * on a tiny problem the adaptor can only solve by moving its weights.
 */
import t from 'tap';
import { adaptorFromWeights, adaptRows, foldAdaptor } from '../../models/adapt/feature-adaptor.ts';
import { multiplyMatrices, solveRowVector } from '../../models/components/matrix.ts';
import { reduceRows } from '../../models/components/pca.ts';
import { seededRandom } from '../../models/components/random.ts';
import { channelStatistics, poolRows, trainFeatureAdaptor, type AdaptSample } from '../../models/adapt/train.ts';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4) => Array.from(a).every((v, i) => Math.abs(v - b[i]!) <= tol * Math.max(1, Math.abs(b[i]!)));

t.test('solveRowVector solves x . A = b; a singular matrix is refused', async (t) => {
  const a = Float32Array.from([2, 1, 0, 0, 3, 1, 1, 0, 4]);
  const x = Float32Array.from([1, -2, 0.5]);
  const b = multiplyMatrices(x, a, 1, 3, 3);
  t.ok(close(solveRowVector(a, b, 3), x));
  t.throws(() => solveRowVector(Float32Array.from([1, 2, 2, 4]), Float32Array.from([1, 1]), 2), /singular/);
});

t.test('a zero adaptor is the identity', async (t) => {
  const c = 3;
  const a = adaptorFromWeights(new Float32Array(c * c), Float32Array.from([1, 2, 3]), Float32Array.from([1, 0.5, 2]));
  t.same([...a.matrix], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  t.same([...a.offset], [0, 0, 0]);
});

t.test('adaptRows is x + s * (((x - u) / s) . W)', async (t) => {
  const rng = seededRandom(2);
  const c = 4;
  const w = Float32Array.from({ length: c * c }, () => rng() - 0.5);
  const u = Float32Array.from({ length: c }, () => rng() * 3);
  const s = Float32Array.from({ length: c }, () => 0.5 + rng());
  const x = Float32Array.from({ length: 2 * c }, () => rng() * 4);
  const expected = new Float32Array(2 * c);
  for (let r = 0; r < 2; r++) {
    for (let j = 0; j < c; j++) {
      let zw = 0;
      for (let i = 0; i < c; i++) zw += ((x[r * c + i]! - u[i]!) / s[i]!) * w[i * c + j]!;
      expected[r * c + j] = x[r * c + j]! + s[j]! * zw;
    }
  }
  t.ok(close(adaptRows(x, 2, adaptorFromWeights(w, u, s)), expected));
});

t.test('foldAdaptor: reducing raw features with the folded reduction equals adapting then reducing', async (t) => {
  const rng = seededRandom(4);
  const c = 5;
  const d = 3;
  const adaptor = adaptorFromWeights(
    Float32Array.from({ length: c * c }, () => (rng() - 0.5) * 0.4),
    Float32Array.from({ length: c }, () => rng()),
    Float32Array.from({ length: c }, () => 0.5 + rng()),
  );
  const reduction = { mean: Float32Array.from({ length: c }, () => rng()), axes: Float32Array.from({ length: c * d }, () => rng() - 0.5) };
  const x = Float32Array.from({ length: 6 * c }, () => rng() * 2);
  const folded = foldAdaptor(adaptor, reduction);
  t.ok(close(reduceRows(x, 6, c, folded), reduceRows(adaptRows(x, 6, adaptor), 6, c, reduction)), 'with a PCA reduction');
  const identity = foldAdaptor(adaptor);
  t.ok(close(reduceRows(x, 6, c, identity), adaptRows(x, 6, adaptor)), 'without one');
});

t.test('poolRows averages 2x2 cells; channelStatistics uses normal samples only', async (t) => {
  // 4x4 grid, 1 channel, values 0..15.
  const rows = Float32Array.from({ length: 16 }, (_, i) => i);
  t.same([...poolRows(rows, { width: 4, height: 4 }, 1, 2)], [2.5, 4.5, 10.5, 12.5]);
  const stats = channelStatistics(
    [
      { rows: Float32Array.from([1, 10, 3, 10]), label: 0 },
      { rows: Float32Array.from([100, 100, 100, 100]), label: 1 },
    ],
    2,
  );
  t.same([...stats.mean], [2, 10]);
  t.ok(Math.abs(stats.scale[0]! - 1) < 1e-6);
  t.ok(stats.scale[1]! > 0, 'a constant channel gets a small positive scale, not zero');
});

t.test('trainFeatureAdaptor learns a 3-way task that needs the adaptor', async (t) => {
  // Two channels; the class shows only as a feature at one position of four:
  // normal 0, "patch" +1 on channel 0, "scar" +1 on channel 1.
  const rng = seededRandom(7);
  const samples: AdaptSample[] = [];
  for (let i = 0; i < 90; i++) {
    const label = (i % 3) as 0 | 1 | 2;
    const rows = Float32Array.from({ length: 8 }, () => (rng() - 0.5) * 0.2);
    const at = Math.floor(rng() * 4);
    if (label > 0) rows[at * 2 + label - 1] = rows[at * 2 + label - 1]! + 1;
    samples.push({ rows, label });
  }
  const result = await trainFeatureAdaptor(samples, 2, { epochs: 60, batchSize: 16, learningRate: 0.02, weightDecay: 0, hidden: 8, seed: 1 });
  t.ok(result.accuracy > 0.9, `training accuracy ${result.accuracy}`);
  t.ok(result.losses.at(-1)! < result.losses[0]!, `loss fell from ${result.losses[0]!.toFixed(3)} to ${result.losses.at(-1)!.toFixed(3)}`);
  t.ok(result.change > 0, 'the adaptor moved away from the identity');
  t.match(result.backend, /^(wasm|cpu|tensorflow)$/);
});
