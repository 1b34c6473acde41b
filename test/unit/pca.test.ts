import t from 'tap';
import { leadingEigenvectors, principalAxes, reduceRows } from '../../models/components/pca.ts';

t.test('leading eigenvectors of a diagonal matrix are the largest axes', async (t) => {
  const m = Float64Array.from([1, 0, 0, 0, 9, 0, 0, 0, 4]);
  const { vectors, values } = leadingEigenvectors(m, 3, 2);
  t.ok(Math.abs(values[0]! - 9) < 1e-9 && Math.abs(values[1]! - 4) < 1e-9, `values ${values}`);
  t.ok(Math.abs(Math.abs(vectors[1 * 2 + 0]!) - 1) < 1e-6, 'first axis is y');
  t.ok(Math.abs(Math.abs(vectors[2 * 2 + 1]!) - 1) < 1e-6, 'second axis is z');
});

t.test('principal axes of points on a tilted line', async (t) => {
  // Points (s, s) with a tiny spread across: the first axis is (1,1)/sqrt 2.
  const rows = Float32Array.from([0, 0, 1, 1.01, 2, 1.99, 3, 3, -1, -1, 4, 4.02]);
  const pca = principalAxes(rows, 6, 2, 1);
  t.ok(Math.abs(Math.abs(pca.axes[0]!) - Math.SQRT1_2) < 1e-2 && Math.abs(pca.axes[0]! - pca.axes[1]!) < 1e-2, `axis ${pca.axes}`);
  t.ok(pca.explainedVariance > 0.999, `explained ${pca.explainedVariance}`);
  const reduced = reduceRows(rows, 6, 2, pca);
  // Distances along the line are kept: (0,0) and (3,3) are 3 sqrt 2 apart.
  t.ok(Math.abs(Math.abs(reduced[3]! - reduced[0]!) - 3 * Math.SQRT2) < 0.02);
});
