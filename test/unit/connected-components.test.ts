import t from 'tap';
import { labelComponents, removeSmallRegions } from '../../models/components/connected-components.ts';

const mask = (rows: string[]) => Uint8Array.from(rows.join('').split('').map((c) => (c === '#' ? 1 : 0)));

t.test('diagonal pixels join under 8- but not 4-connectivity', async (t) => {
  const m = mask(['#..', '.#.', '..#']);
  t.equal(labelComponents(m, 3, 3, 8).count, 1);
  t.equal(labelComponents(m, 3, 3, 4).count, 3);
});

t.test('areas and boxes; a U shape merges through union-find', async (t) => {
  const m = mask(['#.#..', '#.#..', '###..', '....#']);
  const c = labelComponents(m, 5, 4, 8);
  t.equal(c.count, 2);
  t.same(c.areas, [7, 1]);
  t.same(c.boxes, [{ x: 0, y: 0, w: 3, h: 3 }, { x: 4, y: 3, w: 1, h: 1 }]);
  t.equal(c.labels[0], c.labels[2], 'both arms of the U carry one label');
});

t.test('small regions are removed; a region of exactly minArea stays', async (t) => {
  const m = mask(['##...', '##...', '....#', '.....']);
  t.same(Array.from(removeSmallRegions(m, 5, 4, 4)), Array.from(mask(['##...', '##...', '.....', '.....'])));
  t.same(Array.from(removeSmallRegions(m, 5, 4, 5)), Array.from(new Uint8Array(20)));
  t.equal(labelComponents(new Uint8Array(9), 3, 3).count, 0);
  t.equal(labelComponents(new Uint8Array(9).fill(1), 3, 3).count, 1);
  t.throws(() => labelComponents(new Uint8Array(5), 3, 3), /expected 3x3/);
});
