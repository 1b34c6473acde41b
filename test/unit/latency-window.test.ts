import t from 'tap';
import { LatencyWindow, percentile } from '../../runtime/latency-window.ts';

t.test('nearest-rank percentiles', async (t) => {
  t.equal(percentile([], 50), null);
  t.equal(percentile([7], 99), 7);
  t.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  t.equal(percentile([5, 1, 4, 2, 3], 100), 5);
  t.equal(percentile([5, 1, 4, 2, 3], 0), 1);
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(percentile(hundred, 99), 99);
  t.equal(percentile(hundred, 50), 50);
});

t.test('the window keeps only the newest values', async (t) => {
  const w = new LatencyWindow(4);
  t.equal(w.percentile(50), null);
  for (const v of [100, 100, 100, 100, 1, 2, 3]) w.add(v);
  t.equal(w.size, 4);
  // kept: 100, 1, 2, 3
  t.equal(w.percentile(100), 100);
  t.equal(w.percentile(50), 2);
});
