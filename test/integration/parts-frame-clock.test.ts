/**
 * Trigger windows on a busy device: the camera pipeline (real product, real
 * ONNX Runtime scoring, real MQTT publisher) is fed the frames of a conveyor
 * at 30 fps, three frames per part, good and defective parts alternating,
 * with the arrival times a loaded device sees (frames read up to three frame
 * intervals late, in bursts) and triggers that reach it late by up to 40 ms.
 * Each part's one-frame window opens 10 ms after the previous part's last
 * frame (plus the trigger's lateness). On the frame clock every window takes
 * the first frame on the camera after it opened, one of its own part's, and
 * every verdict is right; the same arrivals timed by arrival alone put
 * windows on the neighbour's frame. Event order is what the device would see;
 * no assertion depends on how fast this machine runs.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createLogger } from '../../config/logger.ts';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { partsSettingsSchema } from '../../config/parts.ts';
import { refineSettingsSchema } from '../../config/refine.ts';
import { partFrame } from '../../fixtures/conveyor.ts';
import { CameraPipeline, type Frame, type FrameSource } from '../../runtime/camera-pipeline.ts';
import { monotonicNow } from '../../runtime/clock.ts';
import { startEmbeddedBroker } from '../../runtime/mqtt/embedded-broker.ts';
import { MqttPublisher } from '../../runtime/mqtt/publisher.ts';
import type { PartVerdictPayload } from '../../runtime/parts/payloads.ts';
import { ProductLibrary } from '../../runtime/product-library.ts';
import { ScoringLane } from '../../runtime/scoring/scoring-lane.ts';
import { SharedModels } from '../../product/shared-models.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);
const quiet = createLogger('frame-clock-test').child({}, { level: 'silent' });

const FPS = 30;
const I = 1000 / FPS;
const PART_FRAMES = 3;
const PARTS = 8;
const GUARD_MS = 10;
const good = fixture.scored.filter((s) => !s.part.defective).sort((a, b) => a.score - b.score)[0]!.part;
const bad = fixture.scored.filter((s) => s.part.defective).sort((a, b) => b.score - a.score)[0]!.part;
const parts = Array.from({ length: PARTS }, (_, p) => (p % 2 === 0 ? good : bad));
const images = [await partFrame(good, 224), await partFrame(bad, 224)];
/** The first two parts' worth of frames are empty lead-in (black), so the clock has frames before the first trigger. */
const LEAD = 6;
const frameCount = LEAD + PARTS * PART_FRAMES + 3;
const black = new Uint8Array(224 * 224 * 3);
const pixelsOf = (n: number) => (n < LEAD || n >= LEAD + PARTS * PART_FRAMES ? black : images[Math.floor((n - LEAD) / PART_FRAMES) % 2]!);

/** How late each frame is read (ms): bursts and long waits, on time now and then. */
const LATE = [0, 45, 30, 70, 10, 55, 0, 90, 60, 30, 0, 80, 47, 20, 0, 65, 40, 100, 70, 35, 0, 52, 38, 15];
/** How late each trigger reaches the device (ms). */
const TRIGGER_LATE = [0, 40, 12, 33, 5, 27, 40, 18];

const products = new ProductLibrary(new SharedModels(fixture.dataDir, inferenceSettingsSchema.parse({})), quiet);
await products.load([fixture.product]);
t.teardown(() => products.close());
const broker = await startEmbeddedBroker({ port: 0, logger: quiet });
t.teardown(() => broker.close());

const idleSource: FrameSource = { start: () => undefined, stop: async () => undefined, next: async () => null };

/**
 * Runs the line once; `fps` undefined times frames by arrival only. Returns
 * the verdicts, the video frame each part was judged on (its first judged
 * frame), and the true time of each frame.
 */
async function runLine(t: Test, fps: number | undefined): Promise<{ verdicts: PartVerdictPayload[]; judgedFrame: (v: PartVerdictPayload) => number | undefined; frameTime: (n: number) => number }> {
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-frame-clock-'));
  const publisher = new MqttPublisher({ config: mqttConfigSchema.parse({ deviceId: `clock${fps ?? 0}` }), url: broker.url, outboxDir, device: { version: '0', cameras: ['cam1'], products: [fixture.product] }, logger: quiet });
  await publisher.start();
  t.teardown(() => publisher.close({ timeoutMs: 2000 }));
  const settings = partsSettingsSchema.parse({ mode: 'trigger', window: { kind: 'frames', frames: 1 }, deadlineMs: 120_000, inViewCheck: false });
  const pipeline = new CameraPipeline(
    { id: 'cam1', product: fixture.product, fps, decision: { debounceFrames: 1 }, parts: settings, publishMasks: false, refine: refineSettingsSchema.parse({}) },
    idleSource,
    products,
    publisher,
    new ScoringLane(),
    quiet,
  );
  const verdicts: PartVerdictPayload[] = [];
  pipeline.on('part', (v) => verdicts.push(v));
  const frameAt = new Map<number, number>();
  pipeline.on('scored', (s) => frameAt.set(s.result.ts, s.result.seq));
  // Frame n is on the camera at `base + n * I`; read `LATE[n]` later, in order.
  const base = monotonicNow();
  const frameTime = (n: number) => base + n * I;
  const events: { at: number; run: () => Promise<void> }[] = [];
  let arrival = 0;
  for (let n = 0; n < frameCount; n++) {
    arrival = Math.max(arrival, Math.floor(frameTime(n) + LATE[n % LATE.length]!));
    const frame: Frame = { cameraId: 'cam1', seq: n, ts: arrival, stream: { reader: 0, index: n }, width: 224, height: 224, data: Buffer.from(pixelsOf(n)) };
    events.push({ at: arrival, run: async () => void (await pipeline.process(frame)) });
  }
  for (let p = 0; p < PARTS; p++) {
    // The window opens GUARD_MS after the previous part's last frame; the trigger leaves 150 ms before and arrives late.
    const opensAt = frameTime(LEAD + p * PART_FRAMES - 1) + GUARD_MS;
    const sentAt = opensAt - 150;
    const receivedAt = Math.floor(sentAt + TRIGGER_LATE[p]!);
    const delayMs = Math.round(opensAt - sentAt);
    events.push({
      at: receivedAt,
      run: async () => {
        t.equal(pipeline.tracker.onTrigger({ partId: `P${p}`, delayMs }, receivedAt).error, null, `trigger P${p} accepted`);
        await pipeline.deliver(pipeline.tracker.drain());
      },
    });
  }
  // Stable sort: a trigger and a frame at the same ms keep frame-then-trigger order of creation.
  for (const e of events.sort((a, b) => a.at - b.at)) await e.run();
  await pipeline.deliver([]);
  return { verdicts, judgedFrame: (v) => (v.firstTs === null ? undefined : frameAt.get(v.firstTs)), frameTime };
}

t.test('on the frame clock each window judges its own part, however late frames and triggers arrive', async (t) => {
  const { verdicts, judgedFrame, frameTime } = await runLine(t, FPS);
  t.equal(verdicts.length, PARTS, 'one verdict per part');
  verdicts.forEach((v, p) => {
    t.equal(v.partId, `P${p}`);
    t.equal(v.verdict, parts[p]!.defective ? 'reject' : 'ok', `part ${p} (${parts[p]!.defective ? 'defective' : 'good'}): ${v.verdict}, score ${v.score?.toFixed(2)}`);
    // The window opens when the late trigger says (received + delay): the first frame on the camera from then on.
    const first = LEAD + p * PART_FRAMES;
    const opens = frameTime(first - 1) + GUARD_MS + TRIGGER_LATE[p]!;
    const expected = first + (opens > frameTime(first) ? 1 : 0);
    t.equal(judgedFrame(v), expected, `part ${p} judged on frame ${expected}, its ${expected === first ? 'first' : 'second'} (trigger ${TRIGGER_LATE[p]} ms late)`);
    // Arrivals are whole ms, so the least-delay anchor may sit up to 1 ms off the true frame time.
    t.ok(Math.abs(v.firstTs! - frameTime(expected)) <= 1, `that frame's time is its time on the camera (${(v.firstTs! - frameTime(expected)).toFixed(2)} ms off)`);
  });
});

t.test('the same arrivals timed by arrival alone put windows on a neighbour part', async (t) => {
  const { verdicts, judgedFrame } = await runLine(t, undefined);
  const partOf = (n: number | undefined) => (n === undefined ? undefined : Math.floor((n - LEAD) / PART_FRAMES));
  const wrongFrames = verdicts.filter((v, p) => partOf(judgedFrame(v)) !== p).length;
  const wrongVerdicts = verdicts.filter((v, p) => v.verdict !== (parts[p]!.defective ? 'reject' : 'ok')).length;
  t.ok(wrongFrames > 0, `${wrongFrames} of ${PARTS} windows took a frame that was not their part's`);
  t.ok(wrongVerdicts > 0, `${wrongVerdicts} wrong verdicts`);
});
