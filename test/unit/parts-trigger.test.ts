import t from 'tap';
import { partsSettingsSchema } from '../../config/parts.ts';
import { PartLine } from '../../runtime/parts/part-line.ts';
import { partVerdictPayloadSchema } from '../../runtime/parts/payloads.ts';
import { PartTracker, type PartVerdict } from '../../runtime/parts/tracker.ts';
import { admitAfter, offerFrame, openWindow } from '../../runtime/parts/trigger-window.ts';

const THRESHOLD = 10;
const FRAME_MS = 50;

function tracker(settings: Record<string, unknown> = {}): PartTracker {
  const parsed = partsSettingsSchema.parse({ mode: 'trigger', window: { kind: 'frames', frames: 4 }, deadlineMs: 1000, ...settings });
  return new PartTracker({ camera: 'cam1', product: 'washer', settings: parsed });
}

function frame(ts: number, score: number | null) {
  return { frameId: `cam1-${ts}`, ts, score, threshold: THRESHOLD, modelVersion: 'v1' };
}

/**
 * Runs a line: frames every 50 ms from t=0 with scores from `scoreAt(ts)`,
 * triggers at the given times, a tick after every frame. Returns the verdicts.
 */
function runLine(tr: PartTracker, triggers: { at: number; partId: string; delayMs?: number }[], scoreAt: (ts: number) => number | null, untilTs: number): PartVerdict[] {
  const out: PartVerdict[] = [];
  const pending = [...triggers].sort((a, b) => a.at - b.at);
  for (let ts = 0; ts <= untilTs; ts += FRAME_MS) {
    while (pending[0] && pending[0].at <= ts) {
      const trig = pending.shift()!;
      tr.onTrigger({ partId: trig.partId, delayMs: trig.delayMs }, trig.at);
    }
    out.push(...tr.onFrame(frame(ts, scoreAt(ts)), ts + 5).verdicts);
    out.push(...tr.tick(ts + 10));
  }
  return out;
}

t.test('a frame-count window takes the N frames from trigger + delay', async (t) => {
  const tr = tracker();
  tr.onTrigger({ partId: 'A1', delayMs: 100 }, 1000);
  const verdicts: PartVerdict[] = [];
  for (let ts = 1000; ts <= 1400; ts += FRAME_MS) verdicts.push(...tr.onFrame(frame(ts, 4), ts).verdicts);
  t.equal(verdicts.length, 1);
  t.match(verdicts[0], { partId: 'A1', seq: 1, camera: 'cam1', product: 'washer', modelVersion: 'v1', verdict: 'ok', score: 4, threshold: 10, frames: 4, firstTs: 1100, lastTs: 1250, decidedTs: 1250, latencyMs: 250, reason: null, action: 'pass' });
  t.ok(partVerdictPayloadSchema.safeParse(verdicts[0]).success, 'the verdict is a valid part payload');
});

t.test('a time window takes the frames in [t + delay, t + delay + windowMs) and closes on the next frame', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 200 } });
  tr.onTrigger({ partId: 'B7', delayMs: 100 }, 1000);
  const verdicts: PartVerdict[] = [];
  for (let ts = 1000; ts <= 1350; ts += FRAME_MS) verdicts.push(...tr.onFrame(frame(ts, ts === 1150 ? 30 : 4), ts).verdicts);
  t.equal(verdicts.length, 1);
  t.match(verdicts[0], { partId: 'B7', firstTs: 1100, lastTs: 1250, frames: 4, decidedTs: 1300, verdict: 'ok', score: 4 }, 'one spike among four frames is debounced');
});

t.test('near-threshold flicker makes exactly one verdict per part', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 400 } });
  const triggers = Array.from({ length: 20 }, (_, i) => ({ at: 200 + i * 500, partId: `P${i}` }));
  // Scores wobble around the threshold frame by frame (0.9x .. 1.1x).
  const verdicts = runLine(tr, triggers, (ts) => THRESHOLD * (1 + 0.1 * Math.sin(ts / 37)), 10_500);
  t.same(verdicts.map((v) => v.partId), triggers.map((tg) => tg.partId), 'each part answered once, in order');
  t.ok(verdicts.every((v) => v.verdict !== 'no_verdict'));
  t.equal(tr.counts().triggerErrors, 0);
});

t.test('a defective part right after a falsely rejected one is still rejected', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 300 } });
  const triggers = [
    { at: 100, partId: 'good-1' },
    { at: 500, partId: 'good-near' },
    { at: 900, partId: 'bad' },
    { at: 1300, partId: 'good-2' },
  ];
  const scoreAt = (ts: number) => (ts >= 500 && ts < 800 ? 10.6 : ts >= 900 && ts < 1200 ? 24.6 : 6);
  const verdicts = runLine(tr, triggers, scoreAt, 2000);
  t.same(verdicts.map((v) => [v.partId, v.verdict]), [['good-1', 'ok'], ['good-near', 'reject'], ['bad', 'reject'], ['good-2', 'ok']]);
  t.same(verdicts.map((v) => v.seq), [1, 2, 3, 4]);
});

t.test('camera silent mid-part: no_verdict and the fail-safe by the deadline', async (t) => {
  for (const failSafe of ['reject', 'pass'] as const) {
    const tr = tracker({ window: { kind: 'frames', frames: 6 }, deadlineMs: 800, failSafe });
    tr.onTrigger({ partId: 'X1' }, 1000);
    t.same(tr.onFrame(frame(1000, 4), 1005).verdicts, []);
    t.same(tr.onFrame(frame(1050, 4), 1055).verdicts, []);
    // The camera stops; nothing is decided before the deadline.
    t.same(tr.tick(1799), []);
    const [v] = tr.tick(1800);
    t.match(v, { partId: 'X1', seq: 1, verdict: 'no_verdict', reason: 'camera_down', score: null, threshold: null, frames: 0, firstTs: 1000, lastTs: 1050, decidedTs: 1800, latencyMs: 800, action: failSafe });
    t.ok(partVerdictPayloadSchema.safeParse(v).success);
    t.same(tr.counts().noVerdict, 1);
  }
});

t.test('the reason for a late part: camera reported down, no frame in the window, scoring too slow', async (t) => {
  const down = tracker({ deadlineMs: 500 });
  down.onTrigger({ partId: 'D' }, 0);
  down.onFrame(frame(0, 4), 1);
  down.setCameraUp(false);
  t.match(down.tick(500), [{ reason: 'camera_down' }]);

  const empty = tracker({ deadlineMs: 500 });
  empty.onTrigger({ partId: 'E', delayMs: 2000 }, 0);
  for (let ts = 0; ts < 500; ts += FRAME_MS) empty.onFrame(frame(ts, 4), ts);
  t.match(empty.tick(500), [{ reason: 'no_frames', action: 'reject' }]);

  const slow = tracker({ deadlineMs: 500, window: { kind: 'frames', frames: 20 } });
  slow.onTrigger({ partId: 'S' }, 0);
  for (let ts = 0; ts < 500; ts += FRAME_MS) slow.onFrame(frame(ts, 4), ts);
  t.match(slow.tick(500), [{ reason: 'scoring_too_slow', verdict: 'no_verdict' }]);
});

t.test('product not enrolled: the part is answered with no_verdict and the reason', async (t) => {
  const tr = tracker();
  tr.onTrigger({ partId: 'N' }, 0);
  const verdicts: PartVerdict[] = [];
  for (let ts = 0; ts < 300; ts += FRAME_MS) verdicts.push(...tr.onFrame({ frameId: `f${ts}`, ts, score: null, unscored: 'not_enrolled' }, ts).verdicts);
  t.match(verdicts, [{ partId: 'N', verdict: 'no_verdict', reason: 'product_not_enrolled', action: 'reject', modelVersion: null }]);
});

t.test('overlapping triggers: the earlier part is judged on what it has, the error is counted', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 500 } });
  tr.onTrigger({ partId: 'A' }, 0);
  t.same(tr.onTrigger({ partId: 'B' }, 200), { accepted: true, error: 'overlapping_trigger' });
  const verdicts: PartVerdict[] = [];
  for (let ts = 0; ts <= 800; ts += FRAME_MS) verdicts.push(...tr.onFrame(frame(ts, ts < 200 ? 4 : 30), ts).verdicts);
  t.match(verdicts, [
    { partId: 'A', verdict: 'ok', firstTs: 0, lastTs: 150, frames: 4, reason: 'overlapping_trigger' },
    { partId: 'B', verdict: 'reject', firstTs: 200, lastTs: 650, reason: null },
  ]);
  t.equal(tr.counts().triggerErrors, 1);
});

t.test('overlapping triggers with frame-count windows are counted when the next window starts', async (t) => {
  const tr = tracker({ window: { kind: 'frames', frames: 8 } });
  tr.onTrigger({ partId: 'A' }, 0);
  t.same(tr.onTrigger({ partId: 'B' }, 100), { accepted: true, error: null });
  const verdicts: PartVerdict[] = [];
  for (let ts = 0; ts <= 600; ts += FRAME_MS) verdicts.push(...tr.onFrame(frame(ts, 4), ts).verdicts);
  t.match(verdicts, [
    { partId: 'A', frames: 2, lastTs: 50, reason: 'overlapping_trigger' },
    { partId: 'B', frames: 8, firstTs: 100, lastTs: 450, reason: null },
  ]);
  t.equal(tr.counts().triggerErrors, 1);
});

t.test('out-of-order and duplicate triggers are counted; the refused part is answered in order', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 200 } });
  tr.onTrigger({ partId: 'A', delayMs: 500 }, 0);
  t.same(tr.onTrigger({ partId: 'A' }, 10), { accepted: false, error: 'duplicate_part_id' });
  t.same(tr.onTrigger({ partId: 'B' }, 20), { accepted: false, error: 'out_of_order_trigger' });
  t.same(tr.tick(20), [], 'B waits for A, the part ahead of it');
  const verdicts: PartVerdict[] = [];
  for (let ts = 0; ts <= 800; ts += FRAME_MS) verdicts.push(...tr.onFrame(frame(ts, 4), ts).verdicts);
  t.match(verdicts, [
    { partId: 'A', seq: 1, verdict: 'ok' },
    { partId: 'B', seq: 2, verdict: 'no_verdict', reason: 'out_of_order_trigger', action: 'reject' },
  ]);
  t.equal(tr.counts().triggerErrors, 2);
});

t.test('window rules on their own', async (t) => {
  const w = openWindow({ partId: 'w', delayMs: 100 }, 1000, { kind: 'time', windowMs: 100 });
  t.same([offerFrame(w, 1050), offerFrame(w, 1100), offerFrame(w, 1199), offerFrame(w, 1200), offerFrame(w, 1250)], ['before', 'take', 'take', 'done', 'done']);
  const a = openWindow({ partId: 'a' }, 0, { kind: 'time', windowMs: 100 });
  t.equal(admitAfter(a, openWindow({ partId: 'b' }, 100, { kind: 'time', windowMs: 100 })), 'ok', 'back to back is not an overlap');
  t.equal(admitAfter(a, openWindow({ partId: 'c' }, 99, { kind: 'time', windowMs: 100 })), 'overlap');
  t.equal(a.endTs, 99);
});

t.test('seq strictly increases and every trigger is answered once, whatever the trigger pattern', async (t) => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let run = 0; run < 30; run++) {
    const tr = tracker({ window: random() < 0.5 ? { kind: 'frames', frames: 1 + Math.floor(random() * 6) } : { kind: 'time', windowMs: 50 + Math.floor(random() * 400) }, deadlineMs: 300 + Math.floor(random() * 1000) });
    const triggers: { at: number; partId: string; delayMs: number }[] = [];
    let at = 0;
    for (let i = 0; i < 15; i++) {
      at += Math.floor(random() * 400);
      triggers.push({ at, partId: `r${run}-${i}`, delayMs: Math.floor(random() * 300) });
    }
    const silentFrom = random() < 0.3 ? Math.floor(random() * at) : Infinity;
    const verdicts = runLine(tr, triggers, (ts) => (ts >= silentFrom ? null : random() * 20), at + 3000);
    t.same(verdicts.map((v) => v.seq), verdicts.map((_, i) => i + 1), `run ${run}: seq 1, 2, 3, ...`);
    t.same([...verdicts.map((v) => v.partId)].sort(), triggers.map((tg) => tg.partId).sort(), `run ${run}: every part answered once`);
    t.ok(verdicts.every((v) => partVerdictPayloadSchema.safeParse(v).success), `run ${run}: valid payloads`);
    t.equal(tr.counts().parts, 15);
  }
});

t.test('PartLine: unknown camera, malformed trigger and wrong mode are trigger errors', async (t) => {
  const settings = partsSettingsSchema.parse({ mode: 'trigger' });
  const line = new PartLine([{ camera: 'cam1', product: 'washer', settings }, { camera: 'cam2', product: 'washer', settings: partsSettingsSchema.parse({ mode: 'presence' }) }]);
  t.match(line.trigger('cam9', { partId: 'A' }, 0), { ok: false, error: 'unknown_camera' });
  t.equal(line.unknownCameraTriggers, 1);
  t.match(line.trigger('cam1', { partId: 'a/b' }, 0), { ok: false, error: 'invalid_trigger' });
  t.match(line.trigger('cam1', { partId: 'A', delayMs: -1 }, 0), { ok: false, error: 'invalid_trigger' });
  t.match(line.trigger('cam2', { partId: 'A' }, 0), { ok: false, error: 'not_trigger_mode' });
  t.match(line.trigger('cam1', { partId: 'A', delayMs: 20 }, 0), { ok: true });
  t.equal(line.tracker('cam1')!.counts().triggerErrors, 2);
  t.equal(line.tracker('cam2')!.counts().triggerErrors, 1);
});

t.test('trigger mode scores only the frames some part wants', async (t) => {
  const tr = tracker({ window: { kind: 'time', windowMs: 100 } });
  t.equal(tr.needsScore(0), false, 'no part waiting');
  tr.onTrigger({ partId: 'A', delayMs: 100 }, 0);
  tr.onTrigger({ partId: 'B', delayMs: 300 }, 0);
  t.same([50, 100, 150, 200, 250, 300, 350, 400].map((ts) => tr.needsScore(ts)), [false, true, true, false, false, true, true, false], 'frames inside a waiting window, none between or after');
  const verdicts: PartVerdict[] = [];
  for (let ts = 0; ts <= 450; ts += FRAME_MS) {
    const wanted = tr.needsScore(ts);
    verdicts.push(...tr.onFrame(wanted ? frame(ts, 4) : { frameId: `f${ts}`, ts, score: null, unscored: 'not_needed' as const }, ts).verdicts);
  }
  t.match(verdicts, [{ partId: 'A', verdict: 'ok', frames: 2 }, { partId: 'B', verdict: 'ok', frames: 2 }]);
  t.equal(tr.needsScore(500), false);
  const presence = new PartTracker({ camera: 'cam1', product: 'washer', settings: partsSettingsSchema.parse({ mode: 'presence' }) });
  t.equal(presence.needsScore(0), true);
});
