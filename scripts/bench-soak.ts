/**
 * `npm run bench:soak -- --minutes 30`: the runtime under a long, unkind
 * shift. One RTSP camera (GStreamer playing the conveyor video at 15 fps,
 * 224x224, with defective parts, so rejects are sent) feeds the runtime; a
 * mosquitto broker is restarted every minute and the camera is killed every
 * 90 s (back after 2 s, as a camera rebooting); the UI is polled every second
 * (GET /health, /api/cameras, /api/products). A PLC stand-in subscribes with
 * a persistent session and counts rejects by seq.
 *
 * Reports RSS and open-file drift of the runtime (this process: the runtime
 * runs in it; the median of the first minute against the last), rejects
 * stored vs received by seq (lost = stored, never received), and every
 * recovery with its time: broker restart -> publisher online again; camera
 * back -> frames streaming again. Ends with one JSON line, also written to
 * `.bench/soak.json`.
 *
 * Memory is sampled every 5 s and printed every 30 s by component (V8 heap,
 * external buffers, libvips' cache, anonymous vs file-backed RSS, threads),
 * with each component's drift in the JSON line, so growth can be traced to
 * where it lives. The runtime gets the malloc settings of its systemd unit
 * (`--malloc-env inherit` keeps the shell's, to compare). `--records off`
 * runs without the evidence store; `--heap-after-gc` adds the live JS heap
 * after a forced full collection.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import mqtt from 'mqtt';
import sharp from 'sharp';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import { conveyorSequence, encodeConveyorVideo, prepareSampleProduct } from '../fixtures/conveyor.ts';
import { startMosquitto } from '../fixtures/mosquitto.ts';
import { median, round, writeBenchResult } from './bench-common.ts';
import { runWithUnitLibcEnvironment } from './unit-environment.ts';

const args = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    dir: { type: 'string', default: '.bench/soak' },
    'broker-every': { type: 'string', default: '60' },
    'camera-every': { type: 'string', default: '90' },
    /** `off` runs without the evidence store (records.enabled false), to compare. */
    records: { type: 'string', default: 'on' },
    /** Also measure the live JS heap after a full collection every 30 s (forces those collections). */
    'heap-after-gc': { type: 'boolean', default: false },
    /** `unit` (default): malloc settings of systemd/linesight@.service, as deployed; `inherit`: this shell's, to compare. */
    'malloc-env': { type: 'string', default: 'unit' },
  },
}).values;
if (args['malloc-env'] !== 'unit' && args['malloc-env'] !== 'inherit') throw new Error(`--malloc-env "${args['malloc-env']}": give unit or inherit`);
// The runtime runs in this process: it gets the C library settings the unit gives it (re-running this script with them if needed).
if (args['malloc-env'] === 'unit') runWithUnitLibcEnvironment();
const mallocEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_') || k === 'GLIBC_TUNABLES'));
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes "${args.minutes}": give a number of minutes above 0`);
const brokerEveryMs = Number(args['broker-every']) * 1000;
const cameraEveryMs = Number(args['camera-every']) * 1000;
const dir = resolve(args.dir);
if (args.records !== 'on' && args.records !== 'off') throw new Error(`--records "${args.records}": give on or off`);
const say = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Open file descriptors of this process (the runtime's). */
const openFds = () => readdirSync('/proc/self/fd').length;
const MB = 2 ** 20;

/** Fields of /proc/self/status in MB (RssAnon: the heap, malloc arenas and buffers; RssFile: mapped code and files) and the thread count. */
function procStatus(): { rssAnonMb: number; rssFileMb: number; threads: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rssAnonMb: field('RssAnon') / 1024, rssFileMb: field('RssFile') / 1024, threads: field('Threads') };
}

/**
 * One resource sample. RSS is split into what V8 holds (heapTotal: the JS heap
 * it reserved; heapUsed: live objects and garbage not yet collected), what
 * native code reports to V8 (external, of which arrayBuffers: Buffers and typed
 * arrays), and the anonymous/file-backed split of the process; RSS growing
 * while these stay flat points at native allocations (ONNX Runtime, libvips,
 * SQLite, malloc arenas).
 */
function resourceSample(t: number) {
  const m = process.memoryUsage();
  // libvips' operation cache (sharp.cache() without arguments only reports it).
  const vips = sharp.cache();
  return {
    t,
    rssMb: m.rss / MB,
    heapTotalMb: m.heapTotal / MB,
    heapUsedMb: m.heapUsed / MB,
    externalMb: m.external / MB,
    arrayBuffersMb: m.arrayBuffers / MB,
    vipsCacheMb: vips.memory.current,
    vipsCacheItems: vips.items.current,
    ...procStatus(),
    fds: openFds(),
    liveHeapMb: NaN,
  };
}

/** A full collection on demand (`--heap-after-gc`): V8's gc() taken from a fresh context once the flag is set. */
const fullGc = args['heap-after-gc']
  ? (() => {
      setFlagsFromString('--expose-gc');
      return runInNewContext('gc') as () => void;
    })()
  : undefined;
type ResourceSample = ReturnType<typeof resourceSample>;

/** Waits until `check` holds (polled every 50 ms); the time it took in ms, or null after `timeoutMs`. */
async function timeUntil(check: () => boolean, timeoutMs: number): Promise<number | null> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) return null;
    await sleep(50);
  }
  return Math.round(performance.now() - t0);
}

const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 24, testGood: 12, testPerDefect: 3, log: say });
const sequence = conveyorSequence(sample.good, sample.defective);
const repeats = Math.ceil((minutes * 60 + 120) / sequence.length);
const video = join(dir, `conveyor-${repeats * sequence.length}s.mp4`);
if (!existsSync(video)) {
  say(`encoding a ${repeats * sequence.length} s conveyor video`);
  await encodeConveyorVideo(Array.from({ length: repeats }, () => sequence).flat(), video, { size: 224, fps: 15 });
}

const broker = await startMosquitto({ persistence: true });
const camera = await startRtspCamera({ video });
const config = deviceConfigSchema.parse({
  dataDir: sample.dataDir,
  mqtt: { deviceId: 'soak', url: broker.url, outboxDir: join(dir, 'outbox'), reconnect: { initialMs: 100, maxMs: 1000 } },
  http: { port: 0 },
  decision: { debounceFrames: 2, cooldownMs: 500 },
  cameras: [{ id: 'cam1', url: camera.url, product: sample.product, width: 224, height: 224, fps: 15 }],
  records: { enabled: args.records === 'on' },
});

// The PLC stand-in: a persistent session, so rejects published while it reconnects wait for it at the broker.
const received = new Set<number>();
let duplicates = 0;
const plc = mqtt.connect(broker.url, { clientId: 'soak-plc', clean: false, reconnectPeriod: 200, connectTimeout: 2000 });
plc.on('connect', (ack) => {
  if (!ack.sessionPresent) plc.subscribe('#', { qos: 1 });
});
plc.on('error', () => {});
plc.on('message', (topic, payload) => {
  if (!topic.endsWith('/reject')) return;
  const seq = (JSON.parse(payload.toString('utf8')) as { seq?: number }).seq;
  if (typeof seq !== 'number') return;
  if (received.has(seq)) duplicates++;
  received.add(seq);
});
await timeUntil(() => plc.connected, 5000);

const stored = new Set<number>();
let scored = 0;
const runtime = await DeviceRuntime.start(config, {
  logger: createLogger('soak'),
  onScored: (s) => {
    scored++;
    if (s.reject) stored.add(s.reject.seq);
  },
});
const base = runtime.healthUrl!;
const cameraState = () => runtime.health().cameras[0]?.state;
const publisherState = () => runtime.health().mqtt.state;

interface Recovery {
  what: 'broker' | 'camera';
  atS: number;
  ms: number | null;
}
const recoveries: Recovery[] = [];
const samples: ResourceSample[] = [];
let polls = 0;
let pollFailures = 0;
let healthDegraded = 0;
const pollFailureKinds = new Map<string, number>();
const pollFailed = (what: string) => {
  pollFailures++;
  pollFailureKinds.set(what, (pollFailureKinds.get(what) ?? 0) + 1);
};
const t0 = performance.now();
const elapsedS = () => (performance.now() - t0) / 1000;
const endAt = minutes * 60_000;
let stopping = false;

async function pollUi(): Promise<void> {
  while (!stopping) {
    for (const path of ['/health', '/api/cameras', '/api/products']) {
      polls++;
      try {
        const r = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(5000) });
        await r.arrayBuffer();
        // /health answers 503 by design while a camera or the broker is down: counted apart, not as a failure.
        if (path === '/health' && r.status === 503) healthDegraded++;
        else if (r.status >= 500) pollFailed(`${path} HTTP ${r.status}`);
      } catch (err) {
        pollFailed(`${path} ${(err as Error).name}`);
      }
    }
    await sleep(1000);
  }
}

async function restartBrokerEvery(): Promise<void> {
  for (let next = brokerEveryMs; next < endAt; next += brokerEveryMs) {
    await sleep(Math.max(0, next - (performance.now() - t0)));
    if (stopping) return;
    await broker.stop();
    await timeUntil(() => publisherState() !== 'online', 5000);
    // Measured from the broker's start: its own start-up time counts against the recovery.
    const started = performance.now();
    await broker.start();
    const ms = (await timeUntil(() => publisherState() === 'online', 30_000)) === null ? null : Math.round(performance.now() - started);
    recoveries.push({ what: 'broker', atS: round(elapsedS(), 1), ms });
    say(`  t=${Math.round(elapsedS())}s broker restarted: publisher online again after ${ms ?? 'no recovery within 30 s'} ms`);
  }
}

async function killCameraEvery(): Promise<void> {
  for (let next = cameraEveryMs; next < endAt; next += cameraEveryMs) {
    await sleep(Math.max(0, next - (performance.now() - t0)));
    if (stopping) return;
    await camera.kill();
    await timeUntil(() => cameraState() !== 'streaming', 10_000);
    await sleep(2000);
    const started = performance.now();
    await camera.restart();
    const ms = (await timeUntil(() => cameraState() === 'streaming', 30_000)) === null ? null : Math.round(performance.now() - started);
    recoveries.push({ what: 'camera', atS: round(elapsedS(), 1), ms });
    say(`  t=${Math.round(elapsedS())}s camera back: streaming again after ${ms ?? 'no recovery within 30 s'} ms`);
  }
}

async function sampleResources(): Promise<void> {
  while (!stopping) {
    const sample = resourceSample(elapsedS());
    if (fullGc && samples.length % 6 === 0) {
      fullGc();
      sample.liveHeapMb = process.memoryUsage().heapUsed / MB;
    }
    samples.push(sample);
    const last = samples.at(-1)!;
    if (samples.length % 6 === 1) {
      say(
        `  t=${Math.round(last.t)}s rss ${last.rssMb.toFixed(0)} MB (heap ${last.heapUsedMb.toFixed(0)}/${last.heapTotalMb.toFixed(0)}, external ${last.externalMb.toFixed(0)}), ` +
          `${last.fds} fds, ${last.threads} threads, camera ${cameraState()}, mqtt ${publisherState()}, ${stored.size} rejects stored, ${received.size} received`,
      );
    }
    await sleep(5000);
  }
}

say(`soak: malloc settings ${JSON.stringify(mallocEnv)} (${args['malloc-env'] === 'unit' ? 'from systemd/linesight@.service' : 'inherited'})`);
say(`soak: ${minutes} min, broker restarted every ${brokerEveryMs / 1000} s, camera killed every ${cameraEveryMs / 1000} s, UI polled every second`);
const background = [pollUi(), sampleResources()];
await Promise.all([restartBrokerEvery(), killCameraEvery(), sleep(endAt)]);
stopping = true;
await Promise.all(background);
// Let the last rejects through before counting.
await runtime.publisher.waitForDrain(30_000).catch(() => {});
await timeUntil(() => [...stored].every((s) => received.has(s)), 15_000);
const elapsed = elapsedS();
await runtime.stop();
await new Promise<void>((r) => plc.end(false, {}, () => r()));
await camera.stop();
await broker.dispose();

const window = Math.min(60, elapsed / 3);
const first = samples.filter((s) => s.t <= window);
const last = samples.filter((s) => s.t >= elapsed - window);
const rssStart = median(first.map((s) => s.rssMb));
const rssEnd = median(last.map((s) => s.rssMb));
const fdStart = median(first.map((s) => s.fds));
const fdEnd = median(last.map((s) => s.fds));
// Every 30 s: where the memory is (MB), so growth can be told apart by component.
const mb = (v: number) => v.toFixed(1).padStart(8);
say(`\n  t(s)      rss   anon   file  heapTot heapUsed  live-gc external arrayBuf vipsCache  fds thr`);
for (const s of samples.filter((_, i) => i % 6 === 0)) {
  say(
    `${String(Math.round(s.t)).padStart(6)}${mb(s.rssMb)}${mb(s.rssAnonMb).slice(1)}${mb(s.rssFileMb).slice(1)}${mb(s.heapTotalMb)}${mb(s.heapUsedMb)}${Number.isNaN(s.liveHeapMb) ? '       -' : mb(s.liveHeapMb)}` +
      `${mb(s.externalMb)}${mb(s.arrayBuffersMb)}${mb(s.vipsCacheMb)}/${String(s.vipsCacheItems).padEnd(3)}${String(s.fds).padStart(4)}${String(s.threads).padStart(4)}`,
  );
}
const drift = (pick: (s: ResourceSample) => number) => round(median(last.map(pick)) - median(first.map(pick)), 1);
const measuredLiveHeap = (list: ResourceSample[]) => list.map((s) => s.liveHeapMb).filter((v) => !Number.isNaN(v));
const liveHeapDrift = () => {
  const [a, b] = [measuredLiveHeap(first), measuredLiveHeap(last)];
  return a.length && b.length ? round(median(b) - median(a), 1) : null;
};
const lost = [...stored].filter((s) => !received.has(s)).sort((a, b) => a - b);
const times = (what: Recovery['what']) => recoveries.filter((r) => r.what === what).map((r) => r.ms);
const worst = (what: Recovery['what']) => {
  const t = times(what);
  return t.some((ms) => ms === null) ? null : Math.max(0, ...(t as number[]));
};
const result = {
  name: 'soak',
  minutes: round(elapsed / 60, 2),
  framesScored: scored,
  rssStartMb: round(rssStart, 1),
  rssEndMb: round(rssEnd, 1),
  rssDriftPct: round(((rssEnd - rssStart) / rssStart) * 100, 2),
  // Growth of each component over the same windows, MB.
  heapUsedDriftMb: drift((s) => s.heapUsedMb),
  heapTotalDriftMb: drift((s) => s.heapTotalMb),
  externalDriftMb: drift((s) => s.externalMb),
  rssAnonDriftMb: drift((s) => s.rssAnonMb),
  rssFileDriftMb: drift((s) => s.rssFileMb),
  liveHeapDriftMb: liveHeapDrift(),
  vipsCacheItemsEnd: samples.at(-1)?.vipsCacheItems ?? null,
  threadsStart: median(first.map((s) => s.threads)),
  threadsEnd: median(last.map((s) => s.threads)),
  records: args.records,
  mallocEnv,
  fdStart,
  fdEnd,
  fdDrift: fdEnd - fdStart,
  rejectsStored: stored.size,
  rejectsReceived: [...stored].filter((s) => received.has(s)).length,
  rejectsLost: lost.length,
  lostSeqs: lost.slice(0, 20),
  duplicateDeliveries: duplicates,
  brokerRestarts: times('broker').length,
  brokerRecoveryMs: times('broker'),
  brokerRecoveryMaxMs: worst('broker'),
  cameraKills: times('camera').length,
  cameraRecoveryMs: times('camera'),
  cameraRecoveryMaxMs: worst('camera'),
  uiPolls: polls,
  uiPollFailures: pollFailures,
  uiPollFailureKinds: Object.fromEntries(pollFailureKinds),
  healthDegradedAnswers: healthDegraded,
};
say(
  `soak ${result.minutes} min: RSS ${result.rssStartMb} -> ${result.rssEndMb} MB (${result.rssDriftPct} %), fds ${fdStart} -> ${fdEnd}, ` +
    `rejects stored ${result.rejectsStored}, received ${result.rejectsReceived}, lost ${result.rejectsLost} (${duplicates} duplicate deliveries), ` +
    `broker recoveries ${result.brokerRestarts} (max ${result.brokerRecoveryMaxMs} ms), camera recoveries ${result.cameraKills} (max ${result.cameraRecoveryMaxMs} ms), ` +
    `UI ${polls} polls, ${pollFailures} failed ${JSON.stringify(result.uiPollFailureKinds)}, /health degraded (503) ${healthDegraded} times during outages`,
);
writeBenchResult('soak', result);
process.exit(0);
