/**
 * One camera's line of work: newest frame -> score against the camera's
 * product -> decision -> MQTT. Frames are pulled, never queued: while a frame
 * is being scored the camera source keeps only the newest one and counts the
 * rest as dropped, so latency stays bounded when scoring is slower than the
 * camera.
 *
 * A reject is written to the durable outbox (inside `publishReject`) before
 * the next frame is taken, so a crash after a decision never loses it.
 *
 * While the camera's product has no active version yet, frames are taken
 * and counted as unscored: the camera streams (live view, golden-sample
 * capture) and scoring starts with the first frame after a version is
 * activated.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { encodeMaskRle, type RejectPayload, type ResultPayload } from './mqtt/payloads.ts';
import type { MqttPublisher } from './mqtt/publisher.ts';
import { decide, initialDecisionState, type DecisionSettings, type DecisionState } from './decision.ts';
import type { RefineSettings } from '../config/refine.ts';
import { minAreaAtInput } from '../models/refine/per-image-threshold.ts';
import { frameToInput } from '../product/image-io.ts';
import { refineMask } from '../product/refine-mask.ts';
import { LatencyWindow } from './latency-window.ts';
import type { ProductLibrary } from './product-library.ts';
import type { ScoringLane } from './scoring-lane.ts';
import type { ScoreOutcome } from '../product/scorer.ts';

/** Longest wait for a reject's PUBACK before its mask is refined. */
const REJECT_FIRST_MS = 250;

/** One decoded camera frame (RGB24). */
export interface Frame {
  cameraId: string;
  seq: number;
  /** Arrival time, ms since epoch. */
  ts: number;
  width: number;
  height: number;
  data: Buffer;
}

/** What the pipeline needs from a camera source (implemented by `FfmpegCamera` in runtime/ingest/ffmpeg-camera.ts). */
export interface FrameSource {
  start(): void;
  stop(): Promise<void>;
  /** The newest frame not yet taken; null once the source is stopped. */
  next(): Promise<Frame | null>;
}

export interface StationSettings {
  /** Camera id (MQTT topic level). */
  id: string;
  product: string;
  decision: DecisionSettings;
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
  /** What was scored: image, anomaly map and mask at the product's input size (for overlays). */
  outcome: ScoreOutcome;
  /** The product's input size and pixel threshold the outcome refers to. */
  inputSize: { width: number; height: number };
  pixelThreshold: number;
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
}

export interface PipelineEvents {
  scored: [ScoredFrame];
  error: [Error];
}

export class CameraPipeline extends EventEmitter<PipelineEvents> {
  private decision: DecisionState = initialDecisionState;
  private readonly latency = new LatencyWindow();
  private counts = { scored: 0, unscored: 0, rejects: 0, errors: 0 };
  private last: { score: number; verdict: 'ok' | 'reject' } | null = null;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Product versions whose refine.mode fallback was already logged. */
  private readonly warnedFallback = new Set<string>();

  constructor(
    readonly station: StationSettings,
    private readonly source: FrameSource,
    private readonly products: ProductLibrary,
    private readonly publisher: MqttPublisher,
    private readonly lane: ScoringLane,
    private readonly logger?: Logger,
  ) {
    super();
  }

  start(): void {
    if (this.loop) return;
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
   * Scores one frame, decides, publishes; undefined while the product has no
   * active version. Exposed for tests that feed frames directly.
   */
  async process(frame: Frame): Promise<ScoredFrame | undefined> {
    const { id: camera, product: productId } = this.station;
    const product = this.products.find(productId);
    if (!product) {
      this.counts.unscored++;
      return undefined;
    }
    const t0 = performance.now();
    const input = await frameToInput(frame.data, frame.width, frame.height, product.inputSize);
    const t1 = performance.now();
    const outcome = await this.lane.score(product, input, camera);
    const t2 = performance.now();
    const decided = decide(this.decision, outcome.verdict, frame.ts, this.station.decision);
    this.decision = decided.state;
    const frameId = `${camera}-${frame.seq}`;
    const latencyMs = Math.max(0, Date.now() - frame.ts);
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
    if (decided.reject) {
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
    };
    this.emit('scored', scored);
    if (reject && this.station.publishMasks) {
      // Off the reject path: the refined mask follows once the broker has the reject (or
      // after a short wait when it is unreachable), so refining never delays the PLC signal.
      await this.publisher.waitForReject(reject.seq, REJECT_FIRST_MS);
      const { width, height } = product.inputSize;
      const minRegionArea = minAreaAtInput(this.station.refine.minRegionArea, frame, product.inputSize);
      const refined = await this.lane.run(() =>
        refineMask(this.station.refine.mode, { image: { data: outcome.image, width, height }, map: outcome.map, threshold: product.manifest.thresholds.pixel, minRegionArea }, this.station.refine, product),
      );
      if (refined.fallback && !this.warnedFallback.has(product.manifest.version)) {
        this.warnedFallback.add(product.manifest.version);
        this.logger?.warn(`camera ${this.station.id}: refine.mode ${this.station.refine.mode} is not possible (${refined.fallback}); masks use the per-image threshold instead`);
      }
      this.publisher.publishMask(camera, { ts: frame.ts, frameId, ...encodeMaskRle(refined.mask, width, height) });
    }
    return scored;
  }

  stats(): PipelineStats {
    return {
      ...this.counts,
      lastScore: this.last?.score ?? null,
      lastVerdict: this.last?.verdict ?? null,
      p50Ms: this.latency.percentile(50),
      p99Ms: this.latency.percentile(99),
    };
  }

  /** Stops the camera, lets the frame being scored finish (its reject is stored), then resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.source.stop();
    await this.loop;
  }
}
