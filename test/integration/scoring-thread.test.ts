/**
 * Frames scored on the scoring thread: the same outcomes as on the main
 * thread, a main thread that stays free while they are scored (ONNX
 * Runtime's inference holds the thread that runs it), and a thread that
 * fails what it was asked when it stops and serves the next request after
 * loading its versions again.
 */
import t from 'tap';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { prepareSampleProduct } from '../../fixtures/conveyor.ts';
import { readImage } from '../../product/image-io.ts';
import { ProductScorer, type FrameBatchScorer } from '../../product/scorer.ts';
import { ScoringThread, scoringThreadInference } from '../../runtime/scoring/scoring-thread.ts';
import { ProductLibrary } from '../../runtime/product-library.ts';
import { SharedModels } from '../../product/shared-models.ts';
import { transferables } from '../../runtime/scoring/scoring-protocol.ts';
import type { Worker } from 'node:worker_threads';

const inference = inferenceSettingsSchema.parse({});
const sample = await prepareSampleProduct({ dir: t.testdir(), size: 224, goldenSamples: 12, testGood: 2, testPerDefect: 1, seed: 5 });
const local = await ProductScorer.load(sample.dataDir, sample.product, inference);
await local.warmUp();
t.teardown(() => local.release());
const version = local.manifest.version;
const parts = [...sample.good, ...sample.defective];
const frames = async () => Promise.all(parts.map(async (p) => ({ data: (await readImage(p.image, local.inputSize)).data })));

/**
 * The longest gap between the ticks of a 2 ms timer while `work` ran: how
 * long the main thread was held. The timer sleeps between ticks, as the
 * runtime's main thread waits for frames and messages (a busy loop would
 * compete with the inference for the cores instead).
 */
async function longestHold(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    timer = setTimeout(tick, 2);
  };
  timer = setTimeout(tick, 2);
  await work();
  clearTimeout(timer);
  return longest;
}

t.test('outcomes scored on the thread equal those scored here', async (t) => {
  const thread = new ScoringThread({ dataDir: sample.dataDir, inference }, (err) => t.fail(`thread failed: ${err.message}`));
  t.teardown(() => thread.close());
  const remote = await thread.load(sample.product, version, 4);
  const expected = await local.frames.scoreBatch(await frames());
  const got = await remote.scoreBatch(await frames());
  t.equal(got.length, parts.length, 'one outcome per frame');
  for (const [i, part] of parts.entries()) {
    const [a, b] = [got[i]!, expected[i]!];
    t.ok(Math.abs(a.score - b.score) < 1e-4, `${part.kind}: score ${a.score.toFixed(4)} (here ${b.score.toFixed(4)})`);
    t.equal(a.verdict, b.verdict, `${part.kind}: verdict ${a.verdict}`);
    t.same(a.regions.length, b.regions.length, `${part.kind}: ${a.regions.length} regions`);
    t.equal(a.map === undefined, b.map === undefined, `${part.kind}: map ${a.map ? 'built' : 'left out'} on both`);
    t.ok(a.patchScores instanceof Float32Array && a.patchScores.length === b.patchScores.length, 'patch scores arrive as a Float32Array');
    t.equal(a.image.length, b.image.length, 'the scored image comes back');
  }
  t.ok(
    expected.some((o) => o.verdict === 'reject') && expected.some((o) => o.verdict === 'ok'),
    'the frames hold both verdicts',
  );
});

t.test('the main thread is free while the thread scores', async (t) => {
  const thread = new ScoringThread({ dataDir: sample.dataDir, inference }, (err) => t.fail(`thread failed: ${err.message}`));
  t.teardown(() => thread.close());
  const remote = await thread.load(sample.product, version, 8);
  const holds = { here: [] as number[], thread: [] as number[] };
  // A batch of eight frames: one backbone run over all of them, which holds the thread that runs it.
  const eight = async () => [...(await frames()), ...(await frames())].slice(0, 8);
  // Side by side, three rounds each: the batch here, then on the thread.
  for (let round = 0; round < 3; round++) {
    const batch = await eight();
    holds.here.push(await longestHold(() => local.frames.scoreBatch(batch)));
    const moved = await eight();
    holds.thread.push(await longestHold(() => remote.scoreBatch(moved)));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
  t.ok(
    median(holds.thread) < median(holds.here) / 2,
    `longest hold of the main thread: ${median(holds.thread).toFixed(1)} ms with the thread, ${median(holds.here).toFixed(1)} ms scoring here (medians of 3)`,
  );
});

t.test('a thread that stops fails its batch and serves the next one', async (t) => {
  const failures: string[] = [];
  const thread = new ScoringThread({ dataDir: sample.dataDir, inference }, (err) => failures.push(err.message));
  t.teardown(() => thread.close());
  const remote: FrameBatchScorer = await thread.load(sample.product, version, 1);
  const first = thread.generation;
  const scoring = remote.scoreBatch((await frames()).slice(0, 1));
  // As if the thread died: the batch on it must fail, not hang.
  await (Reflect.get(thread, 'worker') as Worker).terminate();
  await t.rejects(scoring, /scoring thread exited/, 'the batch on the stopped thread fails with the reason');
  t.equal(failures.length, 1, 'the failure is reported once');
  const [again] = await remote.scoreBatch((await frames()).slice(-1));
  t.equal(again?.verdict, 'reject', 'the next batch is scored on a new thread (the defective part rejected)');
  t.ok(thread.generation > first, 'the version was loaded again on the new thread');
});

t.test('a closed thread refuses work; an unknown version fails with its name', async (t) => {
  const thread = new ScoringThread({ dataDir: sample.dataDir, inference });
  await t.rejects(thread.load(sample.product, 'v999', 1), /v999/, 'a version that does not exist is named');
  await thread.close();
  await t.rejects(thread.load(sample.product, version, 1), /scoring thread is closed/);
});

t.test('transferables lists each buffer once and only buffers', (t) => {
  const batch = new Float32Array(8);
  const a = batch.subarray(0, 4);
  const b = batch.subarray(4);
  const own = new Uint8Array(3);
  const found = transferables([{ patchScores: a, mask: own, score: 1 }, { patchScores: b, regions: [] }, new Float32Array(2)]);
  t.equal(found.length, 3, 'the batch buffer once, the mask, the bare array');
  t.ok(found.includes(batch.buffer as ArrayBuffer) && found.includes(own.buffer as ArrayBuffer));
  t.end();
});

t.test('with two scoring threads the library serves each version on both, each scoring as here, and ends both on close', async (t) => {
  const settings = scoringThreadInference(inferenceSettingsSchema.parse({ scoringThreads: 2 }), 2);
  t.same(settings.map((s) => s.threads), [1, 1], 'the two cores shared out: one intra-op thread each');
  const threads = settings.map((inference) => new ScoringThread({ dataDir: sample.dataDir, inference }, (err) => t.fail(`thread failed: ${err.message}`)));
  const library = new ProductLibrary(new SharedModels(sample.dataDir, inference), undefined, threads);
  await library.load([sample.product]);
  const served = library.get(sample.product);
  t.equal(served.lanes.length, 2, 'one lane scorer per thread');
  const expected = await local.frames.scoreBatch(await frames());
  const [first, second] = await Promise.all(served.lanes.map(async (lane) => lane.scoreBatch(await frames())));
  for (const [i, part] of parts.entries()) {
    for (const [name, got] of [['thread 1', first!], ['thread 2', second!]] as const) {
      t.ok(Math.abs(got[i]!.score - expected[i]!.score) < 1e-4, `${name}, ${part.kind}: score ${got[i]!.score.toFixed(4)} (here ${expected[i]!.score.toFixed(4)})`);
      t.equal(got[i]!.verdict, expected[i]!.verdict, `${name}, ${part.kind}: verdict ${got[i]!.verdict}`);
    }
  }
  await library.close();
  for (const [i, thread] of threads.entries()) {
    await t.rejects(thread.request({ type: 'release', handle: 0 }), /the scoring thread is closed/, `thread ${i + 1} ended with the library`);
  }
});
