/**
 * `npm run bench:opcua [-- --minutes 3 --rate 10]`: a PLC on OPC UA against
 * the real device. The device (DeviceRuntime, its own process as on a line:
 * an RTSP test camera playing the conveyor video of scripts/bench-line.ts,
 * the enrolled sample product, trigger mode with a one-frame window, the OPC
 * UA server on) is driven by a PLC-like client over Basic256Sha256
 * SignAndEncrypt with a user name: subscribed to `ResultReadyEventType`
 * events, it announces every part through the `Trigger` method, timed by the
 * line's clock (fixtures/line-clock.ts: commissioned once from the end of
 * the video's lead-in, then on its own clock) `--lead-ms` before the part
 * reaches the camera, the window opening `--guard-ms` after the previous
 * part's last frame (fixtures/plc-process.ts says why).
 *
 * Reported: the latency from the part reaching the camera (trigger + delay)
 * to its result event (p50/p99/max), the device's own latency (its
 * `LatencyMs`, trigger received to verdict, less the announced delay), parts
 * with a missing or duplicated result event, and, by part id against the
 * ground truth, parts without a verdict, missed and false rejects, and which
 * part's frame the device judged. The first 20 parts warm the code paths up
 * and are not counted.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { AttributeIds, DataType, MessageSecurityMode, type CallMethodRequestOptions } from 'node-opcua';
import { createLogger } from '../config/logger.ts';
import { cameraSettingsSchema, type CameraSettings } from '../config/camera-settings.ts';
import { deviceConfigSchema } from '../config/device.ts';
import { freePort } from '../fixtures/free-port.ts';
import { LeadInWatcher, lineClock } from '../fixtures/line-clock.ts';
import { connectVisionClient, createClientIdentity, subscribeResultEvents, type VisionClient } from '../fixtures/opcua-client.ts';
import { outcomeOf } from '../fixtures/plc-process.ts';
import { runPlc } from '../fixtures/plc-simulator.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import { monotonicNow } from '../runtime/clock.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { percentile } from '../runtime/latency-window.ts';
import type { ScoredFrame } from '../runtime/camera-pipeline.ts';
import type { PartVerdictPayload } from '../runtime/parts/payloads.ts';
import { round, scoringThreadFlag, writeBenchResult } from './bench-common.ts';
import { startMachineCpu } from './machine-cpu.ts';
import { FrameIdentifier, judgedPlace, LINE_FPS as FPS, prepareLine, SETTLE_MS, type JudgedPlace } from './bench-line.ts';
import { matchResults } from './bench-opcua-stats.ts';
import { RUNTIME_UNIT, unitNice } from './unit-environment.ts';

const args = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rate: { type: 'string', default: '10' },
    dir: { type: 'string', default: '.bench/parts' },
    'guard-ms': { type: 'string', default: '10' },
    'lead-ms': { type: 'string', default: '150' },
    serve: { type: 'boolean', default: false },
    /** Writes a V8 CPU profile of the device process into this folder (open it in Chrome's DevTools). */
    'profile-dir': { type: 'string' },
    /** Writes every camera frame's stream index and arrival time (ms) to this file, one "index arrival" line each. */
    'frame-log': { type: 'string' },
    /** ONNX Runtime threads of the device (`inference.threads`; 0 = one per core). */
    threads: { type: 'string', default: '0' },
    /** Nice value of the device process and its camera readers: `unit` (default) is systemd/linesight@.service's `Nice=`, as deployed; a number to compare (0: the same as the camera server and the PLC client this machine also runs). */
    'device-nice': { type: 'string', default: 'unit' },
    /** Scores frames on the device's scoring thread (`on`, the default) or its main thread (`off`). */
    'scoring-thread': { type: 'string', default: 'on' },
    /** How the device opens the camera's RTSP stream (`cameras[].rtspStart`): low-delay (the default) or probed. */
    'rtsp-start': { type: 'string', default: 'low-delay' },
  },
});
const rtspStart = cameraSettingsSchema.shape.rtspStart.parse(args.values['rtsp-start']);
const PLC = { username: 'plc', password: process.env.BENCH_OPCUA_PASSWORD ?? 'bench-opcua-secret' };
const CAMERA = 'cam1';
const DEADLINE_MS = 500;
const WARM_UP_PARTS = 20;
const say = (line: string) => process.stderr.write(`${line}\n`);

/** What the device process is given on stdin. */
interface ServeConfig {
  dataDir: string;
  product: string;
  cameraUrl: string;
  port: number;
  pkiDir: string;
  outboxDir: string;
  syncFrame: number;
  /** Part images the judged frames are matched to (scripts/bench-line.ts). */
  references: string[];
  frameLog?: string;
  threads: number;
  scoringThread: boolean;
  rtspStart: CameraSettings['rtspStart'];
}

/**
 * Child mode: the device, until stdin closes. Prints `{"ready": ...}` with
 * the OPC UA endpoint and the line clock's commissioning figure, and at the
 * end `{"judged": {partId: reference image}}`.
 */
async function serve(): Promise<void> {
  const chunks: Buffer[] = [];
  const stdin = process.stdin;
  // The config is the first line; the end of stdin stops the device.
  const first = await new Promise<string>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.includes('\n')) {
        stdin.off('data', onData);
        resolve(text.slice(0, text.indexOf('\n')));
      }
    };
    stdin.on('data', onData);
  });
  const c = JSON.parse(first) as ServeConfig;
  const identifier = await FrameIdentifier.create(c.references);
  const judgedAt = new Map<number, number>();
  const leadIn = new LeadInWatcher({ syncFrame: c.syncFrame, fps: FPS });
  const frameLog: string[] = [];
  const runtime = await DeviceRuntime.start(
    deviceConfigSchema.parse({
      dataDir: c.dataDir,
      mqtt: { deviceId: 'bench', embeddedBroker: { port: 0 }, outboxDir: c.outboxDir },
      http: { enabled: false },
      inference: { threads: c.threads, scoringThread: c.scoringThread },
      parts: { mode: 'trigger', window: { kind: 'frames', frames: 1 }, deadlineMs: DEADLINE_MS, inViewCheck: false },
      opcua: { enabled: true, host: '127.0.0.1', port: c.port, allowAnonymous: false, allowSecurityNone: false, users: [PLC], pkiDir: c.pkiDir },
      cameras: [{ id: CAMERA, url: c.cameraUrl, product: c.product, width: 224, height: 224, fps: FPS, rtspStart: c.rtspStart }],
    }),
    { logger: createLogger('bench-opcua-device'), onFrame: (f) => (leadIn.onFrame(f), c.frameLog && frameLog.push(`${f.stream?.reader ?? 0} ${f.stream?.index ?? f.seq} ${f.ts} ${identifier.identify(f.data, f.width)}`)), onScored: (s) => (judgedAt.set(s.result.ts, identifier.identify(s.outcome.image, s.inputSize.width)), timeline.scored(s)) },
  );
  const judged: Record<string, number> = {};
  const timeline = new PartTimeline();
  runtime.onPartVerdict((v) => {
    const image = v.firstTs === null ? undefined : judgedAt.get(v.firstTs);
    if (image !== undefined) judged[v.partId] = image;
    timeline.decided(v);
  });
  const clock = await leadIn.lineClock(() => runtime.lastFrame(CAMERA), { settleMs: SETTLE_MS, timeoutMs: 90_000 });
  console.log(JSON.stringify({ ready: { endpointUrl: `opc.tcp://127.0.0.1:${c.port}`, syncFrame: clock.syncFrame, syncFrameTime: clock.syncFrameTime } }));
  // How late the busy device reads its camera, printed as the run goes (the frame clock's input).
  const readDelay = setInterval(() => {
    const cam = runtime.health().cameras[0];
    say(`device: frames read p50 ${cam?.readDelayP50Ms ?? '-'} ms / p99 ${cam?.readDelayP99Ms ?? '-'} ms after their time on the frame clock`);
  }, 15_000);
  stdin.resume();
  await new Promise((r) => stdin.once('end', r));
  clearInterval(readDelay);
  await runtime.stop();
  say(timeline.report(WARM_UP_PARTS));
  if (c.frameLog) writeFileSync(c.frameLog, `${frameLog.join('\n')}\n`);
  console.log(JSON.stringify({ judged }));
  process.exit(0);
}

/**
 * Where a part's time on the device goes, from its frame's time on the frame
 * clock to its verdict: the frame read late (arrival - clock time), waiting
 * for and going through scoring (scored - arrival; of it the inference
 * itself), and the tracker's decision after the score (decided - scored).
 */
class PartTimeline {
  private readonly frames = new Map<number, { lateMs: number; toScoredMs: number; scoreMs: number; scoredAt: number }>();
  private readonly parts: { totalMs: number; lateMs: number; toScoredMs: number; scoreMs: number; afterMs: number }[] = [];

  scored(s: ScoredFrame): void {
    const scoredAt = monotonicNow();
    const arrival = scoredAt - s.result.latencyMs;
    this.frames.set(s.result.ts, { lateMs: arrival - s.result.ts, toScoredMs: s.result.latencyMs, scoreMs: s.timings.scoreMs, scoredAt });
  }

  decided(v: PartVerdictPayload): void {
    const frame = v.firstTs === null ? undefined : this.frames.get(v.firstTs);
    if (!frame || v.firstTs === null) return;
    this.parts.push({ totalMs: v.decidedTs - v.firstTs, lateMs: frame.lateMs, toScoredMs: frame.toScoredMs, scoreMs: frame.scoreMs, afterMs: v.decidedTs - frame.scoredAt });
  }

  /** p50 and p99 of each stage over the counted parts, and each stage's median over the slowest 2 % of parts. */
  report(skip: number): string {
    const parts = this.parts.slice(skip);
    if (parts.length === 0) return 'device timeline: no part';
    const stages = ['totalMs', 'lateMs', 'toScoredMs', 'scoreMs', 'afterMs'] as const;
    const slowest = [...parts].sort((a, b) => b.totalMs - a.totalMs).slice(0, Math.max(1, Math.round(parts.length * 0.02)));
    const line = (name: (typeof stages)[number]) => {
      const all = parts.map((p) => p[name]);
      return `${name} p50 ${round(percentile(all, 50)!, 1)} p99 ${round(percentile(all, 99)!, 1)} slowest-2% median ${round(percentile(slowest.map((p) => p[name]), 50)!, 1)}`;
    };
    return `device timeline (${parts.length} parts, frame clock time -> verdict):\n  ${stages.map(line).join('\n  ')}`;
  }
}

interface DeviceProcess {
  endpointUrl: string;
  syncFrame: number;
  syncFrameTime: number;
  /** Stops the device; resolves with the part image it judged for each part id. */
  stop(): Promise<Record<string, number>>;
}

/** The device process's nice value (`--device-nice`). */
function deviceNice(): number {
  const value = args.values['device-nice']!;
  if (value === 'unit') return unitNice(readFileSync(RUNTIME_UNIT, 'utf8'));
  if (!/^-?\d+$/.test(value)) throw new Error(`--device-nice is unit or a whole number (e.g. --device-nice=-5), got "${value}"`);
  return Number(value);
}

async function startDeviceProcess(config: ServeConfig, nice: number): Promise<DeviceProcess> {
  const profile = args.values['profile-dir'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(args.values['profile-dir'])] : [];
  const node = [process.execPath, ...profile, '--import', 'tsx', import.meta.filename, '--serve'];
  const command = nice === 0 ? node : ['nice', '-n', String(nice), ...node];
  const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const lines = createInterface({ input: child.stdout });
  let judged: Record<string, number> | undefined;
  const ready = await new Promise<{ endpointUrl: string; syncFrame: number; syncFrameTime: number }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the device process exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      if (line.startsWith('{"ready":')) resolve((JSON.parse(line) as { ready: { endpointUrl: string; syncFrame: number; syncFrameTime: number } }).ready);
      else if (line.startsWith('{"judged":')) judged = (JSON.parse(line) as { judged: Record<string, number> }).judged;
    });
  });
  return {
    ...ready,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await exited;
      return judged ?? {};
    },
  };
}

function triggerRequest(plc: VisionClient, partId: string, delayMs: number): CallMethodRequestOptions {
  return {
    objectId: `ns=${plc.ns};s=VisionSystem`,
    methodId: `ns=${plc.ns};s=VisionSystem.Trigger`,
    inputArguments: [
      { dataType: DataType.String, value: CAMERA },
      { dataType: DataType.String, value: partId },
      { dataType: DataType.UInt32, value: delayMs },
    ],
  };
}

async function bench(): Promise<void> {
  const minutes = Number(args.values.minutes);
  const rate = Number(args.values.rate);
  const guardMs = Number(args.values['guard-ms']);
  const leadMs = Number(args.values['lead-ms']);
  const nice = deviceNice();
  const dir = resolve(args.values.dir);
  const line = await prepareLine({ dir, minutes, rate, log: say });
  const work = await mkdtemp(join(tmpdir(), 'bench-opcua-'));
  const identity = await createClientIdentity(join(work, 'plc-pki'), 'bench-plc');
  const serverPki = join(work, 'server-pki');
  await mkdir(join(serverPki, 'trusted', 'certs'), { recursive: true });
  await copyFile(identity.certificateFile, join(serverPki, 'trusted', 'certs', 'bench-plc.pem'));
  const camera = await startRtspCamera({ video: line.path });
  const device = await startDeviceProcess({
    dataDir: line.sample.dataDir,
    product: line.sample.product,
    cameraUrl: camera.url,
    port: await freePort(),
    pkiDir: serverPki,
    outboxDir: join(work, 'outbox'),
    syncFrame: line.syncFrame,
    references: line.references,
    frameLog: args.values['frame-log'] ? resolve(args.values['frame-log']) : undefined,
    threads: Number(args.values.threads),
    scoringThread: scoringThreadFlag(args.values['scoring-thread']),
    rtspStart,
  }, nice);
  const clock = lineClock(device.syncFrame, device.syncFrameTime, FPS);
  const plc = await connectVisionClient(device.endpointUrl, { identity, securityMode: MessageSecurityMode.SignAndEncrypt, user: PLC });
  // transitMs: the verdict's DecidedTime to its event here (the device and this client share the machine's wall clock).
  const received: { partId: string; at: number; deviceLatencyMs: number; verdict: string; action: string; transitMs: number }[] = [];
  const unsubscribe = await subscribeResultEvents(plc, (e) => {
    const at = monotonicNow();
    received.push({ partId: String(e.PartId), at, deviceLatencyMs: Number(e.LatencyMs), verdict: String(e.Verdict), action: String(e.Action), transitMs: Date.now() - new Date(e.DecidedTime as Date).getTime() });
  });

  const total = Math.round(minutes * 60 * rate);
  const sent = new Map<string, { part: number; sentAt: number; delayMs: number }>();
  let callErrors = 0;
  const calls: Promise<void>[] = [];
  const limit = new AbortController();
  const interval = 1000 / FPS;
  say(`bench:opcua: ${total} parts (after ${WARM_UP_PARTS} warm-up parts) at ${rate}/s over ${minutes} min, SignAndEncrypt, real device (nice ${nice}) on an RTSP camera`);
  const loads = [loadavg()[0]!];
  const machineCpu = startMachineCpu();
  const sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
  // Warm-up parts are called W-<k>, counted ones keep their line id.
  const ids = line.plcParts.map((p, k) => (k < WARM_UP_PARTS ? `W-${k}` : p.partId));
  let announced = 0;
  const triggers = await runPlc({
    send: async (t) => {
      if (++announced >= total + WARM_UP_PARTS) limit.abort();
      calls.push(
        plc.session.call(triggerRequest(plc, t.partId, t.delayMs)).then(
          (r) => {
            if (!r.statusCode.isGood()) callErrors++;
          },
          () => {
            callErrors++;
          },
        ),
      );
    },
    spans: line.plcParts,
    fps: FPS,
    frameTime: (n) => clock.frameTime(n),
    marginMs: interval - guardMs,
    leadMs,
    partId: (k) => ids[k]!,
    signal: limit.signal,
  });
  for (const t of triggers) if (!t.partId.startsWith('W-')) sent.set(t.partId, { part: t.part, sentAt: t.sentAt, delayMs: t.delayMs });
  await Promise.all(calls);
  await new Promise((r) => setTimeout(r, DEADLINE_MS + 1500));
  clearInterval(sampler);
  loads.push(loadavg()[0]!);
  const machine = machineCpu();
  const triggerErrors = Number((await plc.session.read({ nodeId: `ns=${plc.ns};s=VisionSystem.Cameras.${CAMERA}.Counters.TriggerErrors`, attributeId: AttributeIds.Value })).value.value);
  await unsubscribe();
  await plc.close();
  const judgedImage = await device.stop();
  await camera.stop();
  await rm(work, { recursive: true, force: true });

  const counted = received.filter((r) => !r.partId.startsWith('W-'));
  // Latency from the part reaching the camera (trigger + delay) to its result event.
  const stats = matchResults(new Map([...sent].map(([id, s]) => [id, s.sentAt + s.delayMs])), counted);
  const firstEvent = new Map<string, (typeof counted)[number]>();
  for (const r of counted) if (!firstEvent.has(r.partId)) firstEvent.set(r.partId, r);
  const device_ = [...firstEvent.values()].filter((r) => sent.has(r.partId)).map((r) => r.deviceLatencyMs - sent.get(r.partId)!.delayMs);
  const transit = [...firstEvent.values()].map((r) => r.transitMs);
  const outcomes = { right: 0, missed: 0, false_reject: 0, no_verdict: 0, unanswered: 0 };
  const judged: Record<JudgedPlace | 'notFound', number> = { own: 0, previous: 0, next: 0, other: 0, notFound: 0 };
  let timingErrors = 0;
  let classifierErrors = 0;
  let failSafeRejects = 0;
  for (const [partId, s] of sent) {
    const event = firstEvent.get(partId);
    const outcome = outcomeOf(line.plcParts[s.part]!.defective, event ? { verdict: event.verdict as 'ok' | 'reject' | 'no_verdict' } : undefined);
    outcomes[outcome]++;
    if (outcome === 'no_verdict' && event?.action === 'reject') failSafeRejects++;
    const image = judgedImage[partId];
    if (!event || event.verdict === 'no_verdict') continue;
    const where = image === undefined ? 'notFound' : judgedPlace(line, s.part, image);
    judged[where]++;
    if (outcome === 'missed' || outcome === 'false_reject') {
      if (where === 'own') classifierErrors++;
      else timingErrors++;
    }
  }
  const r2 = (v: number | null) => (v === null ? null : round(v, 1));
  const load = round(loads.reduce((a, b) => a + b, 0) / loads.length, 1);
  say(`parts ${stats.parts}, result events ${stats.events}, missing ${stats.missing.length}, duplicated ${stats.duplicated.length}, unexpected ${stats.unexpected}, trigger call errors ${callErrors}, trigger errors ${triggerErrors}`);
  say(`part at the camera -> result event: p50 ${r2(stats.latencyMs.p50)} ms, p99 ${r2(stats.latencyMs.p99)} ms, max ${r2(stats.latencyMs.max)} ms; device-side p99 ${r2(percentile(device_, 99))} ms; verdict -> event here p50 ${r2(percentile(transit, 50))} / p99 ${r2(percentile(transit, 99))} ms`);
  say(`verdicts: no verdict ${outcomes.no_verdict}, missed ${outcomes.missed}, false rejects ${outcomes.false_reject}; judged frames ${JSON.stringify(judged)} (timing errors ${timingErrors}, classifier errors ${classifierErrors}); load average ${load} on ${availableParallelism()} cores, ${machine.busyPct} % of them busy (steal ${machine.stealPct} %)`);
  writeBenchResult('opcua', {
    bench: 'opcua',
    device: 'DeviceRuntime (RTSP camera, enrolled washer product, trigger mode, one-frame window)',
    security: 'Basic256Sha256 SignAndEncrypt, user name',
    minutes,
    ratePerS: rate,
    scoringThread: scoringThreadFlag(args.values['scoring-thread']),
    rtspStart,
    deviceNice: nice,
    parts: stats.parts,
    events: stats.events,
    missing: stats.missing.length,
    duplicated: stats.duplicated.length,
    unexpected: stats.unexpected,
    callErrors,
    latencyMs: { p50: r2(stats.latencyMs.p50), p99: r2(stats.latencyMs.p99), max: r2(stats.latencyMs.max) },
    deviceLatencyMs: { p50: r2(percentile(device_, 50)), p99: r2(percentile(device_, 99)) },
    eventTransitMs: { p50: r2(percentile(transit, 50)), p99: r2(percentile(transit, 99)) },
    loadAverage: load,
    machineCpuPct: machine.busyPct,
    stealPct: machine.stealPct,
    cores: availableParallelism(),
    leadMs,
    guardMs,
    noVerdict: outcomes.no_verdict,
    failSafeRejects,
    missed: outcomes.missed,
    falseRejects: outcomes.false_reject,
    triggerErrors,
    judged,
    timingErrors,
    classifierErrors,
  });
}

if (args.values.serve) await serve();
else await bench();
