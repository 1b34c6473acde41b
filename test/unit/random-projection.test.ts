/**
 * The random-projection reduction of patch features (featureReduction:
 * random) and the flipped / turned views of bank samples (bankAugment), on
 * inputs small enough to check by hand.
 */
import t from 'tap';
import { fitRandomReduction } from '../../models/features/reduction.ts';
import { randomProjectionMatrix } from '../../models/components/coreset.ts';
import { reduceRows } from '../../models/components/pca.ts';
import { seededRandom } from '../../models/components/random.ts';
import { transformSquare, viewSymmetries } from '../../models/augment/dihedral.ts';

t.test('the projection centres on the rows mean and uses the seeded Gaussian matrix', async (t) => {
  // Rows (0,0) and (2,0): mean (1,0); all variance (1 per row, total 1) lies along the first channel,
  // so the projected variance is the squared length of the matrix's first row.
  const rows = Float32Array.from([0, 0, 2, 0]);
  const { reduction, explainedVariance } = fitRandomReduction(rows, 2, 2, 3, 7, seededRandom(1));
  t.same(Array.from(reduction.mean), [1, 0]);
  const matrix = randomProjectionMatrix(2, 3, 7);
  t.same(Array.from(reduction.axes), Array.from(matrix), 'axes [channels, dim] from the seed');
  const firstRow = matrix[0]! ** 2 + matrix[1]! ** 2 + matrix[2]! ** 2;
  t.ok(Math.abs(explainedVariance - firstRow) < 1e-5, `projected variance ${explainedVariance} = |A[0]|^2 ${firstRow}`);
  // Row (2,0) reduces to (2 - 1) * A[0] = A[0].
  const reduced = reduceRows(rows, 2, 2, reduction);
  for (let j = 0; j < 3; j++) t.ok(Math.abs(reduced[3 + j]! - matrix[j]!) < 1e-6 && Math.abs(reduced[j]! + matrix[j]!) < 1e-6);
});

t.test('the projection keeps distances on average (Johnson-Lindenstrauss scaling 1/sqrt(dim))', async (t) => {
  const channels = 64;
  const dim = 256;
  const n = 40;
  const random = seededRandom(3);
  const rows = Float32Array.from({ length: n * channels }, () => random() * 2 - 1);
  const { reduction, explainedVariance } = fitRandomReduction(rows, n, channels, dim, 11, seededRandom(4));
  const reduced = reduceRows(rows, n, channels, reduction);
  let ratio = 0;
  let pairs = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let before = 0;
      let after = 0;
      for (let c = 0; c < channels; c++) before += (rows[a * channels + c]! - rows[b * channels + c]!) ** 2;
      for (let j = 0; j < dim; j++) after += (reduced[a * dim + j]! - reduced[b * dim + j]!) ** 2;
      ratio += after / before;
      pairs++;
    }
  }
  t.ok(Math.abs(ratio / pairs - 1) < 0.1, `mean squared-distance ratio ${ratio / pairs}`);
  t.ok(Math.abs(explainedVariance - 1) < 0.1, `projected variance share ${explainedVariance}`);
});

t.test('flips mirror left-right and top-bottom; dihedral adds the turns and diagonal mirrors', async (t) => {
  // 2x2 one-channel image  a b / c d  = 1 2 / 3 4.
  const image = Float32Array.from([1, 2, 3, 4]);
  const views = (set: 'flips' | 'dihedral') => viewSymmetries(set).map((s) => Array.from(transformSquare(image, 2, 1, s)));
  t.same(viewSymmetries('none'), []);
  t.same(views('flips'), [
    [2, 1, 4, 3],
    [3, 4, 1, 2],
  ]);
  const all = views('dihedral');
  t.equal(all.length, 7);
  t.same(all.slice(0, 3), [
    [2, 1, 4, 3],
    [3, 4, 1, 2],
    [4, 3, 2, 1],
  ]);
  // Quarter turns (1 2 / 3 4 -> 3 1 / 4 2 and 2 4 / 1 3), the main diagonal mirror (transpose) and the anti-diagonal one.
  t.same(new Set(all.slice(3).map(String)), new Set(['3,1,4,2', '2,4,1,3', '1,3,2,4', '4,2,3,1']));
  const on3x3 = viewSymmetries('dihedral').map((s) => String(transformSquare(Float32Array.from({ length: 9 }, (_, i) => i), 3, 1, s)));
  t.equal(new Set([...on3x3, String([0, 1, 2, 3, 4, 5, 6, 7, 8])]).size, 8, 'the 8 symmetries of the square are distinct');
});

t.test('channels of a pixel move together', async (t) => {
  // 2x2 RGB: pixel k holds (k, 10k, 100k); mirrored left-right.
  const image = Float32Array.from([0, 0, 0, 1, 10, 100, 2, 20, 200, 3, 30, 300]);
  t.same(Array.from(transformSquare(image, 2, 3, viewSymmetries('flips')[0]!)), [1, 10, 100, 0, 0, 0, 3, 30, 300, 2, 20, 200]);
  t.throws(() => transformSquare(image, 3, 3, viewSymmetries('flips')[0]!), /expected 3x3x3/);
});
