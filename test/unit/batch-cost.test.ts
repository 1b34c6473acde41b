/** What a camera needs from the measured cost of one of its frames. */
import t from 'tap';
import { cameraNeeds } from '../../scripts/batch-cost.ts';

t.test('a frame costing 20 ms on the lane and 30 ms of CPU, at 15 fps', async (t) => {
  t.same(cameraNeeds({ ms: 20, cpuMs: 30 }, 15), { laneShare: 0.3, cores: 0.45, budgetMs: 66.7 });
});

t.test('a frame that takes longer than its budget needs more than the whole lane', async (t) => {
  const needs = cameraNeeds({ ms: 100, cpuMs: 150 }, 15);
  t.equal(needs.laneShare, 1.5);
  t.equal(needs.cores, 2.25);
});
