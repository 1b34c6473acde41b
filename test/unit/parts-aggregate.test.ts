import t from 'tap';
import { aggregationSchema } from '../../config/parts.ts';
import { aggregateScores, partVerdict } from '../../runtime/parts/aggregate.ts';
import { PartCounters, RECENT_PARTS } from '../../runtime/parts/counters.ts';
import { decideFrame, initialFrameDecisionState } from '../../runtime/parts/frame-decision.ts';
import { decide, initialDecisionState } from '../../runtime/decision.ts';

t.test('aggregation rules on hand-checked scores', async (t) => {
  const scores = [3, 9, 7, 12, 5];
  t.equal(aggregateScores(scores, { rule: 'max', debounceFrames: 1 }), 12);
  t.equal(aggregateScores(scores, { rule: 'debounced-max', debounceFrames: 1 }), 12);
  t.equal(aggregateScores(scores, { rule: 'debounced-max', debounceFrames: 2 }), 9, 'two frames reached 9, only one reached 12');
  t.equal(aggregateScores(scores, { rule: 'debounced-max', debounceFrames: 3 }), 7);
  t.equal(aggregateScores([4, 8], { rule: 'debounced-max', debounceFrames: 5 }), 4, 'fewer frames than the debounce: every frame must agree');
  t.equal(aggregateScores(scores, { rule: 'median', debounceFrames: 2 }), 7);
  t.equal(aggregateScores([1, 2, 3, 4], { rule: 'median', debounceFrames: 2 }), 2, 'lower median for an even count');
  t.equal(aggregateScores([], { rule: 'max', debounceFrames: 1 }), null);
  t.same(aggregationSchema.parse({}), { rule: 'debounced-max', debounceFrames: 2 });
});

t.test('the part verdict compares like the scorer: at or over the threshold rejects', async (t) => {
  t.equal(partVerdict(10, 10), 'reject');
  t.equal(partVerdict(9.99, 10), 'ok');
});

t.test('a single spike over the threshold does not reject a part under debounced-max', async (t) => {
  const flicker = [8, 8.2, 10.4, 8.1, 9.2];
  const settings = { rule: 'debounced-max' as const, debounceFrames: 2 };
  t.equal(partVerdict(aggregateScores(flicker, settings)!, 10), 'ok');
  t.equal(partVerdict(aggregateScores([8, 10.4, 10.1, 9], settings)!, 10), 'reject');
});

/** Frame indexes that fire a reject in frames mode ('x' over the threshold, '.' under). */
function fired(pattern: string, debounce: number): number[] {
  let state = initialFrameDecisionState;
  const out: number[] = [];
  [...pattern].forEach((c, i) => {
    const r = decideFrame(state, c === 'x', debounce);
    state = r.state;
    if (r.reject) out.push(i);
  });
  return out;
}

t.test('frames mode: a new streak after a good frame is a new reject, however soon', async (t) => {
  // A false reject (frames 1-2) right before a real defect (4-5): both are rejects.
  t.same(fired('.xx.xx.', 2), [2, 5]);
  // The time-based cooldown of runtime/decision.ts hid the second one (the bug this mode fixes).
  let state = initialDecisionState;
  const old: number[] = [];
  [...'.xx.xx.'].forEach((c, i) => {
    const r = decide(state, c === 'x' ? 'reject' : 'ok', 1000 + i * 67, { debounceFrames: 2, cooldownMs: 1000 });
    state = r.state;
    if (r.reject) old.push(i);
  });
  t.same(old, [2], 'the cooldown decision makes one reject for two defects');
});

t.test('frames mode: debounce, one reject per streak, a defect that stays makes one reject', async (t) => {
  t.same(fired('..xxxxx..', 2), [3]);
  t.same(fired('x.x.xx.x', 3), []);
  t.same(fired('xxxxxxxxxxxx', 2), [1]);
  t.same(fired('x.x', 1), [0, 2]);
});

t.test('counters: parts, ok, ng, no-verdict, trigger errors, processing time, reject rate, reset', async (t) => {
  const c = new PartCounters();
  t.same(c.snapshot(), { parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0, processingMs: null, rejectRate: null });
  c.recordPart('ok', 'pass', 10);
  c.recordPart('reject', 'reject', 30);
  c.recordPart('no_verdict', 'reject', 50);
  c.recordPart('ok', 'pass', 30);
  c.recordTriggerError();
  t.same(c.snapshot(), { parts: 4, ok: 2, ng: 1, noVerdict: 1, triggerErrors: 1, processingMs: { min: 10, mean: 30, max: 50 }, rejectRate: 0.5 });
  c.reset();
  t.same(c.snapshot(), { parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0, processingMs: null, rejectRate: null });
});

t.test('counters: processing time and reject rate cover the last 1000 parts only', async (t) => {
  const c = new PartCounters();
  c.recordPart('reject', 'reject', 1000);
  for (let i = 0; i < RECENT_PARTS; i++) c.recordPart('ok', 'pass', 5);
  const s = c.snapshot();
  t.equal(s.parts, RECENT_PARTS + 1);
  t.equal(s.ng, 1);
  t.same(s.processingMs, { min: 5, mean: 5, max: 5 });
  t.equal(s.rejectRate, 0);
});

t.test('the tracker in frames mode fires a reject per streak and emits no part verdicts', async (t) => {
  const { PartTracker } = await import('../../runtime/parts/tracker.ts');
  const { partsSettingsSchema } = await import('../../config/parts.ts');
  const tracker = new PartTracker({ camera: 'cam1', product: 'washer', settings: partsSettingsSchema.parse({ mode: 'frames', debounceFrames: 2 }) });
  const fires: number[] = [];
  [2, 11, 12, 3, 11, 12, 12, 4].forEach((score, i) => {
    const out = tracker.onFrame({ frameId: `f${i}`, ts: i * 67, score, threshold: 10 }, i * 67);
    t.same(out.verdicts, []);
    if (out.frameReject) fires.push(i);
  });
  t.same(fires, [2, 5], 'a false reject right before a defect does not hide it');
  t.throws(() => tracker.onTrigger({ partId: 'A' }, 0), /frames mode/);
});
