/**
 * What the Live page shows per camera: the newest frame (with the heatmap
 * overlay when it was scored), the last result, and the recent rejects with
 * their overlay and defect mask, kept in memory. Images are encoded on
 * request (the newest frame) or after the reject was published (rejects),
 * never on the scoring path.
 */
import { EventEmitter } from 'node:events';
import sharp from 'sharp';
import { outcomeWithMap, type Frame, type PipelineEvents, type ScoredFrame } from '../camera-pipeline.ts';
import { maskPng, overlayPng } from '../../product/heatmap.ts';
import type { FrameEmitter } from '../capture/golden-capture.ts';

/** Rejects kept per camera. */
export const RECENT_REJECTS = 20;
/** A scored frame older than this (behind the newest frame) is no longer shown: the raw frame is. */
const SCORED_FRESH_MS = 3000;

export interface LiveCamera {
  id: string;
  source: FrameEmitter;
  pipeline: { on<K extends keyof PipelineEvents>(event: K, listener: (...args: PipelineEvents[K]) => void): unknown; off<K extends keyof PipelineEvents>(event: K, listener: (...args: PipelineEvents[K]) => void): unknown };
}

export interface LastResult {
  seq: number;
  ts: number;
  frameId: string;
  modelVersion: string;
  score: number;
  threshold: number;
  verdict: 'ok' | 'reject';
  regions: number;
}

export interface RecentReject extends LastResult {
  rejectSeq: number;
}

interface StoredReject extends RecentReject {
  images: Promise<{ overlay: Buffer; mask: Buffer }>;
}

interface CameraView {
  frame?: Frame;
  scored?: ScoredFrame;
  encoded?: { key: string; image: Promise<{ type: string; body: Buffer }> };
  rejects: StoredReject[];
  detach: () => void;
}

export function lastResult(s: ScoredFrame): LastResult {
  const r = s.result;
  return { seq: r.seq, ts: r.ts, frameId: r.frameId, modelVersion: r.modelVersion, score: r.score, threshold: r.threshold, verdict: r.verdict, regions: r.regions.length };
}

/** Newest first, at most `max`. */
export function pushRecent<T>(list: T[], item: T, max: number): T[] {
  return [item, ...list].slice(0, max);
}

export class LiveView extends EventEmitter<{ change: [] }> {
  private readonly views = new Map<string, CameraView>();

  constructor(cameras: LiveCamera[]) {
    super();
    this.setMaxListeners(100);
    for (const camera of cameras) {
      const view: CameraView = { rejects: [], detach: () => undefined };
      const onFrame = (frame: Frame) => {
        view.frame = frame;
        this.emit('change');
      };
      const onScored = (scored: ScoredFrame) => {
        view.scored = scored;
        if (scored.reject) this.keepReject(view, scored);
        this.emit('change');
      };
      camera.source.on('frame', onFrame);
      camera.pipeline.on('scored', onScored);
      view.detach = () => {
        camera.source.off('frame', onFrame);
        camera.pipeline.off('scored', onScored);
      };
      this.views.set(camera.id, view);
    }
  }

  private keepReject(view: CameraView, scored: ScoredFrame): void {
    const { inputSize: { width, height }, pixelThreshold } = scored;
    const images = outcomeWithMap(scored).then((outcome) =>
      Promise.all([overlayPng(outcome.image, outcome.map, outcome.mask, width, height, pixelThreshold), maskPng(outcome.mask, width, height)]).then(([overlay, mask]) => ({ overlay, mask })),
    );
    images.catch(() => undefined);
    view.rejects = pushRecent(view.rejects, { ...lastResult(scored), rejectSeq: scored.reject!.seq, images }, RECENT_REJECTS);
  }

  has(camera: string): boolean {
    return this.views.has(camera);
  }

  lastResult(camera: string): LastResult | null {
    const s = this.views.get(camera)?.scored;
    return s ? lastResult(s) : null;
  }

  /** Sequence number of the newest frame, so pages reload the image only when it changed. */
  frameSeq(camera: string): number | null {
    return this.views.get(camera)?.frame?.seq ?? null;
  }

  recentRejects(camera: string): RecentReject[] {
    return (this.views.get(camera)?.rejects ?? []).map(({ images: _i, ...r }) => r);
  }

  async rejectImage(camera: string, rejectSeq: number, kind: 'overlay' | 'mask'): Promise<Buffer | undefined> {
    const r = this.views.get(camera)?.rejects.find((x) => x.rejectSeq === rejectSeq);
    return r ? (await r.images)[kind] : undefined;
  }

  /**
   * The newest picture of the camera: the scored frame with its heatmap
   * overlay (PNG) while scoring keeps up, else the newest camera frame (JPEG).
   */
  image(camera: string): Promise<{ type: string; body: Buffer; scored: boolean }> | undefined {
    const view = this.views.get(camera);
    if (!view?.frame) return undefined;
    const { frame, scored } = view;
    const showScored = scored && frame.ts - scored.result.ts < SCORED_FRESH_MS;
    const key = showScored ? `s${scored.result.seq}` : `f${frame.seq}`;
    if (view.encoded?.key !== key) {
      const image = showScored
        ? outcomeWithMap(scored)
            .then((o) => overlayPng(o.image, o.map, o.mask, scored.inputSize.width, scored.inputSize.height, scored.pixelThreshold))
            .then((body) => ({ type: 'image/png', body }))
        : sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer().then((body) => ({ type: 'image/jpeg', body }));
      view.encoded = { key, image };
    }
    return view.encoded.image.then((i) => ({ ...i, scored: Boolean(showScored) }));
  }

  subscribe(listener: () => void): () => void {
    this.on('change', listener);
    return () => this.off('change', listener);
  }

  close(): void {
    for (const view of this.views.values()) view.detach();
    this.removeAllListeners();
  }
}
