/** The evaluation report's reject rates and means on hand-checkable scores. */
import t from 'tap';
import { meanMetrics, rejectRates } from '../../eval/evaluate.ts';

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
