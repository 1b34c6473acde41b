/**
 * `npm run bench:parts [-- --minutes 3 --rates 5,10,15 --window-frames 1]`:
 * part-synchronous inspection against a real RTSP camera at line rates.
 *
 * For each rate a conveyor video is encoded at 30 fps: a black lead-in, then
 * parts shown whole one after another (30/rate frames each, good and
 * defective). A local RTSP server (GStreamer) plays it in real time; the
 * device (DeviceRuntime, trigger mode, a window of `--window-frames` frames,
 * deadline 500 ms) reads it. The PLC is a process of its own
 * (fixtures/plc-process.ts), on the line's clock (fixtures/line-clock.ts),
 * commissioned once: when the end of the lead-in was at the camera, on the
 * device's frame clock. It triggers every part over MQTT `--lead-ms` before it
 * reaches the camera, its window opening `--guard-ms` after the previous
 * part's last frame, and checks each answer by part id against the part's
 * ground truth.
 *
 * Per rate: trigger-to-verdict latency at the PLC (from the moment the
 * part's window opens, trigger + delay, to the verdict arriving) p50/p99,
 * parts without a verdict (their reasons, and what the fail-safe did),
 * missed and false rejects, trigger errors; and which video frame the device
 * actually judged for each part (the scored image matched to the part
 * images), so a wrong verdict is told apart as a timing error (a neighbour's
 * frame was judged) or a classifier error (the part's own frame was judged).
 * The machine's load average is sampled during each rate's run.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../config/logger.ts';
import { deviceConfigSchema } from '../config/device.ts';
import { LeadInWatcher } from '../fixtures/line-clock.ts';
import { runPlcProcess, type PlcOutcome, type PlcTriggerRecord } from '../fixtures/plc-process.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { percentile } from '../runtime/latency-window.ts';
import { round, writeBenchResult, scoringThreadFlag } from './bench-common.ts';
import { FrameIdentifier, judgedPlace, LINE_FPS as FPS, prepareLine, SETTLE_MS, type JudgedPlace } from './bench-line.ts';

const args = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    rates: { type: 'string', default: '5,10,15' },
    dir: { type: 'string', default: '.bench/parts' },
    'window-frames': { type: 'string', default: '1' },
    'guard-ms': { type: 'string', default: '10' },
    'lead-ms': { type: 'string', default: '150' },
    /** Scores frames on the device's scoring thread (`on`, the default) or its main thread (`off`). */
    'scoring-thread': { type: 'string', default: 'on' },
  },
}).values;
const scoringThread = scoringThreadFlag(args['scoring-thread']);
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got "${args.minutes}"`);
const rates = args.rates.split(',').map(Number);
const windowFrames = Number(args['window-frames']);
const guardMs = Number(args['guard-ms']);
const leadMs = Number(args['lead-ms']);
const dir = resolve(args.dir);
const DEADLINE_MS = 500;
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
  noVerdictReasons: Record<string, number>;
  missed: number;
  falseRejects: number;
  unanswered: number;
  triggerErrors: number;
  /** Which video frame the device judged for each answered part (its first judged frame). */
  judged: Record<JudgedPlace | 'notFound', number>;
  /** Missed and false rejects on a neighbour's frame (timing) or on the part's own frame (classifier). */
  timingErrors: number;
  classifierErrors: number;
  loadAverage: { min: number; mean: number; max: number };
  /** Arrival after the frame-clock time of the frames read, ms: median of the 5 s samples of the p50, and the worst sampled p99. */
  frameReadDelayMs: { p50: number | null; p99Max: number | null };
}

async function runRate(rate: number): Promise<RateResult> {
  const line = await prepareLine({ dir, minutes, rate, log: say });
  const identifier = await FrameIdentifier.create(line.references);
  const camera = await startRtspCamera({ video: line.path });
  // What the device judged: the part image each scored frame shows, by the frame's time.
  const judgedAt = new Map<number, number>();
  const leadIn = new LeadInWatcher({ syncFrame: line.syncFrame, fps: FPS });
  const runtime = await DeviceRuntime.start(
    deviceConfigSchema.parse({
      dataDir: line.sample.dataDir,
      mqtt: { deviceId: 'bench', embeddedBroker: { port: 0 }, outboxDir: join(dir, `outbox-${rate}-${Date.now()}`) },
      http: { enabled: false },
      inference: { scoringThread },
      // Parts fill the view (no belt to learn), so every frame of a window counts.
      parts: { mode: 'trigger', window: { kind: 'frames', frames: windowFrames }, deadlineMs: DEADLINE_MS, inViewCheck: false },
      cameras: [{ id: 'cam1', url: camera.url, product: line.sample.product, width: 224, height: 224, fps: FPS }],
    }),
    { logger: createLogger('bench-parts'), onFrame: leadIn.onFrame, onScored: (s) => judgedAt.set(s.result.ts, identifier.identify(s.outcome.image, s.inputSize.width)) },
  );
  // Commissioning: when the end of the lead-in was at the camera, on the device's frame clock.
  const clock = await leadIn.lineClock(() => runtime.lastFrame('cam1'), { settleMs: SETTLE_MS, timeoutMs: 90_000 });
  const loads: number[] = [];
  // How late the device read its camera (arrival after the frame clock's time), sampled with the load.
  const readDelays: { p50: number; p99: number }[] = [];
  const sample = () => {
    loads.push(loadavg()[0]!);
    const cam = runtime.health().cameras[0];
    if (cam?.readDelayP50Ms != null && cam.readDelayP99Ms != null) readDelays.push({ p50: cam.readDelayP50Ms, p99: cam.readDelayP99Ms });
  };
  const sampler = setInterval(sample, 5000);
  sample();
  let records: PlcTriggerRecord[];
  try {
    const report = await runPlcProcess({
      brokerUrl: runtime.brokerUrl,
      cameraTopic: 'linesight/bench/cam1',
      fps: FPS,
      syncFrame: clock.syncFrame,
      syncFrameTime: clock.syncFrameTime,
      parts: line.plcParts,
      maxParts: Math.round(minutes * 60 * rate),
      guardMs,
      leadMs,
      answerWaitMs: DEADLINE_MS + 1500,
    });
    records = report.triggers;
  } finally {
    clearInterval(sampler);
    loads.push(loadavg()[0]!);
  }
  const triggerErrors = runtime.partCounters().cam1!.triggerErrors;
  await runtime.stop();
  await camera.stop();

  const count_ = (o: PlcOutcome) => records.filter((r) => r.outcome === o).length;
  const latencies = records.filter((r) => r.answeredAt !== null).map((r) => r.answeredAt! - r.sentAt - r.delayMs);
  const noVerdictReasons: Record<string, number> = {};
  for (const r of records) if (r.outcome === 'no_verdict') noVerdictReasons[r.reason ?? 'none'] = (noVerdictReasons[r.reason ?? 'none'] ?? 0) + 1;
  const judged: RateResult['judged'] = { own: 0, previous: 0, next: 0, other: 0, notFound: 0 };
  let timingErrors = 0;
  let classifierErrors = 0;
  for (const r of records) {
    if (r.firstTs === null) continue;
    const image = judgedAt.get(r.firstTs);
    const where = image === undefined ? 'notFound' : judgedPlace(line, r.part, image);
    judged[where]++;
    if (r.outcome === 'missed' || r.outcome === 'false_reject') {
      if (where === 'own') classifierErrors++;
      else timingErrors++;
    }
  }
  const result: RateResult = {
    partsPerSecond: rate,
    triggers: records.length,
    verdicts: records.filter((r) => r.answeredAt !== null).length,
    verdictLatencyP50Ms: latencies.length ? round(percentile(latencies, 50)!, 1) : null,
    verdictLatencyP99Ms: latencies.length ? round(percentile(latencies, 99)!, 1) : null,
    noVerdict: count_('no_verdict'),
    failSafeRejects: records.filter((r) => r.outcome === 'no_verdict' && r.action === 'reject').length,
    noVerdictReasons,
    missed: count_('missed'),
    falseRejects: count_('false_reject'),
    unanswered: count_('unanswered'),
    triggerErrors,
    judged,
    timingErrors,
    classifierErrors,
    loadAverage: { min: round(Math.min(...loads), 2), mean: round(loads.reduce((a, b) => a + b, 0) / loads.length, 2), max: round(Math.max(...loads), 2) },
    frameReadDelayMs: {
      p50: readDelays.length ? round(percentile(readDelays.map((d) => d.p50), 50)!, 1) : null,
      p99Max: readDelays.length ? round(Math.max(...readDelays.map((d) => d.p99)), 1) : null,
    },
  };
  say(
    `${rate} parts/s: ${result.triggers} triggers, ${result.verdicts} answered; trigger-to-verdict p50 ${result.verdictLatencyP50Ms} ms, p99 ${result.verdictLatencyP99Ms} ms; ` +
      `no verdict ${result.noVerdict} (fail-safe rejected ${result.failSafeRejects}; ${JSON.stringify(noVerdictReasons)}); missed ${result.missed}, false rejects ${result.falseRejects}; trigger errors ${triggerErrors}; ` +
      `judged frames: ${JSON.stringify(judged)} (timing errors ${timingErrors}, classifier errors ${classifierErrors}); load average ${result.loadAverage.mean} (${result.loadAverage.min}-${result.loadAverage.max}); ` +
      `frames read ${result.frameReadDelayMs.p50} ms after their frame-clock time (median of the samples; worst p99 ${result.frameReadDelayMs.p99Max} ms)`,
  );
  return result;
}

const results: RateResult[] = [];
for (const rate of rates) results.push(await runRate(rate));
writeBenchResult('parts', { minutes, fps: FPS, windowFrames, guardMs, leadMs, results });
