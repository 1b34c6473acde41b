/**
 * How many scoring threads a device starts and how many cores each gives ONNX
 * Runtime (`inference.scoringThread`, `scoringThreads`, `threads`), and which
 * copy of a served version a camera's lane scores with.
 */
import t from 'tap';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { laneScorer, type LaneScorer, type ServedProduct } from '../../runtime/product-library.ts';
import { scoringThreadInference } from '../../runtime/scoring/scoring-thread.ts';

const threadsOf = (settings: object, cores: number) => scoringThreadInference(inferenceSettingsSchema.parse(settings), cores).map((s) => s.threads);

t.test('one scoring thread keeps the configured intra-op threads (0: ONNX Runtime takes every core)', async (t) => {
  t.same(threadsOf({}, 2), [0]);
  t.same(threadsOf({ threads: 3 }, 8), [3]);
});

t.test('several threads share the cores out, at least one each, unless threads is set', async (t) => {
  t.same(threadsOf({ scoringThreads: 2 }, 2), [1, 1]);
  t.same(threadsOf({ scoringThreads: 2 }, 8), [4, 4]);
  t.same(threadsOf({ scoringThreads: 3 }, 8), [2, 2, 2]);
  t.same(threadsOf({ scoringThreads: 4 }, 2), [1, 1, 1, 1]);
  t.same(threadsOf({ scoringThreads: 2, threads: 2 }, 2), [2, 2]);
});

t.test('scoring on the main thread starts none, and refuses more than one lane', async (t) => {
  t.same(threadsOf({ scoringThread: false }, 2), []);
  const refused = inferenceSettingsSchema.safeParse({ scoringThread: false, scoringThreads: 2 });
  t.notOk(refused.success);
  t.same(refused.error?.issues.map((i) => i.path.join('.')), ['scoringThreads'], 'names the key');
  t.match(refused.error?.issues[0]?.message, /need scoringThread: true/);
});

t.test('a camera scores on its own lane copy, and a lane without one is named, not replaced', async (t) => {
  const copy = (name: string) => ({ name }) as unknown as LaneScorer;
  const served = { scorer: { manifest: { productId: 'bracket-a', version: 'v3' } }, lanes: [copy('thread 0'), copy('thread 1')] } as unknown as ServedProduct;
  t.equal(laneScorer(served, 1), served.lanes[1]);
  t.equal(laneScorer(served, 0), served.lanes[0]);
  t.throws(() => laneScorer(served, 2), /scoring lane 2 has no copy of bracket-a v3: it is served on 2 lane\(s\)/);
});
