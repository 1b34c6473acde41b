/**
 * The pure pieces that wire parts into the device: per-camera parts settings
 * merged over the device's, command topics, the part outbox (seq per camera
 * that survives a restart), and the presence pre-check that keeps the empty
 * belt from being scored.
 */
import t from 'tap';
import { cameraPartsSettings, deviceConfigSchema } from '../../config/device.ts';
import { presenceSchema } from '../../config/parts.ts';
import { partKind, partOutboxDir, RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import { parseCommandTopic } from '../../runtime/mqtt/topics.ts';
import { PresenceDetector, type Thumbnail } from '../../runtime/parts/presence.ts';
import type { PartVerdictInput } from '../../runtime/parts/payloads.ts';

const base = { mqtt: { deviceId: 'line1' } };

t.test('without a parts section cameras judge frames; a camera override merges key by key over the device value', async (t) => {
  const plain = deviceConfigSchema.parse({ ...base, cameras: [{ id: 'cam1', url: 'rtsp://x/1', product: 'p' }] });
  t.equal(cameraPartsSettings(plain, plain.cameras[0]!).mode, 'frames');
  const c = deviceConfigSchema.parse({
    ...base,
    parts: { mode: 'trigger', deadlineMs: 900, presence: { cellThreshold: 30 } },
    cameras: [
      { id: 'cam1', url: 'rtsp://x/1', product: 'p' },
      { id: 'cam2', url: 'rtsp://x/2', product: 'p', parts: { mode: 'presence', presence: { enterLevel: 0.1 } } },
    ],
  });
  t.match(cameraPartsSettings(c, c.cameras[0]!), { mode: 'trigger', deadlineMs: 900, presence: { cellThreshold: 30, enterLevel: 0.04 } });
  t.match(cameraPartsSettings(c, c.cameras[1]!), { mode: 'presence', deadlineMs: 900, presence: { cellThreshold: 30, enterLevel: 0.1 } }, 'device values kept, nested ones too');
});

t.test('a bad camera override is refused with its path', async (t) => {
  const r = deviceConfigSchema.safeParse({ ...base, cameras: [{ id: 'cam1', url: 'rtsp://x/1', product: 'p', parts: { mode: 'sometimes' } }] });
  t.notOk(r.success);
  t.same(r.error?.issues[0]?.path, ['cameras', 0, 'parts', 'mode']);
  const window = deviceConfigSchema.safeParse({ ...base, parts: { mode: 'trigger', window: { kind: 'time', windowMs: 300 } }, cameras: [{ id: 'cam1', url: 'rtsp://x/1', product: 'p', parts: { window: { kind: 'frames', frames: 3 } } }] });
  t.ok(window.success, 'a window of another kind replaces the device window whole');
  if (window.success) t.same(cameraPartsSettings(window.data, window.data.cameras[0]!).window, { kind: 'frames', frames: 3 });
});

t.test('command topics of this device', async (t) => {
  t.same(parseCommandTopic('linesight', 'line1', 'linesight/line1/cam1/trigger'), { camera: 'cam1', kind: 'trigger' });
  t.same(parseCommandTopic('linesight', 'line1', 'linesight/line1/cam1/counters/reset'), { camera: 'cam1', kind: 'counters/reset' });
  t.equal(parseCommandTopic('linesight', 'line1', 'linesight/line1/cam1/part'), null);
  t.equal(parseCommandTopic('linesight', 'line1', 'linesight/line2/cam1/trigger'), null);
  t.equal(parseCommandTopic('linesight', 'line1', 'linesight/line1/trigger'), null);
});

const verdict = (partId: string): PartVerdictInput => ({
  partId,
  camera: 'cam1',
  product: 'p',
  modelVersion: 'v1',
  verdict: 'ok',
  score: 1,
  threshold: 2,
  frames: 3,
  firstTs: 10,
  lastTs: 20,
  decidedTs: 30,
  latencyMs: 10,
  reason: null,
  action: 'pass',
});

t.test('a camera part outbox numbers verdicts from 1 and keeps counting after a restart', async (t) => {
  const dir = partOutboxDir(t.testdir(), 'cam1');
  const first = await RejectOutbox.openKind(dir, partKind);
  t.equal((await first.append(verdict('A'))).seq, 1);
  t.equal((await first.append(verdict('B'))).seq, 2);
  await first.ack(1);
  await first.close();
  const again = await RejectOutbox.openKind(dir, partKind);
  t.same((await again.pending()).map((p) => [p.partId, p.seq]), [['B', 2]], 'the unacknowledged verdict is still there with its seq');
  t.equal((await again.append(verdict('C'))).seq, 3, 'seq goes on');
  await again.ack(2);
  await again.ack(3);
  await again.close();
  const third = await RejectOutbox.openKind(dir, partKind);
  t.equal((await third.append(verdict('D'))).seq, 4, 'seq survives an empty outbox and a restart');
  await third.close();
  await t.rejects(RejectOutbox.openKind(dir, partKind).then(async (o) => {
    try {
      await o.append({ ...verdict('E'), verdict: 'no_verdict' });
    } finally {
      await o.close();
    }
  }), /reason|score/, 'an inconsistent verdict is refused');
});

t.test('presence pre-check: the empty belt and partial views need no scoring, a whole part does', async (t) => {
  const settings = presenceSchema.parse({ thumbnailSize: 8, referenceFrames: 2 });
  const detector = new PresenceDetector(settings);
  const belt: Thumbnail = { size: 8, data: new Float32Array(64).fill(100) };
  const part: Thumbnail = { size: 8, data: new Float32Array(64).fill(100) };
  for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) part.data[y * 8 + x] = 200;
  t.notOk(detector.mayShowPart(belt), 'no reference yet: nothing to judge');
  detector.observe(belt);
  detector.observe(belt);
  t.notOk(detector.mayShowPart(belt), 'empty belt');
  t.ok(detector.mayShowPart(part), 'a whole part would enter');
  t.equal(detector.observe(part).event, 'enter');
  t.ok(detector.mayShowPart(part), 'the whole part in view');
  const cut: Thumbnail = { size: 8, data: new Float32Array(64).fill(100) };
  for (let y = 2; y < 6; y++) for (let x = 0; x < 3; x++) cut.data[y * 8 + x] = 200;
  t.notOk(detector.mayShowPart(cut), 'a part cut by the border can never be fully in view: not scored');
  t.notOk(detector.mayBeWhole(cut));
  t.notOk(detector.mayShowPart(belt), 'the frame it leaves on is not part of it');
});
