/** The tally of a reject stream as a receiver saw it: lost seqs, duplicates, order of first arrivals. */
import t from 'tap';
import { describeSeqReport, seqReport } from '../helpers/seq-report.ts';

t.test('every seq once, in order', async (t) => {
  t.same(seqReport(3, [1, 2, 3]), { sent: 3, received: 3, lost: [], duplicates: 0, inOrder: true });
});

t.test('a resent seq is a duplicate, not a loss, and keeps the order', async (t) => {
  t.same(seqReport(4, [1, 2, 2, 3, 4, 4]), { sent: 4, received: 4, lost: [], duplicates: 2, inOrder: true });
});

t.test('missing seqs are listed; a late first arrival breaks the order', async (t) => {
  t.same(seqReport(5, [1, 3, 2]), { sent: 5, received: 3, lost: [4, 5], duplicates: 0, inOrder: false });
  t.equal(describeSeqReport('plc', seqReport(5, [1, 3, 2])), 'plc: sent 5, received 3, lost 2 (4, 5), duplicates 0, OUT OF ORDER');
});
