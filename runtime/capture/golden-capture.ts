/**
 * Golden samples from a running camera: while good parts pass, frames are
 * taken from the camera's `frame` events (never from the scoring pipeline),
 * spaced in time and de-duplicated (runtime/capture/capture-decision.ts), and
 * written as `000.png`, `001.png`, ... into the folder an enrollment reads.
 */
import type { Frame } from '../camera-pipeline.ts';
import { decideCapture, greyThumbnail, initialCaptureState, recordSaved, type CaptureState } from './capture-decision.ts';
import { prepareSampleFolder, writeSamplePng } from './sample-files.ts';

/** Anything that emits decoded frames, e.g. FfmpegCamera ('frame' event). Capture listens; it never takes frames from the scoring pipeline. */
export interface FrameEmitter {
  on(event: 'frame', listener: (frame: Frame) => void): unknown;
  off(event: 'frame', listener: (frame: Frame) => void): unknown;
}

export interface CaptureOptions {
  /** Golden samples to save. */
  count: number;
  /** Created if missing; files 000.png, 001.png, ... (never overwrites existing files: numbering continues). */
  outDir: string;
  /** Least time between two saved frames (default 1000). */
  minIntervalMs?: number;
  /** Least difference from every frame already saved by this capture (mean absolute difference of a grey thumbnail, 0..1; default 0.02); below it a frame is skipped as a duplicate. */
  minChange?: number;
  /** Give up when no new frame was saved for this long (default 60000): CaptureError saying how many were saved and why others were skipped. */
  timeoutMs?: number;
  /** Most samples the folder may hold once the capture is done (default MAX_SAMPLES_PER_SET); a capture that would pass it is refused before it starts. */
  maxPerSet?: number;
  /** Cancels; the promise resolves with what was saved so far (kept on disk) and `aborted: true`. */
  signal?: AbortSignal;
  onProgress?: (p: CaptureProgress) => void;
}

export interface CaptureProgress {
  saved: number;
  count: number;
  skippedSimilar: number;
  skippedTooSoon: number;
  /** Set when this update reports a newly saved file. */
  file?: string;
}

export interface CaptureResult {
  files: string[];
  skippedSimilar: number;
  skippedTooSoon: number;
  seconds: number;
  /** True when the capture was cancelled through `signal` before `count` samples were saved. */
  aborted?: boolean;
}

export class CaptureError extends Error {
  /** Files saved before the capture failed (kept on disk). */
  files: string[] = [];
  /** Frames the source delivered. */
  frames = 0;
  skippedSimilar = 0;
  skippedTooSoon = 0;
  constructor(message: string) {
    super(message);
    this.name = 'CaptureError';
  }
}

export const CAPTURE_DEFAULTS = { minIntervalMs: 1000, minChange: 0.02, timeoutMs: 60_000 } as const;

/** Golden samples one set may hold: ten times what an enrollment needs, a bound on what captures can store. */
export const MAX_SAMPLES_PER_SET = 2000;

function checkOptions(opts: CaptureOptions): Required<Pick<CaptureOptions, 'minIntervalMs' | 'minChange' | 'timeoutMs'>> {
  const minIntervalMs = opts.minIntervalMs ?? CAPTURE_DEFAULTS.minIntervalMs;
  const minChange = opts.minChange ?? CAPTURE_DEFAULTS.minChange;
  const timeoutMs = opts.timeoutMs ?? CAPTURE_DEFAULTS.timeoutMs;
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new CaptureError(`count must be a whole number of samples, at least 1 (got ${opts.count})`);
  if (!opts.outDir) throw new CaptureError('outDir: give the folder the golden samples are written to');
  if (!Number.isFinite(minIntervalMs) || minIntervalMs < 0) throw new CaptureError(`minIntervalMs must be 0 or more milliseconds (got ${minIntervalMs})`);
  if (!Number.isFinite(minChange) || minChange < 0 || minChange > 1) throw new CaptureError(`minChange must be between 0 and 1 (got ${minChange})`);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new CaptureError(`timeoutMs must be more than 0 milliseconds (got ${timeoutMs})`);
  return { minIntervalMs, minChange, timeoutMs };
}

export async function captureGoldenSamples(source: FrameEmitter, opts: CaptureOptions): Promise<CaptureResult> {
  const rules = checkOptions(opts);
  const started = Date.now();
  let nextNumber: number;
  let existing: number;
  try {
    ({ next: nextNumber, count: existing } = await prepareSampleFolder(opts.outDir));
  } catch (err) {
    throw new CaptureError(`cannot use ${opts.outDir} for golden samples: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const maxPerSet = opts.maxPerSet ?? MAX_SAMPLES_PER_SET;
  if (existing + opts.count > maxPerSet) {
    throw new CaptureError(
      `${opts.outDir} holds ${existing} golden samples; capturing ${opts.count} more would pass the limit of ${maxPerSet} per set (ask for at most ${Math.max(0, maxPerSet - existing)}, or delete samples first)`,
    );
  }
  const files: string[] = [];
  let state: CaptureState = initialCaptureState();
  let decided = 0;
  let frames = 0;
  let skippedSimilar = 0;
  let skippedTooSoon = 0;
  const result = (aborted: boolean): CaptureResult => ({
    files: [...files],
    skippedSimilar,
    skippedTooSoon,
    seconds: (Date.now() - started) / 1000,
    ...(aborted ? { aborted: true } : {}),
  });
  const progress = (file?: string) => {
    try {
      opts.onProgress?.({ saved: files.length, count: opts.count, skippedSimilar, skippedTooSoon, ...(file ? { file } : {}) });
    } catch {
      // A failing progress display must not lose samples.
    }
  };
  if (opts.signal?.aborted) return result(true);

  return new Promise<CaptureResult>((resolve, reject) => {
    let finished = false;
    let writes: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;

    /** Stops listening; true the first time only. */
    const stop = () => {
      if (finished) return false;
      finished = true;
      source.off('frame', onFrame);
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (err: CaptureError) => reject(Object.assign(err, { files: [...files], frames, skippedSimilar, skippedTooSoon }));
    const finish = (outcome: { error?: CaptureError; aborted?: boolean }) => {
      if (!stop()) return;
      // Frames already chosen are written before the capture reports back.
      writes.then(() => (outcome.error ? fail(outcome.error) : resolve(result(!!outcome.aborted))), fail);
    };

    const armTimeout = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish({ error: new CaptureError(timeoutMessage(rules, opts.count, files.length, frames, skippedSimilar, skippedTooSoon)) }), rules.timeoutMs);
    };

    const onAbort = () => finish({ aborted: true });

    const onFrame = (frame: Frame) => {
      if (finished || decided >= opts.count) return;
      frames++;
      const thumbnail = greyThumbnail(frame);
      const decision = decideCapture(state, frame.ts, thumbnail, rules);
      if (decision.action === 'too-soon') {
        skippedTooSoon++;
        progress();
        return;
      }
      if (decision.action === 'similar') {
        skippedSimilar++;
        progress();
        return;
      }
      state = recordSaved(state, frame.ts, thumbnail);
      decided++;
      armTimeout();
      const number = nextNumber++;
      writes = writes.then(async () => {
        let written: { path: string; number: number };
        try {
          written = await writeSamplePng(opts.outDir, number, frame);
        } catch (err) {
          throw new CaptureError(`cannot write a golden sample into ${opts.outDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        nextNumber = Math.max(nextNumber, written.number + 1);
        files.push(written.path);
        progress(written.path);
      });
      writes.catch((err: CaptureError) => {
        if (stop()) fail(err);
      });
      if (decided >= opts.count) finish({});
    };

    opts.signal?.addEventListener('abort', onAbort, { once: true });
    source.on('frame', onFrame);
    armTimeout();
  });
}

function timeoutMessage(rules: { minIntervalMs: number; minChange: number; timeoutMs: number }, count: number, saved: number, frames: number, similar: number, tooSoon: number): string {
  const head = `no new golden sample for ${formatSeconds(rules.timeoutMs)}: saved ${saved} of ${count}`;
  if (frames === 0) return `${head}; no frame arrived from the camera`;
  const reasons: string[] = [];
  if (similar > 0) reasons.push(`${similar} near-identical to a saved sample (changed less than ${rules.minChange}: is the belt stopped, or the same part still in view?)`);
  if (tooSoon > 0) reasons.push(`${tooSoon} too soon after the last saved sample (less than ${formatSeconds(rules.minIntervalMs)} apart)`);
  return `${head}; of ${frames} camera frame${frames === 1 ? '' : 's'} ${reasons.join(' and ')} ${frames - saved === 1 ? 'was' : 'were'} skipped`;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
