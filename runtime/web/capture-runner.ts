/**
 * Golden-sample capture started from the web UI: spaced, de-duplicated
 * frames of a running camera (runtime/capture/golden-capture.ts, listening to
 * the camera's decoded frames beside the scoring pipeline) saved into a new
 * golden-sample set. One capture at a time; it can be cancelled.
 */
import { EventEmitter } from 'node:events';
import { captureGoldenSamples, type FrameEmitter } from '../capture/golden-capture.ts';
import { ApiError } from './http-util.ts';
import { createGoldenSet } from './golden-sets.ts';

export interface CaptureState {
  id: number;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  camera: string;
  product: string;
  set: string;
  count: number;
  saved: number;
  skippedSimilar: number;
  skippedTooSoon: number;
  startedAt: number;
  finishedAt: number | null;
  seconds: number | null;
  error: string | null;
}

export interface CaptureRequest {
  camera: string;
  source: FrameEmitter;
  product: string;
  count: number;
  /** Least difference from every sample already saved (0..1), see CaptureOptions. */
  minChange?: number;
  minIntervalMs?: number;
  timeoutMs?: number;
}

export class CaptureRunner extends EventEmitter<{ change: [] }> {
  private current: CaptureState | null = null;
  private abort: AbortController | undefined;
  private done: Promise<unknown> | undefined;
  private ids = 0;

  constructor(private readonly dataDir: string) {
    super();
  }

  snapshot(): CaptureState | null {
    return this.current;
  }

  get running(): boolean {
    return this.current?.state === 'running';
  }

  async start(req: CaptureRequest): Promise<CaptureState> {
    if (this.running) throw new ApiError(409, `a capture from camera ${this.current!.camera} is running; wait for it or cancel it first`);
    const { set, dir } = await createGoldenSet(this.dataDir, req.product);
    const abort = new AbortController();
    this.abort = abort;
    const job: CaptureState = {
      id: ++this.ids,
      state: 'running',
      camera: req.camera,
      product: req.product,
      set,
      count: req.count,
      saved: 0,
      skippedSimilar: 0,
      skippedTooSoon: 0,
      startedAt: Date.now(),
      finishedAt: null,
      seconds: null,
      error: null,
    };
    this.current = job;
    const update = (patch: Partial<CaptureState>) => {
      if (this.current?.id !== job.id) return;
      this.current = { ...this.current, ...patch };
      this.emit('change');
    };
    const ended = () => ({ finishedAt: Date.now(), seconds: Math.round((Date.now() - job.startedAt) / 100) / 10 });
    this.done = captureGoldenSamples(req.source, {
      count: req.count,
      outDir: dir,
      signal: abort.signal,
      ...(req.minChange !== undefined ? { minChange: req.minChange } : {}),
      ...(req.minIntervalMs !== undefined ? { minIntervalMs: req.minIntervalMs } : {}),
      ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
      onProgress: (p) => update({ saved: p.saved, skippedSimilar: p.skippedSimilar, skippedTooSoon: p.skippedTooSoon }),
    }).then(
      (r) =>
        update({
          ...ended(),
          ...(abort.signal.aborted ? { state: 'cancelled', error: 'cancelled by the user' } : { state: 'done' }),
          saved: r.files.length,
          skippedSimilar: r.skippedSimilar,
          skippedTooSoon: r.skippedTooSoon,
        }),
      (err: Error) => update(abort.signal.aborted ? { ...ended(), state: 'cancelled', error: 'cancelled by the user' } : { ...ended(), state: 'failed', error: err.message }),
    );
    this.emit('change');
    return job;
  }

  cancel(): CaptureState {
    if (!this.running) throw new ApiError(409, 'no capture is running');
    this.abort?.abort();
    return this.current!;
  }

  async close(): Promise<void> {
    this.abort?.abort();
    await this.done;
  }
}
