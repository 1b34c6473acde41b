/**
 * Decides which parts are kept as evidence and hands them to the record
 * store without delaying anything: every reject and every part without a
 * verdict, and a `samplePassed` share of passed parts. It is fed after the
 * verdict was published (part verdicts from the part tracker, or scored
 * frames when a camera has no part tracking), remembers each camera's last
 * few scored frames so a part's evidence is its highest-scoring frame, and
 * queues the PNG encoding and the write on a bounded queue. Every part is
 * also counted for production statistics.
 */
import type { Logger } from 'pino';
import sharp from 'sharp';
import { type RecordsSettings, recordsSettingsOf } from '../../config/records.ts';
import { maskPng, overlayPng } from '../../product/heatmap.ts';
import type { RecordVerdict } from '../../product/records-index.ts';
import { outcomeWithMap, type ScoredFrame } from '../camera-pipeline.ts';
import type { PartVerdict } from '../parts/tracker.ts';
import { openRecordStore } from './open-store.ts';
import { ProductionLog } from './production-log.ts';
import type { NewRecord, RecordStore } from './record-store.ts';
import { statisticsReport } from './statistics-report.ts';
import { WriteQueue } from './write-queue.ts';

/** Scored frames remembered per camera to find a part's evidence. */
const FRAMES_PER_CAMERA = 8;
const FLUSH_MS = 5000;
/** Drift is measured every this many flushes (once a minute). */
const DRIFT_EVERY = 12;

export interface RecorderOptions {
  /** True when verdicts come per part (onPartVerdict); else every scored frame is a verdict. */
  partVerdicts: boolean;
  random?: () => number;
  logger?: Logger;
}

export interface RecorderStats {
  queued: number;
  dropped: number;
  failed: number;
  waiting: number;
}

/** Whether a part with this verdict is kept. */
export function keepsPart(verdict: RecordVerdict, samplePassed: number, random: () => number): boolean {
  return verdict !== 'ok' || (samplePassed > 0 && random() < samplePassed);
}

/** The frame that shows a part best: the highest score within its frames' time span, else the newest before its verdict. */
export function evidenceFrame(frames: readonly ScoredFrame[], v: Pick<PartVerdict, 'firstTs' | 'lastTs' | 'decidedTs'>): ScoredFrame | undefined {
  const inSpan = v.firstTs !== null && v.lastTs !== null ? frames.filter((f) => f.result.ts >= v.firstTs! && f.result.ts <= v.lastTs!) : [];
  if (inSpan.length) return inSpan.reduce((best, f) => (f.result.score > best.result.score ? f : best));
  return frames.filter((f) => f.result.ts <= v.decidedTs).at(-1);
}

/** The image, heatmap overlay and mask of a scored frame, as PNG. */
export async function framePngs(frame: ScoredFrame): Promise<NewRecord['files']> {
  const { width, height } = frame.inputSize;
  const { image, map, mask } = await outcomeWithMap(frame);
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.max(0, Math.min(255, Math.round(image[i]!)));
  return {
    image: await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer(),
    map: await overlayPng(image, map, mask, width, height, frame.pixelThreshold),
    mask: await maskPng(mask, width, height),
  };
}

/** The device's recorder on its data folder, or undefined when `records.enabled` is false. */
export function createEvidenceRecorder(config: { dataDir: string }, opts: RecorderOptions): EvidenceRecorder | undefined {
  const settings = recordsSettingsOf(config);
  if (!settings.enabled) return undefined;
  return new EvidenceRecorder(openRecordStore(config.dataDir, settings), settings, opts);
}

export class EvidenceRecorder {
  private readonly frames = new Map<string, ScoredFrame[]>();
  private readonly queue: WriteQueue;
  private readonly production: ProductionLog;
  private readonly timer: NodeJS.Timeout;
  private readonly random: () => number;
  private queued = 0;
  private flushes = 0;
  private driftWarnings: string[] = [];

  constructor(
    readonly store: RecordStore,
    private readonly settings: RecordsSettings,
    private readonly opts: RecorderOptions,
  ) {
    this.random = opts.random ?? Math.random;
    this.queue = new WriteQueue(settings.queueLength, (err) => opts.logger?.warn({ err }, `records: a record was not kept: ${(err as Error).message}`));
    this.production = new ProductionLog(store.db, { keepScores: 50_000, referenceParts: settings.driftReferenceParts });
    this.timer = setInterval(() => this.flushCounts(), FLUSH_MS);
    this.timer.unref();
  }

  /** A camera scored a frame (after its result and any reject were published). */
  onScored(frame: ScoredFrame): void {
    const list = this.frames.get(frame.camera) ?? [];
    list.push(frame);
    if (list.length > FRAMES_PER_CAMERA) list.shift();
    this.frames.set(frame.camera, list);
    if (this.opts.partVerdicts) return;
    const r = frame.result;
    this.consider({ ts: r.ts, camera: frame.camera, product: r.product, version: r.modelVersion, verdict: frame.reject ? 'reject' : 'ok', score: r.score, threshold: r.threshold, partId: r.frameId }, frame);
  }

  /** A part's verdict was published. */
  onPartVerdict(v: PartVerdict): void {
    const frame = evidenceFrame(this.frames.get(v.camera) ?? [], v);
    this.consider({ ts: v.decidedTs, camera: v.camera, product: v.product, version: v.modelVersion, verdict: v.verdict, score: v.score, threshold: v.threshold, partId: v.partId }, frame);
  }

  private consider(part: Omit<NewRecord, 'files'>, frame: ScoredFrame | undefined): void {
    this.production.add(part);
    if (!this.settings.enabled || !keepsPart(part.verdict, this.settings.samplePassed, this.random)) return;
    const accepted = this.queue.push(async () => {
      await this.store.add({ ...part, files: frame ? await framePngs(frame) : {} });
    });
    if (accepted) this.queued++;
  }

  private flushCounts(): void {
    try {
      this.production.flush();
      if (this.flushes++ % DRIFT_EVERY === 0) this.checkDrift();
    } catch (err) {
      this.opts.logger?.warn({ err }, `records: production counts were not written: ${(err as Error).message}`);
    }
  }

  /** Measures the good parts' score drift of the last hour; warnings go to health. */
  checkDrift(now = Date.now()): string[] {
    this.driftWarnings = statisticsReport(this.store.db, this.settings, { from: now - 3_600_000, to: now + 1 }).warnings;
    return this.driftWarnings;
  }

  stats(): RecorderStats {
    return { queued: this.queued, dropped: this.queue.dropped, failed: this.queue.failed, waiting: this.queue.waiting };
  }

  /** Warnings for health: the disk floor, records dropped because writing could not keep up, score drift. */
  healthWarnings(): string[] {
    const warnings: string[] = [];
    const store = this.store.healthWarning();
    if (store) warnings.push(store);
    if (this.queue.dropped) warnings.push(`records: ${this.queue.dropped} records were dropped because writing could not keep up`);
    return [...warnings, ...this.driftWarnings.map((w) => `drift: ${w}`)];
  }

  /** Writes what is queued and counted. */
  async flush(): Promise<void> {
    await this.queue.idle();
    this.flushCounts();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.store.close();
  }
}
