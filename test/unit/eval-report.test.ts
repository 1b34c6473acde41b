/** The evaluation report's reject rates and means on hand-checkable scores. */
import t from 'tap';
import { frrPromise, meanMetrics, rejectRates, type CategoryMetrics } from '../../eval/evaluate.ts';
import { frrPromiseTable } from '../../eval/report.ts';

t.test('rejectRates: score at or over the threshold rejects', async (t) => {
  const scores = [1, 2, 3, 4, 5, 6];
  const labels = [0, 0, 0, 1, 1, 1];
  t.same(rejectRates(scores, labels, 3), { frr: 1 / 3, recall: 1 });
  t.same(rejectRates(scores, labels, 5), { frr: 0, recall: 2 / 3 });
  const onlyGood = rejectRates([1, 2], [0, 0], 1.5);
  t.equal(onlyGood.frr, 0.5);
  t.ok(Number.isNaN(onlyGood.recall), 'no defective images: recall is undefined, not 0');
});

t.test('meanMetrics averages numbers and keeps labels of the first', async (t) => {
  t.same(meanMetrics([{ frr: 0.1, calibrate: 'cutswap' }, { frr: 0.3, calibrate: 'cutswap' }]), { frr: 0.2, calibrate: 'cutswap' });
});

t.test('frrPromise: measured over target false-reject rate, within 2x or not', async (t) => {
  t.same(frrPromise(0.01, 0.005), { frrRatio: 2, frrWithin2x: 1 }, 'exactly twice the target keeps the promise');
  t.same(frrPromise(0.1, 0.005), { frrRatio: 20, frrWithin2x: 0 });
  t.same(frrPromise(0, 0.005), { frrRatio: 0, frrWithin2x: 1 });
  t.ok(Number.isNaN(frrPromise(0.01, Number.NaN).frrRatio), 'no target (products enrolled without one): no ratio');
});

t.test('frrPromiseTable: target, measured, ratio, verdict and recall per category, then the mean', async (t) => {
  const m = (frr: number, recall: number) => ({ targetFrr: 0.005, frr, recall, ...frrPromise(frr, 0.005), calibrationViews: 4, calibrationScores: 45 }) as unknown as CategoryMetrics;
  const categories = { concrete: m(0.1, 0.5), stone: m(0, 0.4) };
  const lines = frrPromiseTable({ categories, mean: meanMetrics(Object.values(categories)) });
  t.match(lines[2], /^concrete\s+0\.50\s+10\.00\s+20\.0\s+no\s+50\.0\s+45 \(4 views\)$/);
  t.match(lines[3], /^stone\s+0\.50\s+0\.00\s+0\.0\s+yes\s+40\.0/);
  t.match(lines[4], /^mean\s+0\.50\s+5\.00\s+10\.0\s+50 %\s+45\.0/, 'the mean verdict is the share of categories within 2x');
});
