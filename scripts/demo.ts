/**
 * `npm run demo [-- --seconds N] [--mode presence|trigger]`: the whole product
 * on one machine.
 *
 * Generates a sample product (washers) with golden images and a few defective
 * parts, enrolls it, encodes a conveyor video (about one part per second,
 * good and defective, each sliding in over an empty belt, held, and sliding
 * out), and runs the real runtime on it: ffmpeg plays the video at real time
 * through the camera ingest path, and each part gets one verdict on
 * `linesight/demo/cam1/part` (rejects also on `.../reject`), from the
 * embedded MQTT broker on 127.0.0.1:1883.
 *
 * - `--mode presence` (default): the runtime finds the parts in the video.
 * - `--mode trigger`: a simulated PLC (an MQTT client, fixtures/plc-simulator.ts)
 *   publishes a trigger for each part as it approaches and checks each answer
 *   by its part id.
 *
 * One line is printed per part. With --seconds N it stops after N seconds and
 * prints one JSON line {mode, parts, rejects, expectedRejects, fps,
 * missedRejects, falseRejects, noVerdict, ...}; misses and false rejects are
 * counted per part id against the video's ground truth.
 *
 * Watch the verdicts from a second terminal:
 *   npx mqtt sub -h 127.0.0.1 -p 1883 -t 'linesight/+/+/part' -v
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import type { ScoredFrame } from '../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { HealthServerError } from '../runtime/health-server.ts';
import { FfmpegNotFoundError } from '../runtime/ingest/find-ffmpeg.ts';
import { EmbeddedBrokerError } from '../runtime/mqtt/embedded-broker.ts';
import type { PartVerdictPayload } from '../runtime/parts/payloads.ts';
import { conveyorLayout, conveyorSequence, encodeConveyorVideo, prepareSampleProduct, CONVEYOR_PRODUCT as PRODUCT, type Part, type PartSpan } from '../fixtures/conveyor.ts';
import { mqttTriggers, runPlc, windowFor } from '../fixtures/plc-simulator.ts';

const SIZE = 224;
const FPS = 15;
/** 3 frames sliding in, 4 whole, 3 sliding out, 6 of empty belt: 16 frames, about one part a second. */
const MOTION = { motion: 'slide' as const, slideFrames: 3, partFrames: 4, gapFrames: 6, fps: FPS };
const VIDEO_VERSION = 'sliding-v1';

const args = parseArgs({
  options: {
    seconds: { type: 'string' },
    mode: { type: 'string', default: 'presence' },
    dir: { type: 'string', default: '.linesight-demo' },
    port: { type: 'string', default: '1883' },
    'http-port': { type: 'string', default: '9464' },
    fresh: { type: 'boolean', default: false },
  },
}).values;

const seconds = args.seconds === undefined ? undefined : Number(args.seconds);
if (seconds !== undefined && !(seconds > 0)) throw new Error(`--seconds must be a positive number, got "${args.seconds}"`);
const mode = args.mode;
if (mode !== 'presence' && mode !== 'trigger') throw new Error(`--mode must be presence or trigger, got "${args.mode}"`);
const dir = resolve(args.dir);
const say = (line: string) => process.stderr.write(`${line}\n`);

async function prepare(): Promise<{ data: string; video: string; parts: Part[] }> {
  if (args.fresh) await rm(dir, { recursive: true, force: true });
  const sample = await prepareSampleProduct({ dir, size: SIZE, goldenSamples: 40, testGood: 12, testPerDefect: 3, log: say });
  const parts = conveyorSequence(sample.good, sample.defective);
  const video = join(dir, `conveyor-${VIDEO_VERSION}.mp4`);
  if (!existsSync(video)) {
    say(`encoding the conveyor video (${parts.length} parts sliding over an empty belt, about one per second) to ${video}`);
    await encodeConveyorVideo(parts, video, { size: SIZE, ...MOTION });
  }
  return { data: sample.dataDir, video, parts };
}

/** Per-part tally against the ground truth, keyed by part id. */
class Tally {
  parts = 0;
  rejects = 0;
  expectedRejects = 0;
  missed = 0;
  falseRejects = 0;
  noVerdict = 0;

  record(partId: string, truth: Part | undefined, v: PartVerdictPayload): void {
    this.parts++;
    const rejected = v.action === 'reject';
    const defective = truth?.defective ?? false;
    if (defective) this.expectedRejects++;
    if (rejected) this.rejects++;
    if (v.verdict === 'no_verdict') this.noVerdict++;
    // A false reject is a good part the model rejected; a part without a verdict is counted
    // in `noVerdict` (its fail-safe action, reject by default, shows in `rejects`).
    if (v.verdict === 'reject' && !defective) this.falseRejects++;
    if (!rejected && defective) this.missed++;
    const verdict = v.verdict === 'no_verdict' ? `NO VERDICT (${v.reason}) -> ${v.action}` : rejected ? 'REJECT' : 'pass  ';
    const check = !truth ? 'unknown part' : rejected === defective ? 'ok' : defective ? 'MISSED' : 'FALSE REJECT';
    const score = v.score === null ? '     -' : v.score.toFixed(2).padStart(6);
    say(`part ${String(this.parts).padStart(3)}  ${(truth ? (defective ? `defective (${truth.kind})` : 'good') : '?').padEnd(22)} ` +
      `score ${score} / threshold ${v.threshold?.toFixed(2) ?? '-'}  ${v.frames} frames  ${verdict}  ${check}  [${partId}]`);
  }
}

async function main(): Promise<void> {
  const { data, video, parts } = await prepare();
  const layout = conveyorLayout(parts, { size: SIZE, ...MOTION });
  const windowMs = windowFor(layout.spans[0]!, FPS);
  const config = deviceConfigSchema.parse({
    dataDir: data,
    mqtt: { deviceId: 'demo', embeddedBroker: { host: '127.0.0.1', port: Number(args.port) } },
    http: { port: Number(args['http-port']) },
    parts:
      mode === 'presence'
        ? { mode: 'presence', presence: { referenceFrames: 5 } }
        : { mode: 'trigger', window: { kind: 'time', windowMs }, deadlineMs: windowMs + 1000 },
    cameras: [{ id: 'cam1', url: video, product: PRODUCT, width: SIZE, height: SIZE, fps: FPS }],
  });

  // Presence mode: the position in the (looping) video of a frame scored for a part says which part it was.
  const scoredFrames: { ts: number; seq: number }[] = [];
  const onScored = (s: ScoredFrame) => {
    scoredFrames.push({ ts: s.result.ts, seq: s.result.seq });
    if (scoredFrames.length > 2000) scoredFrames.splice(0, 1000);
  };
  const tally = new Tally();
  const truthOfTrigger = new Map<string, Part>();
  const truthOf = (v: PartVerdictPayload): Part | undefined => {
    if (mode === 'trigger') return truthOfTrigger.get(v.partId);
    // Any frame of the part that was scored tells its place in the video.
    const seq = scoredFrames.find((f) => v.firstTs !== null && v.lastTs !== null && f.ts >= v.firstTs && f.ts <= v.lastTs)?.seq;
    if (seq === undefined) return undefined;
    const at = layout.frameAt[seq % layout.frames];
    return at?.part === null || at === undefined ? undefined : parts[at.part];
  };

  const logger = createLogger('demo');
  const runtime = await DeviceRuntime.start(config, { logger, onScored });
  runtime.onPartVerdict((v) => tally.record(v.partId, truthOf(v), v));
  const started = Date.now();
  say(`\nlinesight demo (${mode} mode): camera cam1 plays ${video} through ffmpeg; MQTT broker ${runtime.brokerUrl}`);
  say(`watch the reject signals:  npx mqtt sub -h 127.0.0.1 -p ${new URL(runtime.brokerUrl).port} -t 'linesight/+/+/reject' -v`);
  say(`watch every part's verdict: npx mqtt sub -h 127.0.0.1 -p ${new URL(runtime.brokerUrl).port} -t 'linesight/+/+/part' -v`);
  if (runtime.healthUrl) say(`health: ${runtime.healthUrl}/health   metrics: ${runtime.healthUrl}/metrics`);
  say(seconds ? `running for ${seconds} s\n` : 'Ctrl-C stops\n');

  const stop = new AbortController();
  const plc = mode === 'trigger' ? await startPlc(runtime, layout, parts, truthOfTrigger, stop.signal) : undefined;
  await new Promise<void>((resolve) => {
    if (seconds) setTimeout(resolve, seconds * 1000);
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stop.abort();
  // Parts already announced or in view get their verdicts (at the latest by their deadline).
  await new Promise((r) => setTimeout(r, config.parts.deadlineMs + 200));
  const elapsed = (Date.now() - started) / 1000;
  const health = runtime.health().cameras[0]!;
  await plc?.done;
  await runtime.stop();
  await plc?.client.endAsync(true);
  const summary = {
    mode,
    parts: tally.parts,
    rejects: tally.rejects,
    expectedRejects: tally.expectedRejects,
    fps: Number((health.frames / elapsed).toFixed(2)),
    missedRejects: tally.missed,
    falseRejects: tally.falseRejects,
    noVerdict: tally.noVerdict,
    ...(plc ? { triggers: plc.sent(), unanswered: plc.sent() - tally.parts } : {}),
    droppedFrames: health.droppedFrames,
    p50Ms: health.p50Ms,
    p99Ms: health.p99Ms,
  };
  console.log(JSON.stringify(summary));
}

/** The simulated PLC: triggers every part of the looping video, by the camera's frame clock. */
async function startPlc(runtime: DeviceRuntime, layout: ReturnType<typeof conveyorLayout>, parts: Part[], truth: Map<string, Part>, signal: AbortSignal) {
  const client = await mqtt.connectAsync(runtime.brokerUrl, { protocolVersion: 4, clientId: 'demo-plc' });
  const loops = 1000;
  const spans: PartSpan[] = [];
  for (let loop = 0; loop < loops; loop++) {
    for (const s of layout.spans) spans.push({ ...s, firstFrame: s.firstFrame + loop * layout.frames, lastFrame: s.lastFrame + loop * layout.frames, wholeFrom: s.wholeFrom + loop * layout.frames, wholeTo: s.wholeTo + loop * layout.frames });
  }
  const partId = (k: number) => `PLC-${String(k + 1).padStart(5, '0')}`;
  spans.forEach((_, k) => truth.set(partId(k), parts[k % parts.length]!));
  let count = 0;
  const send = mqttTriggers(client, 'linesight/demo/cam1');
  // The camera's latest frame on its frame clock (free of the load's jitter); the video plays from its first frame.
  const clock = () => {
    const frame = runtime.lastFrame('cam1');
    return frame ? { index: frame.seq, ts: frame.ts } : null;
  };
  const done = runPlc({ send: async (t) => { count++; await send(t); }, spans, fps: FPS, clock, partId, signal });
  return { client, done, sent: () => count };
}

try {
  await main();
} catch (err) {
  // Known failures (a port in use, a missing ffmpeg) in one line; anything else with its stack.
  if (err instanceof EmbeddedBrokerError || err instanceof HealthServerError || err instanceof FfmpegNotFoundError) {
    console.error(`demo: ${err.message}${err instanceof EmbeddedBrokerError || err instanceof HealthServerError ? ' (or pass --port / --http-port)' : ''}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
