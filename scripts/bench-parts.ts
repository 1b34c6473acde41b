/**
 * `npm run bench:parts [-- --minutes 3 --rates 5,10,15]`: part-synchronous
 * inspection against a real RTSP camera at line rates. For each rate a
 * conveyor video is encoded at 30 fps with the parts shown whole one after
 * another (30/rate frames each, good and defective), a local RTSP server
 * (GStreamer) plays it, and a simulated PLC (fixtures/plc-simulator.ts)
 * publishes one MQTT trigger per part, timed so that the part's one-frame
 * window (`window: {kind: frames, frames: 1}`) takes the middle frame of the
 * part (the video opens with a black lead-in that tells the PLC which video
 * frame the camera is at). Per rate it reports trigger-to-verdict latency (the trigger leaving
 * the PLC to the verdict arriving at the PLC) p50/p99, parts without a
 * verdict (and what the fail-safe did), and missed / false rejects against
 * the parts' ground truth (labels of the generated parts), by part id.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import { conveyorLayout, conveyorSequence, encodeConveyorVideo, prepareSampleProduct, type Part } from '../fixtures/conveyor.ts';
import { mqttTriggers, runPlc, type SentTrigger } from '../fixtures/plc-simulator.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import sharp from 'sharp';
import type { Frame } from '../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { percentile } from '../runtime/latency-window.ts';
import type { PartVerdictPayload } from '../runtime/parts/payloads.ts';
import { round, writeBenchResult } from './bench-common.ts';

const args = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rates: { type: 'string', default: '5,10,15' },
    dir: { type: 'string', default: '.bench/parts' },
  },
}).values;
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got "${args.minutes}"`);
const rates = args.rates.split(',').map(Number);
const dir = resolve(args.dir);
const FPS = 30;
const say = (line: string) => process.stderr.write(`${line}\n`);

interface RateResult {
  partsPerSecond: number;
  triggers: number;
  verdicts: number;
  verdictLatencyP50Ms: number | null;
  verdictLatencyP99Ms: number | null;
  noVerdict: number;
  /** No-verdict parts the fail-safe rejected. */
  failSafeRejects: number;
  missed: number;
  falseRejects: number;
  unanswered: number;
  triggerErrors: number;
}

const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 40, testGood: 12, testPerDefect: 3, log: say });
const sequence = conveyorSequence(sample.good, sample.defective);

/**
 * A black image: the video opens with two seconds of it, so the simulated PLC
 * knows which frame of the video the camera delivers (the first frame that is
 * not black is the first part's), whatever frames the RTSP session lost while
 * it started.
 */
const syncImage = join(dir, 'sync-black.png');
await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(syncImage);
const syncPart: Part = { kind: 'sync', defective: false, image: syncImage };

async function videoFor(rate: number): Promise<{ path: string; parts: Part[]; partFrames: number; syncParts: number }> {
  const partFrames = Math.max(1, Math.round(FPS / rate));
  const count = Math.ceil(minutes * 60 * rate) + 2 * rate; // a little video after the last triggered part
  const syncParts = 2 * rate;
  const parts = [...Array.from({ length: syncParts }, () => syncPart), ...Array.from({ length: count }, (_, i) => sequence[i % sequence.length]!)];
  const path = join(dir, `parts-${rate}pps-${count}-sync.mp4`);
  if (!existsSync(path)) {
    say(`encoding ${count} parts at ${rate} parts/s (${partFrames} frames each at ${FPS} fps)`);
    await encodeConveyorVideo(parts, path, { size: 224, fps: FPS, partFrames });
  }
  return { path, parts, partFrames, syncParts };
}

/** Mean grey level of an RGB24 frame, sampled. */
function meanLevel(rgb: Buffer): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < rgb.length; i += 3 * 97) {
    sum += rgb[i]! + rgb[i + 1]! + rgb[i + 2]!;
    n += 3;
  }
  return sum / n;
}

async function runRate(rate: number): Promise<RateResult> {
  const { path, parts, partFrames, syncParts } = await videoFor(rate);
  const layout = conveyorLayout(parts, { partFrames, fps: FPS });
  const camera = await startRtspCamera({ video: path });
  // The camera's frame clock: video index of the latest frame, from the end of the black lead-in.
  let clockState: { index: number; ts: number } | null = null;
  const onFrame = (frame: Frame) => {
    if (clockState) clockState = { index: clockState.index + 1, ts: frame.ts };
    else if (meanLevel(frame.data) > 30) clockState = { index: syncParts * partFrames, ts: frame.ts };
  };
  const runtime = await DeviceRuntime.start(
    deviceConfigSchema.parse({
      dataDir: sample.dataDir,
      mqtt: { deviceId: 'bench', embeddedBroker: { port: 0 }, outboxDir: join(dir, `outbox-${rate}-${Date.now()}`) },
      http: { enabled: false },
      // Parts fill the view (no belt to learn), so every frame of a window counts.
      parts: { mode: 'trigger', window: { kind: 'frames', frames: 1 }, deadlineMs: 500, inViewCheck: false },
      cameras: [{ id: 'cam1', url: camera.url, product: sample.product, width: 224, height: 224, fps: FPS }],
    }),
    { logger: createLogger('bench-parts'), onFrame },
  );
  const client = await mqtt.connectAsync(runtime.brokerUrl, { protocolVersion: 4 });
  const answers = new Map<string, { payload: PartVerdictPayload; at: number }>();
  client.on('message', (_topic, body) => {
    const payload = JSON.parse(body.toString()) as PartVerdictPayload;
    if (!answers.has(payload.partId)) answers.set(payload.partId, { payload, at: Date.now() });
  });
  await client.subscribeAsync('linesight/bench/cam1/part', { qos: 1 });
  const clock = () => clockState;
  const interval = 1000 / FPS;
  // The window opens half a frame before the part's middle frame is due.
  const spans = layout.spans
    .slice(syncParts, syncParts + Math.ceil(minutes * 60 * rate))
    .map((s) => ({ ...s, firstFrame: s.firstFrame + Math.floor(partFrames / 2), lastFrame: s.firstFrame + Math.floor(partFrames / 2) }));
  const sentAt = new Map<string, SentTrigger & { delayMs: number }>();
  const send = mqttTriggers(client, 'linesight/bench/cam1');
  const sent = await runPlc({
    send: async (t) => {
      sentAt.set(t.partId, { partId: t.partId, part: syncParts + Number(t.partId.slice(1)) - 1, sentAt: Date.now(), delayMs: t.delayMs });
      await send(t);
    },
    spans,
    fps: FPS,
    clock,
    marginMs: interval / 2,
    leadMs: 0,
    partId: (k) => `P${k + 1}`,
  });
  await new Promise((r) => setTimeout(r, 1500));
  const triggerErrors = runtime.partCounters().cam1!.triggerErrors;
  await runtime.stop();
  await client.endAsync(true);
  await camera.stop();

  const latencies: number[] = [];
  let noVerdict = 0;
  let failSafeRejects = 0;
  let missed = 0;
  let falseRejects = 0;
  for (const s of sent) {
    s.part = sentAt.get(s.partId)!.part;
    const answer = answers.get(s.partId);
    if (!answer) continue;
    const trigger = sentAt.get(s.partId)!;
    latencies.push(answer.at - trigger.sentAt - trigger.delayMs);
    const v = answer.payload;
    const defective = parts[s.part]!.defective;
    if (v.verdict === 'no_verdict') {
      noVerdict++;
      if (v.action === 'reject') failSafeRejects++;
      continue;
    }
    if (v.verdict === 'reject' && !defective) falseRejects++;
    if (v.verdict === 'ok' && defective) missed++;
  }
  const result: RateResult = {
    partsPerSecond: rate,
    triggers: sent.length,
    verdicts: sent.filter((s) => answers.has(s.partId)).length,
    verdictLatencyP50Ms: latencies.length ? round(percentile(latencies, 50)!, 1) : null,
    verdictLatencyP99Ms: latencies.length ? round(percentile(latencies, 99)!, 1) : null,
    noVerdict,
    failSafeRejects,
    missed,
    falseRejects,
    unanswered: sent.filter((s) => !answers.has(s.partId)).length,
    triggerErrors,
  };
  say(
    `${rate} parts/s: ${result.triggers} triggers, ${result.verdicts} answered; trigger-to-verdict p50 ${result.verdictLatencyP50Ms} ms, p99 ${result.verdictLatencyP99Ms} ms; ` +
      `no verdict ${noVerdict} (fail-safe rejected ${failSafeRejects}); missed ${missed}, false rejects ${falseRejects}; trigger errors ${triggerErrors}`,
  );
  return result;
}

const results: RateResult[] = [];
for (const rate of rates) results.push(await runRate(rate));
writeBenchResult('parts', { minutes, fps: FPS, results });
