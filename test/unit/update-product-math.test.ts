/**
 * The math of a product update on hand-checkable inputs: PaDiM's running
 * Gaussians merged with Chan's formula against a direct fit on the union, and
 * the memory bank's coreset top-up keeping far new patches, dropping near ones.
 */
import t from 'tap';
import { fitPositionGaussians } from '../../models/padim/gaussian.ts';
import {
  mergeRunningGaussians,
  regularisedCovariance,
  runningGaussianFromStored,
  runningGaussianOf,
  updatePositionGaussians,
} from '../../trainer/update/running-gaussians.ts';
import { bankCoverageRadius, coresetTopUp } from '../../trainer/update/coreset-top-up.ts';

const round = (xs: ArrayLike<number>, digits = 6) => Array.from(xs, (x) => Math.round(x * 10 ** digits) / 10 ** digits);

t.test('running Gaussian of a few 2-d rows: count, mean, scatter by hand', async (t) => {
  // rows (0,0), (2,0), (1,3): mean (1,1); deviations (-1,-1), (1,-1), (0,2)
  const g = runningGaussianOf([0, 0, 2, 0, 1, 3], 3, 2);
  t.equal(g.n, 3);
  t.same(round(g.mean), [1, 1]);
  // scatter: xx = 1+1+0 = 2, xy = 1-1+0 = 0, yy = 1+1+4 = 6
  t.same(round(g.scatter), [2, 0, 0, 6]);
});

t.test('Chan merge equals the statistics of the union', async (t) => {
  const a = [0, 0, 2, 0];
  const b = [1, 3, 5, 1, -2, 4];
  const merged = mergeRunningGaussians(runningGaussianOf(a, 2, 2), runningGaussianOf(b, 3, 2));
  const direct = runningGaussianOf([...a, ...b], 5, 2);
  t.equal(merged.n, 5);
  t.same(round(merged.mean), round(direct.mean));
  t.same(round(merged.scatter), round(direct.scatter));
  // 1-d by hand: {1, 3} merged with {5}: mean 3, scatter (4 + 0 + 4) = 8
  const oneD = mergeRunningGaussians(runningGaussianOf([1, 3], 2, 1), runningGaussianOf([5], 1, 1));
  t.same([oneD.n, ...round(oneD.mean), ...round(oneD.scatter)], [3, 3, 8]);
  t.same(round(regularisedCovariance(oneD, 0.5)), [4.5], 'covariance 8 / 2 plus epsilon');
});

t.test('statistics rebuilt from a stored precision give back the scatter', async (t) => {
  const rows = [0, 0, 2, 0, 1, 3];
  const epsilon = 0.25;
  const direct = runningGaussianOf(rows, 3, 2);
  const fitted = fitPositionGaussians(Float32Array.from(rows), 3, 1, 2, epsilon);
  const rebuilt = runningGaussianFromStored(fitted.mean, fitted.precision, 2, 3, epsilon);
  t.same(round(rebuilt.mean, 4), round(direct.mean, 4));
  t.same(round(rebuilt.scatter, 4), round(direct.scatter, 4));
});

t.test('updating stored Gaussians with new samples matches a direct fit on all samples', async (t) => {
  // 3 old + 2 new samples, 2 positions, 2 dims, sample-major rows.
  const old = [0, 0, 10, 10, 2, 0, 11, 9, 1, 3, 12, 12];
  const added = [5, 1, 9, 8, -2, 4, 10, 13];
  const epsilon = 0.1;
  const stored = fitPositionGaussians(Float32Array.from(old), 3, 2, 2, epsilon);
  const updated = updatePositionGaussians(stored, 3, epsilon, Float32Array.from(added), 2);
  const direct = fitPositionGaussians(Float32Array.from([...old, ...added]), 5, 2, 2, epsilon);
  t.same(round(updated.mean, 4), round(direct.mean, 4));
  t.same(round(updated.precision, 4), round(direct.precision, 4));
});

t.test('coreset top-up keeps every far new patch and drops near duplicates', async (t) => {
  // Bank: (0,0) and (10,0). New patches: two near duplicates of the bank,
  // two far ones at (0,10) and (10,10), and a near duplicate of a far one.
  const rows = Float32Array.from([0.1, 0, 10, 0.2, 0, 10, 10, 10, 0.2, 10.1]);
  const bank = Float32Array.from([0, 0, 10, 0]);
  const bankDistances = new Float32Array(5);
  for (let i = 0; i < 5; i++) {
    const [x, y] = [rows[2 * i]!, rows[2 * i + 1]!];
    bankDistances[i] = Math.min(Math.hypot(x - bank[0]!, y - bank[1]!), Math.hypot(x - bank[2]!, y - bank[3]!));
  }
  const picked = coresetTopUp(rows, 5, 2, bankDistances, 1);
  // (0.2, 10.1) is the farther of the near-duplicate pair, so it is the one kept.
  t.same([...picked].sort(), [3, 4], 'one row per far place joins; near duplicates of the bank or of a picked patch do not');
  t.same([...coresetTopUp(rows, 5, 2, bankDistances, 1, 1)].length, 1, 'the budget caps the rows added');
  t.same([...coresetTopUp(rows, 5, 2, bankDistances, 20)], [], 'nothing joins a bank that already covers every patch');
});

t.test('coverage radius of a bank: a low quantile of nearest-neighbour distances within it', async (t) => {
  // Points on a line at 0, 1, 3, 6: nearest-neighbour distances 1, 1, 2, 3.
  const bank = Float32Array.from([0, 1, 3, 6]);
  t.equal(bankCoverageRadius(bank, 4, 1, { quantile: 0 }), 1);
  t.equal(bankCoverageRadius(bank, 4, 1, { quantile: 0.75 }), 3);
  t.equal(bankCoverageRadius(Float32Array.from([5]), 1, 1), 0);
});
