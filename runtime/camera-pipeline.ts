/**
 * One camera's line of work: frame -> score against the camera's product ->
 * decision -> MQTT, in one of two ways (`parts.mode`, config/parts.ts):
 *
 * - `frames` (continuous material): frames are pulled, never queued: while a
 *   frame is being scored the camera source keeps only the newest one and
 *   counts the rest as dropped, so latency stays bounded. Each frame is
 *   decided by runtime/parts/frame-decision.ts (a streak of bad frames is one
 *   reject; no cooldown hides a second defect).
 * - `trigger` / `presence` (discrete parts): every frame goes, in order, to
 *   the camera's PartTracker (runtime/parts/tracker.ts), which makes one
 *   verdict per part. So that a part's verdict does not depend on how busy
 *   the CPU is, frames are QUEUED, not dropped (see `partQueueDepth`): every
 *   frame a part may need is scored — in trigger mode every frame inside a
 *   waiting part's window, in presence mode every frame that may show a part
 *   (frames of the empty belt are not scored). Frames are timed by the
 *   camera's frame clock (runtime/ingest/frame-clock.ts: stream position x
 *   frame interval from the least-delayed arrival), not by when the busy
 *   device read them, so the set of frames a part is judged on depends
 *   only on the video and the triggers. When
 *   scoring cannot keep up, frames wait (up to `partQueueDepth` frames, a
 *   deadline's worth at 60 fps; only beyond that is the oldest dropped, and
 *   counted in `droppedFrames`). In trigger mode a frame that has waited
 *   longer than `parts.deadlineMs` is passed to the tracker unscored
 *   (`too_late`): every part it could belong to was triggered before it
 *   arrived, so their deadlines have passed and they already got `no_verdict`
 *   with the fail-safe action. In presence mode a part's deadline runs from
 *   its last frame, so its frames are all scored however late.
 *
 * A reject and a part verdict are written to their durable outboxes (inside
 * `publishReject` / `publishPart`) in part order, so a crash after a decision
 * never loses one.
 *
 * While the camera's product has no active version yet, frames are taken
 * and counted as unscored: the camera streams (live view, golden-sample
 * capture) and scoring starts with the first frame after a version is
 * activated; parts meanwhile get `no_verdict` (`product_not_enrolled`).
 */
import { monotonicNow } from './clock.ts';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { encodeMaskRle, type RejectPayload, type ResultPayload } from './mqtt/payloads.ts';
import type { MqttPublisher } from './mqtt/publisher.ts';
import type { PartsSettings } from '../config/parts.ts';
import type { RefineSettings } from '../config/refine.ts';
import { minAreaAtInput } from '../models/refine/per-image-threshold.ts';
import { frameToInput } from '../product/image-io.ts';
import { refineMask } from '../product/refine-mask.ts';
import { FrameClock } from './ingest/frame-clock.ts';
import { LatencyWindow } from './latency-window.ts';
import { decideFrame, initialFrameDecisionState, type FrameDecisionState } from './parts/frame-decision.ts';
import { makeThumbnail } from './parts/presence.ts';
import { PartTracker, type PartVerdict, type TrackedFrame } from './parts/tracker.ts';
import { laneScorer, type ProductLibrary, type ServedProduct } from './product-library.ts';
import type { ProductScorer } from '../product/scorer.ts';
import type { ScoringLane } from './scoring/scoring-lane.ts';
import type { FrameOutcome, ScoreOutcome } from '../product/scorer.ts';
import type { PartVerdictPayload } from './parts/payloads.ts';

/** Longest wait for a reject's PUBACK before its mask is refined. */
const REJECT_FIRST_MS = 250;

/** One decoded camera frame (RGB24). */
export interface Frame {
  cameraId: string;
  seq: number;
  /**
   * The frame's time, ms since epoch (runtime/clock.ts). From the source: its
   * arrival. In the pipeline, for frames that carry a `stream` position, the
   * camera's frame clock (runtime/ingest/frame-clock.ts): the time the frame
   * was available at the stream's least delay, free of load jitter; the
   * arrival then moves to `arrivalTs`.
   */
  ts: number;
  /** Arrival time, once `ts` is the frame clock's. */
  arrivalTs?: number;
  /**
   * Where the frame sits in its stream: `reader` counts the source's reader
   * (re)starts, `index` the frames that reader delivered (0, 1, 2, ...; at a
   * constant frame rate, stream time x fps), skipped frames included.
   */
  stream?: { reader: number; index: number };
  width: number;
  height: number;
  data: Buffer;
}

/** What the pipeline needs from a camera source (implemented by `FfmpegCamera` in runtime/ingest/ffmpeg-camera.ts). */
export interface FrameSource {
  start(): void;
  stop(): Promise<void>;
  /** The next frame not yet taken (the newest, unless a queue depth is set); null once the source is stopped. */
  next(): Promise<Frame | null>;
  /** Lets up to `frames` frames wait for `next()` in arrival order instead of keeping only the newest. */
  setQueueDepth?(frames: number): void;
}

export interface StationSettings {
  /** Camera id (MQTT topic level). */
  id: string;
  product: string;
  /**
   * The camera's constant output frame rate (ffmpeg's `-fps_mode cfr -r`): frames
   * that carry their stream position are timed by the frame clock at
   * 1000 / fps ms per frame. Without it frames keep their arrival time.
   */
  fps?: number;
  /** Frames mode: consecutive over-threshold frames before a reject. */
  decision: { debounceFrames: number };
  /** How this camera's frames become parts and verdicts (`mode: frames` keeps judging frames). */
  parts: PartsSettings;
  /** Publish the refined defect mask (RLE JSON) of every frame that triggers a reject. */
  publishMasks: boolean;
  refine: RefineSettings;
}

export interface ScoredFrame {
  camera: string;
  result: ResultPayload;
  /** Set when this frame triggered a reject signal. */
  reject?: RejectPayload;
  timings: { decodeToInputMs: number; scoreMs: number };
  /**
   * What was scored: image, anomaly map and mask at the product's input size
   * (for overlays). Frames are scored with `map: 'whenNeeded'`, so the map of
   * a frame whose mask is empty may be missing: read it with `outcomeWithMap`.
   */
  outcome: FrameOutcome;
  /** Builds the missing anomaly map on the scoring lane (once); absent when `outcome.map` is set. */
  buildMap?: () => Promise<ScoreOutcome>;
  /** The product's input size and pixel threshold the outcome refers to. */
  inputSize: { width: number; height: number };
  pixelThreshold: number;
}

/** The scored frame's outcome with its anomaly map (built on the scoring lane when scoring left it out). */
export function outcomeWithMap(frame: ScoredFrame): Promise<ScoreOutcome> {
  const { outcome } = frame;
  if (outcome.map) return Promise.resolve({ ...outcome, map: outcome.map });
  if (!frame.buildMap) return Promise.reject(new Error(`frame ${frame.result.frameId} has no anomaly map`));
  return frame.buildMap();
}

/** `make` called on first use only; later calls share its promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => {
    made ??= make();
    return made;
  };
}

export interface PipelineStats {
  scored: number;
  /** Frames taken while the product had no active version. */
  unscored: number;
  rejects: number;
  /** Frames that failed to score (logged; the stream goes on). */
  errors: number;
  lastScore: number | null;
  lastVerdict: 'ok' | 'reject' | null;
  /** Frame arrival to decision, over the last frames. */
  p50Ms: number | null;
  p99Ms: number | null;
  /**
   * How late the device read frames: arrival minus the frame's time on the
   * camera's frame clock, over the last frames (ms; null without a clock).
   * Grows when the device is too busy to read its cameras on time.
   */
  readDelayP50Ms: number | null;
  readDelayP99Ms: number | null;
}

export interface PipelineEvents {
  scored: [ScoredFrame];
  /**
   * One part's verdict, once stored in the part outbox (`seq` is the stored
   * one). A reject's signal is stored after this: OPC UA's result event and
   * the part record do not wait for the reject outbox's disk write.
   */
  part: [PartVerdictPayload];
  error: [Error];
}

/** Frames that may wait for scoring in part modes: a deadline's worth at up to 60 fps, at least 16. */
export function partQueueDepth(deadlineMs: number): number {
  return Math.max(16, Math.ceil((deadlineMs / 1000) * 60));
}

export class CameraPipeline extends EventEmitter<PipelineEvents> {
  private frameDecision: FrameDecisionState = initialFrameDecisionState;
  private readonly latency = new LatencyWindow();
  private readonly readDelay = new LatencyWindow();
  private counts = { scored: 0, unscored: 0, rejects: 0, errors: 0 };
  private last: { score: number; verdict: 'ok' | 'reject' } | null = null;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Part verdicts are stored one after the other, in part order. */
  private delivering: Promise<void> = Promise.resolve();
  /** Product versions whose refine.mode fallback was already logged. */
  private readonly warnedFallback = new Set<string>();
  /** The camera's frame clock and the reader it times (see `onClock`). */
  private frameClock: FrameClock | undefined;
  private clockReader: number | null = null;
  private lastTimed: { seq: number; ts: number } | null = null;
  readonly tracker: PartTracker;

  constructor(
    readonly station: StationSettings,
    private readonly source: FrameSource,
    private readonly products: ProductLibrary,
    private readonly publisher: MqttPublisher,
    private readonly lane: ScoringLane,
    private readonly logger?: Logger,
    tracker?: PartTracker,
  ) {
    super();
    this.tracker = tracker ?? new PartTracker({ camera: station.id, product: station.product, settings: station.parts });
  }

  get partMode(): boolean {
    return this.station.parts.mode !== 'frames';
  }

  start(): void {
    if (this.loop) return;
    if (this.partMode) this.source.setQueueDepth?.(partQueueDepth(this.station.parts.deadlineMs));
    this.source.start();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let frame: Frame | null;
      try {
        frame = await this.source.next();
      } catch (err) {
        if (this.stopping) break;
        throw err;
      }
      if (!frame) break;
      try {
        await this.process(frame);
      } catch (err) {
        this.counts.errors++;
        this.logger?.error({ frame: frame.seq, err }, `camera ${this.station.id}: frame ${frame.seq} could not be scored: ${(err as Error).message}`);
        if (this.listenerCount('error') > 0) this.emit('error', err as Error);
      }
    }
  }

  /**
   * Scores one frame, decides, publishes; undefined when the frame was not
   * scored (no active version, or no part needed it). Exposed for tests that
   * feed frames directly.
   */
  async process(frame: Frame): Promise<ScoredFrame | undefined> {
    const timed = this.onClock(frame);
    this.lastTimed = { seq: timed.seq, ts: timed.ts };
    return this.partMode ? this.processPartFrame(timed) : this.processFrame(timed);
  }

  /**
   * The frame with its time on the camera's frame clock (arrival kept in
   * `arrivalTs`): which frames fall in a part's window then depends on the
   * stream, not on how late the busy device read each frame. A new reader
   * (reconnect) starts the clock again.
   */
  private onClock(frame: Frame): Frame {
    const fps = this.station.fps;
    if (!frame.stream || !fps) return frame;
    if (!this.frameClock || this.clockReader !== frame.stream.reader) {
      this.frameClock = new FrameClock({ intervalMs: 1000 / fps });
      this.clockReader = frame.stream.reader;
    }
    const ts = this.frameClock.stamp(frame.stream.index, frame.ts);
    this.readDelay.add(frame.ts - ts);
    return { ...frame, ts, arrivalTs: frame.ts };
  }

  /** Frames mode: every frame scored and decided on its own. */
  private async processFrame(frame: Frame): Promise<ScoredFrame | undefined> {
    const product = this.products.find(this.station.product);
    if (!product) {
      this.counts.unscored++;
      return undefined;
    }
    return this.scoreFrame(frame, product, (outcome) => {
      const decided = decideFrame(this.frameDecision, outcome.verdict === 'reject', this.station.decision.debounceFrames);
      this.frameDecision = decided.state;
      return decided.reject;
    });
  }

  /** Trigger and presence modes: the frame goes to the part tracker, scored when a part needs it. */
  private async processPartFrame(frame: Frame): Promise<ScoredFrame | undefined> {
    const settings = this.station.parts;
    const frameId = `${this.station.id}-${frame.seq}`;
    const thumbnail = settings.mode === 'presence' || settings.inViewCheck ? makeThumbnail(frame.data, frame.width, frame.height, settings.presence.thumbnailSize) : undefined;
    const unscored = (why: NonNullable<TrackedFrame['unscored']>): TrackedFrame => ({ frameId, ts: frame.ts, score: null, unscored: why, thumbnail });
    const product = this.products.find(this.station.product);
    let tracked: TrackedFrame;
    let scored: ScoredFrame | undefined;
    if (!product) {
      this.counts.unscored++;
      tracked = unscored('not_enrolled');
    } else if (settings.mode === 'trigger' && monotonicNow() - frame.ts > settings.deadlineMs) {
      // Every part this frame could belong to was triggered before it arrived: their deadlines have passed.
      tracked = unscored('too_late');
    } else if (!this.tracker.needsScore(frame.ts, thumbnail)) {
      tracked = unscored('not_needed');
    } else {
      try {
        scored = await this.scoreFrame(frame, product, () => false);
        const { score, threshold } = scored.result;
        tracked = { frameId, ts: frame.ts, score, threshold, modelVersion: scored.result.modelVersion, thumbnail };
      } catch (err) {
        this.counts.errors++;
        this.logger?.error({ frame: frame.seq, err }, `camera ${this.station.id}: frame ${frame.seq} could not be scored: ${(err as Error).message}`);
        tracked = unscored('error');
      }
    }
    await this.deliver(this.tracker.onFrame(tracked, monotonicNow()).verdicts);
    return scored;
  }

  /** Applies part deadlines at `now` and delivers what became ready (called every few ms by the runtime). */
  tick(now: number): Promise<void> {
    return this.partMode ? this.deliver(this.tracker.tick(now)) : Promise.resolve();
  }

  /**
   * Stores and sends part verdicts in the order given (after those given
   * before): the part message, then for `action: reject` the reject signal
   * carrying the part id. Resolves once they are on disk.
   */
  deliver(verdicts: PartVerdict[]): Promise<void> {
    if (verdicts.length === 0) return this.delivering;
    const run = this.delivering.then(async () => {
      for (const verdict of verdicts) await this.deliverOne(verdict);
    });
    this.delivering = run.catch(() => undefined);
    return run;
  }

  private async deliverOne(verdict: PartVerdict): Promise<void> {
    const { seq: _trackerSeq, ...input } = verdict;
    let stored: PartVerdictPayload = verdict;
    try {
      stored = await this.publisher.publishPart(input);
    } catch (err) {
      this.logger?.error({ err, partId: verdict.partId }, `camera ${this.station.id}: the verdict of part ${verdict.partId} could not be stored: ${(err as Error).message}`);
    }
    this.emit('part', stored);
    if (verdict.action === 'reject') {
      try {
        await this.publisher.publishReject({
          ts: verdict.lastTs ?? verdict.decidedTs,
          frameId: verdict.partId,
          score: verdict.score,
          threshold: verdict.threshold,
          camera: verdict.camera,
          product: verdict.product,
          partId: verdict.partId,
        });
        this.counts.rejects++;
      } catch (err) {
        this.logger?.error({ err, partId: verdict.partId }, `camera ${this.station.id}: the reject of part ${verdict.partId} could not be stored: ${(err as Error).message}`);
      }
    }
  }

  /** Scores a frame, publishes its result (and the reject `fires` asks for), emits `scored`, then refines the mask of a reject. */
  private async scoreFrame(frame: Frame, served: ServedProduct, fires: (outcome: FrameOutcome) => boolean): Promise<ScoredFrame> {
    const { id: camera, product: productId } = this.station;
    const product = served.scorer;
    const t0 = performance.now();
    const input = await frameToInput(frame.data, frame.width, frame.height, product.inputSize);
    const t1 = performance.now();
    const outcome = await this.lane.score(laneScorer(served, this.lane.index), input, camera);
    const t2 = performance.now();
    const frameId = `${camera}-${frame.seq}`;
    const latencyMs = Math.max(0, monotonicNow() - (frame.arrivalTs ?? frame.ts));
    const result: ResultPayload = {
      ts: frame.ts,
      frameId,
      seq: frame.seq,
      product: productId,
      modelVersion: product.manifest.version,
      score: outcome.score,
      threshold: outcome.threshold,
      verdict: outcome.verdict,
      regions: outcome.regions.slice(0, 32),
      latencyMs,
    };
    let reject: RejectPayload | undefined;
    if (fires(outcome)) {
      // Durable before anything else happens: the outbox holds it until PUBACK.
      reject = await this.publisher.publishReject({ ts: frame.ts, frameId, score: outcome.score, threshold: outcome.threshold, camera, product: productId });
      this.counts.rejects++;
    }
    this.publisher.publishResult(camera, result);
    this.counts.scored++;
    this.latency.add(latencyMs);
    this.last = { score: outcome.score, verdict: outcome.verdict };
    const scored: ScoredFrame = {
      camera,
      result,
      reject,
      timings: { decodeToInputMs: t1 - t0, scoreMs: t2 - t1 },
      outcome,
      inputSize: product.inputSize,
      pixelThreshold: product.manifest.thresholds.pixel,
      buildMap: outcome.map ? undefined : once(() => this.lane.run(() => product.withMap(outcome))),
    };
    this.emit('scored', scored);
    if (reject && this.station.publishMasks) await this.publishMask(frame, frameId, product, outcome, reject.seq);
    return scored;
  }

  /**
   * Off the reject path: the refined mask follows once the broker has the reject (or
   * after a short wait when it is unreachable), so refining never delays the PLC signal.
   */
  private async publishMask(frame: Frame, frameId: string, product: ProductScorer, scored: FrameOutcome, rejectSeq: number): Promise<void> {
    await this.publisher.waitForReject(rejectSeq, REJECT_FIRST_MS);
    const { width, height } = product.inputSize;
    const minRegionArea = minAreaAtInput(this.station.refine.minRegionArea, frame, product.inputSize);
    const refined = await this.lane.run(async () => {
      const outcome = await product.withMap(scored);
      return refineMask(this.station.refine.mode, { image: { data: outcome.image, width, height }, map: outcome.map, threshold: product.manifest.thresholds.pixel, minRegionArea }, this.station.refine, product);
    });
    if (refined.fallback && !this.warnedFallback.has(product.manifest.version)) {
      this.warnedFallback.add(product.manifest.version);
      this.logger?.warn(`camera ${this.station.id}: refine.mode ${this.station.refine.mode} is not possible (${refined.fallback}); masks use the per-image threshold instead`);
    }
    this.publisher.publishMask(this.station.id, { ts: frame.ts, frameId, ...encodeMaskRle(refined.mask, width, height) });
  }

  /** The last frame taken: its number since the camera started (`seq`) and its time (`ts`, on the frame clock). */
  lastFrame(): { seq: number; ts: number } | null {
    return this.lastTimed;
  }

  stats(): PipelineStats {
    return {
      ...this.counts,
      lastScore: this.last?.score ?? null,
      lastVerdict: this.last?.verdict ?? null,
      p50Ms: this.latency.percentile(50),
      p99Ms: this.latency.percentile(99),
      readDelayP50Ms: this.readDelay.percentile(50),
      readDelayP99Ms: this.readDelay.percentile(99),
    };
  }

  /** Stops the camera, lets the frame being scored finish (its reject and part verdicts are stored), then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.source.stop();
    await this.loop;
    await this.delivering;
  }
}
