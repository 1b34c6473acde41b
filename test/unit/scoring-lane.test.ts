import t from 'tap';
import { nextBatch, ScoringLane } from '../../runtime/scoring/scoring-lane.ts';

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

t.test('nextBatch: the head, then later frames of the same scorer up to maxBatch', async (t) => {
  const a = {};
  const b = {};
  const queue = [
    { scorer: a, source: 'cam1' },
    { scorer: b, source: 'cam2' },
    { scorer: a, source: 'cam3' },
    {},
    { scorer: a, source: 'cam4' },
    { scorer: a, source: 'cam5' },
  ];
  t.same(nextBatch(queue, 8), [0, 2, 4, 5]);
  t.same(nextBatch(queue, 3), [0, 2, 4]);
  t.same(nextBatch(queue, 1), [0]);
  t.same(nextBatch(queue.slice(1), 8), [0], 'a product on its own is a batch of one');
  t.same(nextBatch([{}, { scorer: a }], 8), [0], 'a plain job runs alone');
  t.same(nextBatch([], 8), []);
});

t.test('nextBatch: a frame never passes an earlier entry of its own camera', async (t) => {
  const a = {};
  const b = {};
  const queue = [
    { scorer: a, source: 'cam1' },
    { scorer: b, source: 'cam2' },
    { scorer: a, source: 'cam2' },
    { scorer: a, source: 'cam3' },
  ];
  t.same(nextBatch(queue, 8), [0, 3]);
});

/** A scorer that records every batch it was given and answers `<input>@<name>`. */
function fakeScorer(name: string, maxBatch: number, ms = 5) {
  const batches: string[][] = [];
  return {
    batches,
    maxBatch,
    async scoreBatch(inputs: string[]): Promise<string[]> {
      batches.push([...inputs]);
      await sleep(ms);
      return inputs.map((i) => `${i}@${name}`);
    },
  };
}

t.test('frames waiting together are scored as one batch, each caller gets its own outcome', async (t) => {
  const lane = new ScoringLane();
  const a = fakeScorer('a', 8);
  const results = await Promise.all(['f1', 'f2', 'f3'].map((f, i) => lane.score(a, f, `cam${i}`)));
  t.same(results, ['f1@a', 'f2@a', 'f3@a']);
  t.same(a.batches, [['f1', 'f2', 'f3']]);
  t.equal(lane.depth, 0);
});

t.test('frames queued while a batch runs form the next batch; maxBatch caps it', async (t) => {
  const lane = new ScoringLane({ maxBatch: 2 });
  const a = fakeScorer('a', 8, 20);
  const first = lane.score(a, 'f1', 'cam1');
  await sleep(5);
  const later = ['f2', 'f3', 'f4'].map((f, i) => lane.score(a, f, `cam${i + 2}`));
  t.same(await Promise.all([first, ...later]), ['f1@a', 'f2@a', 'f3@a', 'f4@a']);
  t.same(a.batches, [['f1'], ['f2', 'f3'], ['f4']]);
});

t.test('mixed products score in separate batches; the head product goes first, none starves', async (t) => {
  const lane = new ScoringLane();
  const a = fakeScorer('a', 8);
  const b = fakeScorer('b', 8);
  const order: string[] = [];
  const track = (p: Promise<string>) => p.then((r) => (order.push(r), r));
  const results = await Promise.all([
    track(lane.score(a, 'a1', 'cam1')),
    track(lane.score(b, 'b1', 'cam2')),
    track(lane.score(a, 'a2', 'cam3')),
    track(lane.score(b, 'b2', 'cam4')),
  ]);
  t.same(results, ['a1@a', 'b1@b', 'a2@a', 'b2@b']);
  t.same(a.batches, [['a1', 'a2']]);
  t.same(b.batches, [['b1', 'b2']]);
  t.same(order, ['a1@a', 'a2@a', 'b1@b', 'b2@b']);
});

t.test('a camera feeding frames back to back keeps its order while another product keeps being served', async (t) => {
  const lane = new ScoringLane();
  const a = fakeScorer('a', 8, 2);
  const b = fakeScorer('b', 8, 2);
  const seen: Record<string, string[]> = { cam1: [], cam2: [], cam3: [] };
  const camera = async (id: string, scorer: typeof a, frames: number) => {
    for (let i = 0; i < frames; i++) seen[id]!.push(await lane.score(scorer, `${id}-${i}`, id));
  };
  await Promise.all([camera('cam1', a, 20), camera('cam2', a, 20), camera('cam3', b, 20)]);
  for (const id of ['cam1', 'cam2']) t.same(seen[id], Array.from({ length: 20 }, (_, i) => `${id}-${i}@a`));
  t.same(seen.cam3, Array.from({ length: 20 }, (_, i) => `cam3-${i}@b`));
  t.ok(a.batches.some((batch) => batch.length === 2), 'the two cameras of product a were batched');
  t.ok(b.batches.length === 20, 'product b was served every frame');
});

t.test('a failing batch fails each of its frames and the lane goes on', async (t) => {
  const lane = new ScoringLane();
  const broken = { maxBatch: 8, scoreBatch: async (): Promise<string[]> => { throw new Error('model failed'); } };
  const a = fakeScorer('a', 8);
  const failed = [lane.score(broken, 'x', 'cam1'), lane.score(broken, 'y', 'cam2')];
  const next = lane.score(a, 'z', 'cam3');
  for (const f of failed) await t.rejects(f, /model failed/);
  t.equal(await next, 'z@a');
});

t.test('frames waiting behind a plain job (a mask refinement) join the batch ahead of it; the job runs next', async (t) => {
  const lane = new ScoringLane();
  const a = fakeScorer('a', 8);
  const log: string[] = [];
  await Promise.all([
    lane.score(a, 'f1', 'cam1').then((r) => log.push(r)),
    lane.run(async () => log.push('refine')),
    lane.score(a, 'f2', 'cam2').then((r) => log.push(r)),
  ]);
  t.same(log, ['f1@a', 'f2@a', 'refine']);
});

t.test('a job that throws before it returns a promise does not stop the lane', async (t) => {
  const lane = new ScoringLane();
  const failed = lane.run((): Promise<number> => {
    throw new Error('bad job');
  });
  await t.rejects(failed, /bad job/);
  t.equal(await lane.run(async () => 7), 7);
  t.equal(lane.depth, 0);
});
