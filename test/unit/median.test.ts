/** The one median the trainer, evaluation and benchmarks share. */
import t from 'tap';
import { median } from '../../models/components/median.ts';

t.test('median of odd, even and empty lists; the input is left unsorted', async (t) => {
  const values = [5, 1, 3];
  t.equal(median(values), 3);
  t.same(values, [5, 1, 3]);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
});
