/**
 * `npm run bench:stream [-- --seconds 300 --cameras 1,2,4,6]`: the streaming
 * runtime on a real RTSP camera. A local RTSP server (GStreamer) plays the
 * conveyor video at 15 fps, 224x224; the runtime decodes it with ffmpeg
 * (every camera of a count reads the same stream), scores every frame it
 * can (frames of cameras waiting together as one batch), and publishes to
 * the embedded broker. Per camera count it reports sustained scored fps per
 * camera, dropped frames, frame-to-PUBACK latency of reject signals
 * (p50/p99), process CPU, how busy the whole machine was (all cores, and
 * the share the hypervisor stole: scripts/machine-cpu.ts) and the RSS drift
 * between the first and the last minute (a leak shows as drift). Before the
 * cameras it measures what batching buys (ms per frame, N frames in one
 * batch against N single runs) and the cost of a tiled frame (1, 4, 9 tiles
 * of the input size as one batch) with what a 1280x960 camera at 15 fps
 * needs.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { percentile } from '../runtime/latency-window.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import { median, round, scoringThreadFlag, writeBenchResult } from './bench-common.ts';
import { startMachineCpu } from './machine-cpu.ts';
import { conveyorSequence, encodeConveyorVideo, prepareSampleProduct } from '../fixtures/conveyor.ts';
import { existsSync } from 'node:fs';
import { inferenceSettingsSchema } from '../config/enroll.ts';
import { readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { cameraNeeds, measureBatchCost, measureTileCost, type TileCost } from './batch-cost.ts';

const args = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    cameras: { type: 'string', default: '1,2' },
    dir: { type: 'string', default: '.bench/stream' },
    warmup: { type: 'string', default: '20' },
    'batch-sizes': { type: 'string', default: '1,2,4,6' },
    tiles: { type: 'string', default: '1,4,9' },
    rounds: { type: 'string', default: '30' },
    'max-batch': { type: 'string', default: String(inferenceSettingsSchema.parse({}).maxBatch) },
    /** Scores frames on the device's scoring thread (`on`, the default) or its main thread (`off`). */
    'scoring-thread': { type: 'string', default: 'on' },
    /** Scoring threads (`inference.scoringThreads`): cameras share them out, each thread with its own lane. */
    'scoring-threads': { type: 'string', default: String(inferenceSettingsSchema.parse({}).scoringThreads) },
  },
}).values;
const scoringThread = scoringThreadFlag(args['scoring-thread']);
const seconds = Number(args.seconds);
const warmup = Number(args.warmup);
const cameraCounts = args.cameras.split(',').filter(Boolean).map(Number);
const batchSizes = args['batch-sizes'].split(',').filter(Boolean).map(Number);
const tileCounts = args.tiles.split(',').filter(Boolean).map(Number);
const rounds = Number(args.rounds);
const maxBatch = Number(args['max-batch']);
const scoringThreads = Number(args['scoring-threads']);
const dir = resolve(args.dir);
const say = (line: string) => process.stderr.write(`${line}\n`);

const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 40, testGood: 12, testPerDefect: 3, log: say });
// The RTSP camera plays the video once: make it last the whole run (one part per second).
const sequence = conveyorSequence(sample.good, sample.defective);
const repeats = Math.ceil((warmup + seconds + 60) / sequence.length);
const video = join(dir, `conveyor-${repeats * sequence.length}s.mp4`);
if (!existsSync(video)) {
  say(`encoding a ${repeats * sequence.length} s conveyor video`);
  await encodeConveyorVideo(Array.from({ length: repeats }, () => sequence).flat(), video, { size: 224, fps: 15 });
}

interface Run {
  fps: number;
  fpsPerCamera: number[];
  droppedFrames: number;
  rejects: number;
  rejectLatencyP50Ms: number | null;
  rejectLatencyP99Ms: number | null;
  rejectStoredP99Ms: number | null;
  rejectSendP50Ms: number | null;
  rejectSendP99Ms: number | null;
  frameLatencyP50Ms: number | null;
  frameLatencyP99Ms: number | null;
  cpuPct: number;
  /** % of all the machine's cores busy (runtime, ffmpeg, camera server, anything else) and % the hypervisor stole. */
  machineCpuPct: number;
  stealPct: number;
  rssStartMb: number;
  rssEndMb: number;
  rssDriftPct: number;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runWith(cameraCount: number): Promise<Run> {
  const server = await startRtspCamera({ video });
  const config = deviceConfigSchema.parse({
    dataDir: sample.dataDir,
    mqtt: { deviceId: 'bench', embeddedBroker: { port: 0 }, outboxDir: join(dir, `outbox-${cameraCount}`) },
    http: { enabled: false },
    inference: { maxBatch, scoringThread, scoringThreads },
    decision: { debounceFrames: 2, cooldownMs: 500 },
    cameras: Array.from({ length: cameraCount }, (_, i) => ({ id: `cam${i + 1}`, url: server.url, product: sample.product, width: 224, height: 224, fps: 15 })),
  });
  const ackLatencies: number[] = [];
  const frameLatencies: number[] = [];
  const storedLatencies: number[] = [];
  const storedAt = new Map<number, number>();
  const sendLatencies: number[] = [];
  const scoredPerCamera = new Map<string, number>();
  let measuring = false;
  const runtime = await DeviceRuntime.start(config, {
    logger: createLogger('bench'),
    onScored: (s) => {
      if (!measuring) return;
      scoredPerCamera.set(s.camera, (scoredPerCamera.get(s.camera) ?? 0) + 1);
      frameLatencies.push(s.result.latencyMs);
      if (s.reject) {
        storedLatencies.push(Date.now() - s.reject.ts);
        storedAt.set(s.reject.seq, Date.now());
      }
    },
  });
  runtime.publisher.on('rejectAcked', (a) => {
    if (!measuring) return;
    ackLatencies.push(a.ackedAt - a.frameTs);
    const stored = storedAt.get(a.seq);
    if (stored !== undefined) sendLatencies.push(a.ackedAt - stored);
  });
  say(`${cameraCount} camera(s): warming up ${warmup} s, then measuring ${seconds} s`);
  await sleep(warmup * 1000);
  const droppedBefore = runtime.health().cameras.reduce((a, c) => a + c.droppedFrames, 0);
  measuring = true;
  const cpu0 = process.cpuUsage();
  const machineCpu = startMachineCpu();
  const t0 = performance.now();
  const rss: { t: number; mb: number }[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(5000);
    rss.push({ t: (performance.now() - t0) / 1000, mb: process.memoryUsage().rss / 2 ** 20 });
    const h = runtime.health();
    say(`  t=${Math.round((performance.now() - t0) / 1000)}s ` + h.cameras.map((c) => `${c.id} ${c.state} fps ${c.fps.toFixed(1)} dropped ${c.droppedFrames} p99 ${c.p99Ms ?? '-'} ms`).join(' | ') + ` rss ${rss.at(-1)!.mb.toFixed(0)} MB`);
  }
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const machine = machineCpu();
  const droppedFrames = runtime.health().cameras.reduce((a, c) => a + c.droppedFrames, 0) - droppedBefore;
  await runtime.stop();
  await server.stop();
  // RSS drift: median of the last minute against the median of the first minute.
  const window = Math.min(60, elapsed / 3);
  const first = median(rss.filter((r) => r.t <= window).map((r) => r.mb));
  const last = median(rss.filter((r) => r.t >= elapsed - window).map((r) => r.mb));
  const fpsPerCamera = config.cameras.map((c) => round((scoredPerCamera.get(c.id) ?? 0) / elapsed));
  return {
    fps: round(Math.min(...fpsPerCamera)),
    fpsPerCamera,
    droppedFrames,
    rejects: ackLatencies.length,
    rejectLatencyP50Ms: round(percentile(ackLatencies, 50) ?? NaN, 1),
    rejectLatencyP99Ms: round(percentile(ackLatencies, 99) ?? NaN, 1),
    rejectStoredP99Ms: round(percentile(storedLatencies, 99) ?? NaN, 1),
    rejectSendP50Ms: round(percentile(sendLatencies, 50) ?? NaN, 1),
    rejectSendP99Ms: round(percentile(sendLatencies, 99) ?? NaN, 1),
    frameLatencyP50Ms: round(percentile(frameLatencies, 50) ?? NaN, 1),
    frameLatencyP99Ms: round(percentile(frameLatencies, 99) ?? NaN, 1),
    cpuPct: round(((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100, 1),
    machineCpuPct: machine.busyPct,
    stealPct: machine.stealPct,
    rssStartMb: round(first, 1),
    rssEndMb: round(last, 1),
    rssDriftPct: round(((last - first) / first) * 100, 2),
    seconds: round(elapsed, 1),
  };
}

/** Batched against sequential scoring and tiled frames, on the sample product's test images. */
async function measureScoringCost() {
  const scorer = await ProductScorer.load(sample.dataDir, sample.product, inferenceSettingsSchema.parse({}));
  const pool = await Promise.all([...sample.good, ...sample.defective].map((p) => readImage(p.image, scorer.inputSize)));
  say(`scoring cost: batch sizes ${batchSizes.join(',')} and tiles ${tileCounts.join(',')}, ${rounds} interleaved rounds`);
  const batch = await measureBatchCost(scorer, pool, batchSizes, rounds);
  for (const [n, c] of Object.entries(batch)) say(`  batch of ${n}: ${c.batchedMs} ms per frame batched, ${c.sequentialMs} ms sequential (x${c.speedup}); CPU ${c.batchedCpuMs} / ${c.sequentialCpuMs} ms per frame`);
  const tileCost = await measureTileCost(scorer, pool, tileCounts, rounds);
  const tiles: Record<string, number> = {};
  const tileNeeds: Record<string, ReturnType<typeof cameraNeeds> & { cpuMs: number }> = {};
  for (const [k, c] of Object.entries(tileCost)) {
    tiles[k] = c.ms;
    tileNeeds[k] = { ...cameraNeeds(c, 15), cpuMs: c.cpuMs };
    say(`  ${k} tile(s) of ${scorer.inputSize.width} px: ${c.ms} ms per frame (CPU ${c.cpuMs} ms); at 15 fps ${tileNeeds[k]!.laneShare} of the lane, ${tileNeeds[k]!.cores} cores`);
  }
  await scorer.release();
  const camera1280x960 = tileCounts.length > 0 ? fullResolutionNeeds(tileCost, scorer.inputSize.width) : undefined;
  if (camera1280x960) {
    say(`  a 1280x960 camera at 15 fps cut into ${camera1280x960.tiles} tiles of ${scorer.inputSize.width} px: about ${camera1280x960.cpuMsPerFrame} ms CPU per frame, ` +
      `${camera1280x960.cores} cores, ${camera1280x960.laneShare} of one lane (budget ${camera1280x960.budgetMs} ms per frame)`);
  }
  return { batch, tiles, tileNeeds, camera1280x960 };
}

/**
 * A 1280x960 frame at full resolution, cut into tiles of the input size
 * (the last row and column overlapping): its tile count and, from the
 * per-tile cost of the largest measured tile count, what it needs at 15 fps.
 */
function fullResolutionNeeds(tileCost: Record<string, TileCost>, tile: number) {
  const tiles = Math.ceil(1280 / tile) * Math.ceil(960 / tile);
  const largest = Math.max(...Object.keys(tileCost).map(Number));
  const per = tileCost[String(largest)]!;
  const cost = { ms: (per.ms / largest) * tiles, cpuMs: (per.cpuMs / largest) * tiles };
  return { tiles, fromTiles: largest, msPerFrame: round(cost.ms), cpuMsPerFrame: round(cost.cpuMs), ...cameraNeeds(cost, 15) };
}

const scoring = batchSizes.length + tileCounts.length > 0 ? await measureScoringCost() : undefined;

const cameras: Record<string, Run> = {};
for (const n of cameraCounts) {
  const r = await runWith(n);
  cameras[String(n)] = r;
  say(`${n} camera(s): ${r.fps} fps per camera, ${r.droppedFrames} dropped, reject frame-to-PUBACK p50 ${r.rejectLatencyP50Ms} ms p99 ${r.rejectLatencyP99Ms} ms ` +
    `(${r.rejects} rejects), CPU ${r.cpuPct} % of one core (runtime process; ffmpeg not included), machine ${r.machineCpuPct} % of all cores busy (steal ${r.stealPct} %), RSS ${r.rssStartMb} -> ${r.rssEndMb} MB (${r.rssDriftPct} %)`);
}
writeBenchResult('stream', { name: 'stream', size: 224, cameraFps: 15, maxBatch, scoringThread, scoringThreads, cameras, ...scoring });
