import t from 'tap';
import { ScoringLane } from '../../runtime/scoring-lane.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('jobs run one at a time, in the order they were queued', async (t) => {
  const lane = new ScoringLane();
  const log: string[] = [];
  const job = (name: string, ms: number) => async () => {
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    return name;
  };
  const results = await Promise.all([lane.run(job('a', 30)), lane.run(job('b', 1)), lane.run(job('c', 10))]);
  t.same(results, ['a', 'b', 'c']);
  t.same(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  t.equal(lane.depth, 0);
});

t.test('a failing job does not block the lane', async (t) => {
  const lane = new ScoringLane();
  const failed = lane.run(async () => {
    throw new Error('model failed');
  });
  const next = lane.run(async () => 42);
  await t.rejects(failed, /model failed/);
  t.equal(await next, 42);
});
