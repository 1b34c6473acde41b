/**
 * Part-synchronous inspection end to end: a real RTSP camera playing a
 * conveyor video of parts sliding over an empty belt (near-threshold ones
 * among them, good and bad back to back), real ONNX Runtime scoring, part
 * verdicts and rejects over MQTT (embedded broker, or mosquitto for the
 * outage), checked part by part against the ground truth.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t from 'tap';
import { deviceConfigSchema, type DeviceConfig } from '../../config/device.ts';
import { conveyorLayout, type Part } from '../../fixtures/conveyor.ts';
import { mqttTriggers, runPlc, windowFor, type FrameClock } from '../../fixtures/plc-simulator.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { partCountersPayloadSchema, partVerdictPayloadSchema, type PartVerdictPayload } from '../../runtime/parts/payloads.ts';
import { rejectPayloadSchema, type RejectPayload } from '../../runtime/mqtt/payloads.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';
import { startMosquitto } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);
const FPS = 15;
// Long gaps of empty belt: the simulated PLC's timing (from the camera's frame clock) may be
// off by a few hundred ms on a busy machine, and its windows have that much margin.
const motion = { motion: 'slide' as const, partFrames: 6, gapFrames: 24, fps: FPS };
const MARGIN_MS = 350;

// Clearly good and bad parts, near-threshold ones on both sides, and a good part
// with a faint mark that scores over the threshold (a false reject) right before a bad one.
const good = fixture.scored.filter((s) => !s.part.defective).sort((a, b) => a.score - b.score)[0]!;
const bad = fixture.scored.filter((s) => s.part.defective).sort((a, b) => b.score - a.score)[0]!;
const goodNear = await fixture.nearThreshold(0.9);
const overNear = await fixture.nearThreshold(1.25, 2);
const falseReject = { ...overNear, part: { ...overNear.part, defective: false } };
const badNear = await fixture.nearThreshold(1.3, 3);
const parts: Part[] = [good.part, falseReject.part, bad.part, goodNear.part, good.part, badNear.part, good.part, bad.part];
/** What the model must say about each part, in order. */
const expected = ['ok', 'reject', 'reject', 'ok', 'ok', 'reject', 'ok', 'reject'];
// A trailing good part that is not checked: the video (played once) goes on after the last checked part.
const layout = conveyorLayout([...parts, good.part], motion);
const video = await fixture.videoOf('sliding-parts', [...parts, good.part], motion);
const checkedSpans = layout.spans.slice(0, parts.length);
const windowMs = windowFor(layout.spans[0]!, FPS, MARGIN_MS);

function config(overrides: Record<string, unknown>): DeviceConfig {
  return deviceConfigSchema.parse({
    dataDir: fixture.dataDir,
    mqtt: { deviceId: 'line1', embeddedBroker: { port: 0 }, outboxDir: `${dir}/outbox-${Math.random().toString(36).slice(2)}`, reconnect: { initialMs: 200, maxMs: 500 } },
    http: { enabled: false },
    healthIntervalMs: 500,
    productPollMs: 300,
    ...overrides,
  });
}

/** The camera's latest frame on its frame clock, for the simulated PLC (the RTSP camera plays the video once from its start). */
const frameClock = (runtime: DeviceRuntime) => (): FrameClock | null => {
  const frame = runtime.lastFrame('cam1');
  return frame ? { index: frame.seq, ts: frame.ts } : null;
};

const partsOf = (c: MqttCollector) => c.json<PartVerdictPayload>('linesight/line1/cam1/part');
const rejectsOf = (c: MqttCollector) => c.json<RejectPayload>('linesight/line1/cam1/reject');

t.test('near-threshold parts were chosen where flicker happens', async (t) => {
  t.ok(goodNear.score < goodNear.threshold && goodNear.score > 0.8 * goodNear.threshold, `good part at ${(goodNear.score / goodNear.threshold).toFixed(2)}x the threshold`);
  t.ok(overNear.score >= overNear.threshold && overNear.score < 1.4 * overNear.threshold, `false-reject part at ${(overNear.score / overNear.threshold).toFixed(2)}x`);
  t.ok(badNear.score >= badNear.threshold && badNear.score < 1.45 * badNear.threshold, `bad part at ${(badNear.score / badNear.threshold).toFixed(2)}x`);
});

t.test('presence mode over RTSP: one verdict per sliding part, none for half views, a defect right behind a false reject is rejected', async (t) => {
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const runtime = await DeviceRuntime.start(config({ parts: { mode: 'presence' }, cameras: [{ id: 'cam1', url: camera.url, product: fixture.product }] }));
  t.teardown(() => runtime.stop());
  const heard: PartVerdictPayload[] = [];
  runtime.onPartVerdict((p) => heard.push(p));
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line1/cam1/#']);
  t.teardown(() => collector.close());

  await collector.waitForCount('linesight/line1/cam1/part', parts.length, 60_000);
  const verdicts = partsOf(collector).slice(0, parts.length);
  verdicts.forEach((v) => t.ok(partVerdictPayloadSchema.safeParse(v).success, `part ${v.partId} is a valid part payload`));
  t.same(verdicts.map((v) => v.verdict), expected, 'exactly one verdict per part, each right (flicker and half views made no extra verdict)');
  t.same(verdicts.map((v) => v.seq), parts.map((_, k) => k + 1), 'seq counts the parts from 1');
  t.ok(verdicts.every((v) => v.frames >= 3), `each part judged on its whole views (${verdicts.map((v) => v.frames).join(', ')} frames)`);
  t.equal(verdicts[2]!.verdict, 'reject', 'the bad part right behind the falsely rejected one is rejected');

  await until(() => rejectsOf(collector).length >= 4, 5000, 'the reject signals');
  const rejects = rejectsOf(collector).slice(0, 4);
  rejects.forEach((r) => t.ok(rejectPayloadSchema.safeParse(r).success, 'a valid reject payload'));
  t.same(rejects.map((r) => r.partId), verdicts.filter((v) => v.action === 'reject').map((v) => v.partId), 'one reject per rejected part, carrying its part id, in order');
  t.same(heard.slice(0, parts.length).map((p) => p.partId), verdicts.map((v) => v.partId), 'onPartVerdict hears every part');

  const counters = await collector.waitForJson<{ parts: number }>('linesight/line1/cam1/counters', (c) => c.parts >= parts.length, 5000);
  t.ok(partCountersPayloadSchema.safeParse(counters).success, 'the counters are a valid counters payload');
  t.match(runtime.partCounters().cam1, { ok: 4, ng: 4, noVerdict: 0, triggerErrors: 0 });
  await collector.client.publishAsync('linesight/line1/cam1/counters/reset', '{}', { qos: 1 });
  await collector.waitForJson<{ parts: number; ok: number }>('linesight/line1/cam1/counters', (c) => c.parts === 0 && c.ok === 0, 5000);
  t.pass('counters reset over MQTT, and the zeroed counters published');
});

t.test('trigger mode over RTSP: a simulated PLC triggers each part over MQTT and gets its answer by part id', async (t) => {
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const runtime = await DeviceRuntime.start(
    config({ parts: { mode: 'trigger', window: { kind: 'time', windowMs }, deadlineMs: windowMs + 1500 }, cameras: [{ id: 'cam1', url: camera.url, product: fixture.product }] }),
  );
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line1/cam1/#']);
  t.teardown(() => collector.close());

  const sent = await runPlc({ send: mqttTriggers(collector.client, 'linesight/line1/cam1'), spans: checkedSpans, fps: FPS, clock: frameClock(runtime), marginMs: MARGIN_MS });
  t.ok(sent.length >= parts.length - 1, `the PLC announced ${sent.length} of ${parts.length} parts (not one already past the camera when it started)`);
  await until(() => partsOf(collector).length >= sent.length, 10_000, 'an answer to every trigger');
  const answers = new Map(partsOf(collector).map((p) => [p.partId, p]));
  t.equal(partsOf(collector).length, sent.length, 'one answer per trigger');
  sent.forEach((s) => {
    const answer = answers.get(s.partId);
    t.equal(answer?.verdict, expected[s.part], `part ${s.partId} (${parts[s.part]!.kind}): ${answer?.verdict}${answer?.reason ? ` (${answer.reason})` : ''}, score ${answer?.score?.toFixed(2)} over ${answer?.frames} frames`);
  });
  const rejected = sent.filter((s) => expected[s.part] === 'reject').map((s) => s.partId);
  // The reject signal follows its part message.
  await until(() => rejectsOf(collector).length >= rejected.length, 5000, 'the reject signals');
  t.same(rejectsOf(collector).map((r) => r.partId), rejected, 'rejects carry the PLC part ids');
  t.equal(runtime.partCounters().cam1!.triggerErrors, 0, 'no trigger errors');

  const unknown = runtime.trigger('nope', { partId: 'X1' });
  t.match(unknown, { ok: false, error: 'unknown_camera' }, 'a trigger for an unknown camera is refused');
  await collector.client.publishAsync('linesight/line1/cam1/trigger', 'not json', { qos: 1 });
  await until(() => runtime.partCounters().cam1!.triggerErrors === 1, 5000, 'the malformed trigger to be counted');
  t.pass('a malformed trigger is counted as a trigger error');
});

t.test('camera killed mid-part: that part gets no_verdict and the fail-safe reject within its deadline', async (t) => {
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const deadlineMs = 1200;
  const runtime = await DeviceRuntime.start(
    config({ parts: { mode: 'trigger', window: { kind: 'time', windowMs: 600 }, deadlineMs }, cameras: [{ id: 'cam1', url: camera.url, product: fixture.product, backoff: { initialMs: 5000, maxMs: 5000 } }] }),
  );
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line1/cam1/#']);
  t.teardown(() => collector.close());
  await until(() => runtime.health().cameras[0]!.frames >= 20, 30_000, 'frames over RTSP');

  await collector.client.publishAsync('linesight/line1/cam1/trigger', JSON.stringify({ partId: 'K1', delayMs: 200 }), { qos: 1 });
  const sentAt = Date.now();
  await camera.kill();
  const answer = await collector.waitForJson<PartVerdictPayload>('linesight/line1/cam1/part', (p) => p.partId === 'K1', deadlineMs + 2000);
  const arrivedAt = Date.now();
  t.match(answer, { verdict: 'no_verdict', reason: 'camera_down', action: 'reject', score: null });
  t.ok(answer.decidedTs - sentAt <= deadlineMs + 100, `decided ${answer.decidedTs - sentAt} ms after the trigger (deadline ${deadlineMs} ms)`);
  t.ok(arrivedAt - sentAt <= deadlineMs + 500, `the PLC has it ${arrivedAt - sentAt} ms after the trigger`);
  const reject = await collector.waitForJson<RejectPayload>('linesight/line1/cam1/reject', (r) => r.partId === 'K1', 2000);
  t.match(reject, { partId: 'K1', score: null, camera: 'cam1' }, 'the fail-safe reject signal carries the part id');
  t.equal(runtime.partCounters().cam1!.noVerdict, 1);
});

t.test('broker outage: every part verdict and reject decided meanwhile arrives afterwards, in order, by part id', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const runtime = await DeviceRuntime.start(
    config({
      mqtt: { deviceId: 'line1', url: broker.url, outboxDir: `${dir}/outbox-outage`, reconnect: { initialMs: 200, maxMs: 500 } },
      parts: { mode: 'trigger', window: { kind: 'time', windowMs }, deadlineMs: windowMs + 1500 },
      cameras: [{ id: 'cam1', url: camera.url, product: fixture.product }],
    }),
  );
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(broker.url, ['linesight/line1/cam1/#'], { clean: false, clientId: 'plc-outage' });
  t.teardown(() => collector.close());
  await runtime.publisher.waitForState('online', 10_000);
  await broker.stop();

  // The PLC's triggers reach the device by its other wire (the HTTP API calls `trigger`).
  const sent = await runPlc({
    send: async (trigger) => void runtime.trigger('cam1', trigger),
    spans: checkedSpans,
    fps: FPS,
    clock: frameClock(runtime),
    marginMs: MARGIN_MS,
  });
  t.ok(sent.length >= parts.length - 2, `the PLC announced ${sent.length} of ${parts.length} parts (not those already past the camera when it started)`);
  await until(() => runtime.partCounters().cam1!.parts >= sent.length, 10_000, 'every part decided while the broker is down');
  await until(() => runtime.publisher.stats().pendingParts === sent.length, 5000, 'the verdicts to wait in the part outbox');
  t.pass('the verdicts wait in the part outbox');
  await broker.start();

  await until(() => partsOf(collector).length >= sent.length, 20_000, 'the verdicts after the outage');
  const verdicts = partsOf(collector);
  t.same(verdicts.map((v) => v.partId), sent.map((s) => s.partId), 'every part answered once, in order, by part id');
  t.same(verdicts.map((v) => v.seq), sent.map((_, k) => k + 1), 'seq in order');
  t.same(verdicts.map((v) => v.verdict), sent.map((s) => expected[s.part]), 'each verdict right');
  const rejects = rejectsOf(collector);
  t.same(rejects.map((r) => r.partId), verdicts.filter((v) => v.action === 'reject').map((v) => v.partId), 'every reject arrives, in order, by part id');
});

t.test('SIGKILL mid-part: no part verdict is lost, and one sent again carries the same seq', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const collector = await MqttCollector.connect(broker.url, ['linesight/line1/cam1/part'], { clean: false, clientId: 'plc-sigkill' });
  t.teardown(() => collector.close());
  const childScript = new URL('../fixtures/parts-runtime-child.ts', import.meta.url).pathname;
  const options = JSON.stringify({ dataDir: fixture.dataDir, product: fixture.product, video, brokerUrl: broker.url, outboxDir: `${dir}/outbox-sigkill` });
  const stored: { seq: number; partId: string }[] = [];
  const runChild = async (parts: number) => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, options], { env: { ...process.env, LINESIGHT_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
    let seen = 0;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const [word, seq, partId] = line.split(' ');
      if (word !== 'stored') return;
      stored.push({ seq: Number(seq), partId: partId! });
      seen++;
    });
    await until(() => seen >= parts, 60_000, `${parts} part verdicts stored by the child`);
    // Killed half-way through the next part (about a second after the last verdict).
    await new Promise((r) => setTimeout(r, 900));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  };
  await runChild(3);
  await runChild(3);
  const sent = new Map(stored.map((s) => [s.partId, s.seq]));
  await until(() => new Set(partsOf(collector).map((p) => p.partId)).size >= sent.size, 20_000, 'every stored verdict at the PLC');
  const received = partsOf(collector);
  for (const [partId, seq] of sent) t.ok(received.some((p) => p.partId === partId && p.seq === seq), `part ${partId} (seq ${seq}) arrived`);
  const seqOf = new Map<string, Set<number>>();
  for (const p of received) seqOf.set(p.partId, (seqOf.get(p.partId) ?? new Set()).add(p.seq));
  t.ok([...seqOf.values()].every((seqs) => seqs.size === 1), 'a part that arrived twice carries the same seq both times');
  const unique = [...new Set(received.map((p) => p.seq))];
  t.same(unique, Array.from({ length: unique.length }, (_, i) => i + 1), 'seqs go on across the kill: 1, 2, 3, … with no gap and no reuse');
});
