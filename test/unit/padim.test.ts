/**
 * PaDiM's Gaussians per position on hand-checkable data, and its ONNX
 * scoring graph against the JS Mahalanobis distance.
 */
import t from 'tap';
import { fitPositionGaussians, invertSpd, mahalanobis, neighbourIndices } from '../../models/padim/gaussian.ts';
import { MahalanobisSearch } from '../../models/padim/model.ts';
import { seededRandom } from '../../models/components/random.ts';

t.test('invertSpd inverts a 2x2 matrix by hand', async (t) => {
  // [[4, 2], [2, 3]]^-1 = 1/8 [[3, -2], [-2, 4]]
  t.same(Array.from(invertSpd(Float64Array.from([4, 2, 2, 3]), 2)).map((v) => Math.round(v * 8000) / 1000), [3, -2, -2, 4]);
  t.throws(() => invertSpd(Float64Array.from([1, 2, 2, 1]), 2), /not positive definite/);
});

t.test('one Gaussian per position: mean, regularised covariance, distance', async (t) => {
  // 2 samples, 2 positions, 1 dim: position 0 sees 1 and 3, position 1 sees 10 and 10.
  const g = fitPositionGaussians(Float32Array.from([1, 10, 3, 10]), 2, 2, 1, 0.5);
  t.same(Array.from(g.mean), [2, 10]);
  // variance 2 (+0.5) at position 0; 0 (+0.5) at position 1.
  t.ok(Math.abs(g.precision[0]! - 1 / 2.5) < 1e-6 && Math.abs(g.precision[1]! - 2) < 1e-6);
  t.ok(Math.abs(mahalanobis(g, 0, [4.5]) - 2.5 / Math.sqrt(2.5)) < 1e-6);
  t.ok(Math.abs(mahalanobis(g, 1, [11]) - Math.sqrt(2)) < 1e-6, 'the same offset is more anomalous where golden samples never vary');
  t.throws(() => fitPositionGaussians(new Float32Array(4), 1, 4, 1, 0.1), /at least two/);
});

t.test('the ONNX graph scores every position like the JS reference, with and without a reduction', async (t) => {
  const rng = seededRandom(2);
  const samples = 12;
  const positions = 6;
  const dim = 3;
  const rows = Float32Array.from({ length: samples * positions * dim }, () => rng() * 4 - 2);
  const g = fitPositionGaussians(rows, samples, positions, dim, 0.01);
  const query = Float32Array.from({ length: positions * dim }, () => rng() * 4 - 2);
  const search = await MahalanobisSearch.create(g, dim);
  const scores = await search.distances(query);
  for (let p = 0; p < positions; p++) t.ok(Math.abs(scores[p]! - mahalanobis(g, p, query.subarray(p * dim, (p + 1) * dim))) < 1e-3, `position ${p}`);
  await search.release();
  // Raw 4-channel rows reduced to the 3 fitted dimensions by (x - mean) . axes.
  const reduction = { mean: Float32Array.from([1, 0, 0, 0]), axes: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]) };
  const raw = new Float32Array(positions * 4);
  for (let p = 0; p < positions; p++) raw.set([query[p * dim]! + 1, query[p * dim + 1]!, query[p * dim + 2]!, 9], p * 4);
  const reduced = await MahalanobisSearch.create(g, 4, reduction);
  const again = await reduced.distances(raw);
  t.ok(again.every((v, p) => Math.abs(v - scores[p]!) < 1e-3));
  await reduced.release();
});

t.test('neighbourIndices on a 3x2 grid, clamped at the border', async (t) => {
  // Positions 0 1 2 / 3 4 5.
  t.same(Array.from(neighbourIndices(3, 2, 1, 0)), [1, 2, 2, 4, 5, 5]);
  t.same(Array.from(neighbourIndices(3, 2, -1, 1)), [3, 3, 4, 3, 3, 4]);
  t.same(Array.from(neighbourIndices(3, 2, 0, 0)), [0, 1, 2, 3, 4, 5]);
});

t.test('with a tolerance, a position scores the closest feature within reach under its own Gaussian', async (t) => {
  const rng = seededRandom(4);
  const [width, height, dim, samples] = [3, 2, 2, 10];
  const positions = width * height;
  const rows = Float32Array.from({ length: samples * positions * dim }, () => rng() * 4 - 2);
  const g = fitPositionGaussians(rows, samples, positions, dim, 0.01);
  const query = Float32Array.from({ length: positions * dim }, () => rng() * 4 - 2);
  const search = await MahalanobisSearch.create(g, dim, undefined, {}, { grid: { width, height }, cells: 1 });
  const scores = await search.distances(query);
  for (let p = 0; p < positions; p++) {
    const x = p % width;
    const y = Math.floor(p / width);
    let best = Infinity;
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const q = Math.min(height - 1, Math.max(0, y + dy)) * width + Math.min(width - 1, Math.max(0, x + dx));
        best = Math.min(best, mahalanobis(g, p, query.subarray(q * dim, (q + 1) * dim)));
      }
    t.ok(Math.abs(scores[p]! - best) < 1e-3, `position ${p}: ${scores[p]!.toFixed(4)} vs ${best.toFixed(4)}`);
  }
  // A feature shifted by one cell scores as if in place.
  const shifted = new Float32Array(query.length);
  for (let p = 0; p < positions; p++) shifted.set(g.mean.subarray(neighbourIndices(width, height, -1, 0)[p]! * dim, (neighbourIndices(width, height, -1, 0)[p]! + 1) * dim), p * dim);
  const tolerant = await search.distances(shifted);
  t.ok(tolerant.every((v, p) => v < 1e-3 || p % width === width - 1), `means moved one cell right score ~0 where the move is visible: ${Array.from(tolerant, (v) => v.toFixed(3))}`);
  await search.release();
});
