import t from 'tap';
import { coresetGreedy, gatherRows, projectRows } from '../../models/components/coreset.ts';
import { gaussianKernel1d } from '../../models/components/gaussian.ts';

t.test('greedy coreset picks the farthest point each step', async (t) => {
  // Points on a line: 0, 1, 2, 10, 11. Whatever the start, the first two picks
  // are the two ends of the line's farthest pair from the start, and three
  // picks cover both clusters and the middle.
  const pts = Float32Array.from([0, 1, 2, 10, 11]);
  const picked = Array.from(coresetGreedy(pts, 5, 1, 3, { projectionDim: 0, seed: 3 }));
  t.equal(new Set(picked).size, 3, 'no point is picked twice');
  const values = picked.map((i) => pts[i]!);
  t.ok(values.includes(0) || values.includes(11), 'an extreme point is picked');
  t.ok(values.some((v) => v >= 10) && values.some((v) => v <= 2), 'both clusters are covered');
});

t.test('greedy coreset from a known start follows farthest-point order', async (t) => {
  // 2-D points; starting at index s, the order is fully determined by distances.
  const pts = Float32Array.from([0, 0, 4, 0, 0, 3, 1, 1]);
  for (let seed = 0; seed < 20; seed++) {
    const picked = coresetGreedy(pts, 4, 2, 4, { projectionDim: 0, seed });
    const start = picked[0]!;
    // The second pick is the farthest from the start.
    let far = -1;
    let farD = -1;
    for (let i = 0; i < 4; i++) {
      const d = (pts[i * 2]! - pts[start * 2]!) ** 2 + (pts[i * 2 + 1]! - pts[start * 2 + 1]!) ** 2;
      if (d > farD) {
        farD = d;
        far = i;
      }
    }
    t.equal(picked[1], far, `seed ${seed}: second pick is the farthest from the first`);
    t.same([...picked].sort(), [0, 1, 2, 3], `seed ${seed}: all points picked once`);
  }
});

t.test('count is clamped and input size is checked', async (t) => {
  const pts = Float32Array.from([0, 1, 2]);
  t.equal(coresetGreedy(pts, 3, 1, 10, { projectionDim: 0 }).length, 3);
  t.throws(() => coresetGreedy(pts, 2, 2, 1), /3 values for 2 x 2/);
});

t.test('projection and gather', async (t) => {
  const rows = Float32Array.from([1, 2, 3, 4]); // 2 rows x 2 dims
  const m = Float32Array.from([1, 0, 1, 0, 1, 1]); // 2 x 3
  t.same(Array.from(projectRows(rows, 2, 2, m, 3)), [1, 2, 3, 3, 4, 7]);
  t.same(Array.from(gatherRows(rows, 2, Int32Array.from([1, 0]))), [3, 4, 1, 2]);
});

t.test('gaussian kernel is normalised, symmetric and sized by sigma', async (t) => {
  const k = gaussianKernel1d(1);
  t.equal(k.length, 9);
  t.ok(Math.abs(k.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  t.equal(k[0], k[8]);
  t.ok(k[4]! > k[3]! && k[3]! > k[2]!);
  t.ok(Math.abs(k[4]! - 0.39894) < 1e-3, 'centre tap matches the normal density');
  t.throws(() => gaussianKernel1d(0), /positive/);
});
