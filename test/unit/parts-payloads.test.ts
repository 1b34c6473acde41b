import t from 'tap';
import { partsSettingsSchema } from '../../config/parts.ts';
import { countersResetPayloadSchema, partCountersPayloadSchema, partVerdictPayloadSchema, triggerPayloadSchema } from '../../runtime/parts/payloads.ts';

const verdict = {
  partId: 'PLC-000123',
  seq: 7,
  camera: 'cam1',
  product: 'washer',
  modelVersion: 'v3',
  verdict: 'reject',
  score: 24.6,
  threshold: 7.9,
  frames: 9,
  firstTs: 1_700_000_000_000,
  lastTs: 1_700_000_000_600,
  decidedTs: 1_700_000_000_680,
  latencyMs: 680,
  reason: null,
  action: 'reject',
};

t.test('trigger payload: bounded, topic-safe part id and a bounded delay', async (t) => {
  t.ok(triggerPayloadSchema.safeParse({ partId: 'PLC-000123' }).success);
  t.ok(triggerPayloadSchema.safeParse({ partId: 'lot7:42_a.b', delayMs: 350 }).success);
  for (const bad of [{ partId: '' }, { partId: 'a/b' }, { partId: 'a+b' }, { partId: '#' }, { partId: 'a b' }, { partId: 'x'.repeat(65) }, { partId: 'a', delayMs: -1 }, { partId: 'a', delayMs: 60_001 }, { partId: 'a', delayMs: 1.5 }, { partId: 'a', extra: 1 }, { partId: 42 }]) {
    t.notOk(triggerPayloadSchema.safeParse(bad).success, `refused: ${JSON.stringify(bad)}`);
  }
});

t.test('part verdict payload: ok, reject and no_verdict are consistent', async (t) => {
  t.ok(partVerdictPayloadSchema.safeParse(verdict).success);
  t.ok(partVerdictPayloadSchema.safeParse({ ...verdict, verdict: 'ok', score: 3, action: 'pass' }).success);
  const none = { ...verdict, verdict: 'no_verdict', score: null, threshold: null, frames: 0, reason: 'camera_down', action: 'reject' };
  t.ok(partVerdictPayloadSchema.safeParse(none).success);
  t.ok(partVerdictPayloadSchema.safeParse({ ...none, action: 'pass', modelVersion: null, firstTs: null, lastTs: null }).success, 'fail-safe pass');
  t.notOk(partVerdictPayloadSchema.safeParse({ ...none, reason: null }).success, 'no_verdict must say why');
  t.notOk(partVerdictPayloadSchema.safeParse({ ...verdict, action: 'pass' }).success, 'a reject is never passed');
  t.notOk(partVerdictPayloadSchema.safeParse({ ...verdict, score: null }).success, 'a judged part has its score');
  t.notOk(partVerdictPayloadSchema.safeParse({ ...verdict, seq: 0 }).success);
  t.notOk(partVerdictPayloadSchema.safeParse({ ...verdict, camera: 'a/b' }).success);
  t.notOk(partVerdictPayloadSchema.safeParse({ ...verdict, reason: 'because' }).success);
});

t.test('counters and reset payloads', async (t) => {
  t.ok(partCountersPayloadSchema.safeParse({ ts: 1, parts: 4, ok: 2, ng: 1, noVerdict: 1, triggerErrors: 0, processingMs: { min: 10, mean: 30, max: 50 }, rejectRate: 0.5 }).success);
  t.ok(partCountersPayloadSchema.safeParse({ ts: 1, parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0, processingMs: null, rejectRate: null }).success);
  t.notOk(partCountersPayloadSchema.safeParse({ ts: 1, parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0, processingMs: null, rejectRate: 1.5 }).success);
  t.ok(countersResetPayloadSchema.safeParse({}).success);
  t.ok(countersResetPayloadSchema.safeParse({ by: 'plc' }).success);
  t.notOk(countersResetPayloadSchema.safeParse({ all: true }).success);
});

t.test('parts settings: defaults, strictness, hysteresis and ROI checks', async (t) => {
  const d = partsSettingsSchema.parse({});
  t.match(d, { mode: 'presence', window: { kind: 'time', windowMs: 500 }, deadlineMs: 1500, failSafe: 'reject', aggregation: { rule: 'debounced-max', debounceFrames: 2 } });
  t.match(d.presence, { thumbnailSize: 32, referenceFrames: 10, enterLevel: 0.04, leaveLevel: 0.02, roi: { x: 0, y: 0, w: 1, h: 1 } });
  t.notOk(partsSettingsSchema.safeParse({ cooldownMs: 100 }).success, 'unknown keys are refused');
  t.notOk(partsSettingsSchema.safeParse({ presence: { enterLevel: 0.02, leaveLevel: 0.03 } }).success, 'leave level must be under the enter level');
  t.notOk(partsSettingsSchema.safeParse({ presence: { roi: { x: 0.5, w: 0.6 } } }).success, 'the ROI lies inside the frame');
  t.notOk(partsSettingsSchema.safeParse({ window: { kind: 'frames' } }).success, 'a frame-count window needs its count');
  t.ok(partsSettingsSchema.safeParse({ mode: 'trigger', window: { kind: 'frames', frames: 5 }, failSafe: 'pass' }).success);
});
