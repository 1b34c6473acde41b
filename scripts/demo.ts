/**
 * `npm run demo [-- --seconds N]`: the whole product on one machine.
 *
 * Generates a sample product (washers) with golden images and a few defective
 * parts, enrolls it, encodes a conveyor video (one part per second, good and
 * defective), and runs the real runtime on it: ffmpeg plays the video at real
 * time through the camera ingest path, every frame is scored, results and
 * reject signals go to the embedded MQTT broker on 127.0.0.1:1883. One line
 * is printed per part. With --seconds N it stops after N seconds and prints
 * one JSON line {parts, rejects, expectedRejects, fps, ...}.
 *
 * Watch the rejects from a second terminal:
 *   npx mqtt sub -h 127.0.0.1 -p 1883 -t 'linesight/+/+/reject' -v
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import type { ScoredFrame } from '../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { HealthServerError } from '../runtime/health-server.ts';
import { FfmpegNotFoundError } from '../runtime/ingest/find-ffmpeg.ts';
import { EmbeddedBrokerError } from '../runtime/mqtt/embedded-broker.ts';
import { conveyorSequence, encodeConveyorVideo, prepareSampleProduct, CONVEYOR_PRODUCT as PRODUCT, type Part } from '../fixtures/conveyor.ts';

const SIZE = 224;
const FPS = 15;
const PART_FRAMES = 15; // one part per second

const args = parseArgs({
  options: {
    seconds: { type: 'string' },
    dir: { type: 'string', default: '.linesight-demo' },
    port: { type: 'string', default: '1883' },
    'http-port': { type: 'string', default: '9464' },
    fresh: { type: 'boolean', default: false },
  },
}).values;

const seconds = args.seconds === undefined ? undefined : Number(args.seconds);
if (seconds !== undefined && !(seconds > 0)) throw new Error(`--seconds must be a positive number, got "${args.seconds}"`);
const dir = resolve(args.dir);
const say = (line: string) => process.stderr.write(`${line}\n`);

async function prepare(): Promise<{ data: string; video: string; parts: Part[] }> {
  if (args.fresh) await rm(dir, { recursive: true, force: true });
  const sample = await prepareSampleProduct({ dir, size: SIZE, goldenSamples: 40, testGood: 12, testPerDefect: 3, log: say });
  const parts = conveyorSequence(sample.good, sample.defective);
  const video = join(dir, 'conveyor.mp4');
  if (!existsSync(video)) {
    say(`encoding the conveyor video (${parts.length} parts, one per second) to ${video}`);
    await encodeConveyorVideo(parts, video, { size: SIZE, fps: FPS, partFrames: PART_FRAMES });
  }
  return { data: sample.dataDir, video, parts };
}

async function main(): Promise<void> {
  const { data, video, parts } = await prepare();
  const config = deviceConfigSchema.parse({
    dataDir: data,
    mqtt: { deviceId: 'demo', embeddedBroker: { host: '127.0.0.1', port: Number(args.port) } },
    http: { port: Number(args['http-port']) },
    decision: { debounceFrames: 2, cooldownMs: 500 },
    cameras: [{ id: 'cam1', url: video, product: PRODUCT, width: SIZE, height: SIZE, fps: FPS }],
  });

  // Per-part tally, by the frame's position in the (looping) video.
  const tally = { parts: 0, rejects: 0, expectedRejects: 0, missed: 0, falseRejects: 0, frames: 0 };
  let current: { index: number; maxScore: number; threshold: number; rejected: boolean; frames: number } | undefined;
  let firstSeq: number | undefined;
  const finishPart = () => {
    if (!current) return;
    const part = parts[current.index % parts.length]!;
    tally.parts++;
    if (part.defective) tally.expectedRejects++;
    if (current.rejected) tally.rejects++;
    if (current.rejected && !part.defective) tally.falseRejects++;
    if (!current.rejected && part.defective) tally.missed++;
    const verdict = current.rejected ? 'REJECT' : 'pass  ';
    const check = current.rejected === part.defective ? 'ok' : part.defective ? 'MISSED' : 'FALSE REJECT';
    say(`part ${String(tally.parts).padStart(3)}  ${(part.defective ? `defective (${part.kind})` : 'good').padEnd(22)} ` +
      `max score ${current.maxScore.toFixed(2).padStart(6)} / threshold ${current.threshold.toFixed(2)}  ${verdict}  ${check}`);
  };
  const onScored = (s: ScoredFrame) => {
    tally.frames++;
    firstSeq ??= s.result.seq;
    const index = Math.floor((s.result.seq - firstSeq) / PART_FRAMES);
    if (!current || index !== current.index) {
      finishPart();
      current = { index, maxScore: -Infinity, threshold: s.result.threshold, rejected: false, frames: 0 };
    }
    current.frames++;
    current.maxScore = Math.max(current.maxScore, s.result.score);
    if (s.reject) current.rejected = true;
  };

  const logger = createLogger('demo');
  const runtime = await DeviceRuntime.start(config, { logger, onScored });
  const started = Date.now();
  say(`\nlinesight demo: camera cam1 plays ${video} through ffmpeg; MQTT broker ${runtime.brokerUrl}`);
  say(`watch the reject signals:  npx mqtt sub -h 127.0.0.1 -p ${new URL(runtime.brokerUrl).port} -t 'linesight/+/+/reject' -v`);
  if (runtime.healthUrl) say(`health: ${runtime.healthUrl}/health   metrics: ${runtime.healthUrl}/metrics`);
  say(seconds ? `running for ${seconds} s\n` : 'Ctrl-C stops\n');

  await new Promise<void>((resolve) => {
    if (seconds) setTimeout(resolve, seconds * 1000);
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const elapsed = (Date.now() - started) / 1000;
  const health = runtime.health().cameras[0]!;
  await runtime.stop();
  // A part cut off by the stop counts only if it was seen for most of its time.
  if (current && current.frames >= PART_FRAMES / 2) finishPart();
  const summary = {
    parts: tally.parts,
    rejects: tally.rejects,
    expectedRejects: tally.expectedRejects,
    fps: Number((tally.frames / elapsed).toFixed(2)),
    missedRejects: tally.missed,
    falseRejects: tally.falseRejects,
    droppedFrames: health.droppedFrames,
    p50Ms: health.p50Ms,
    p99Ms: health.p99Ms,
  };
  console.log(JSON.stringify(summary));
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
