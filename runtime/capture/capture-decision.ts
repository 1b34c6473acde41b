/**
 * Whether a camera frame becomes a golden sample (pure): a frame is saved
 * when enough time has passed since the last saved one and it differs enough
 * from every sample saved so far. "Differs" is the mean absolute difference
 * of small grey thumbnails (0..1), which ignores sensor noise and compression
 * but sees a new part on the belt; a stopped belt shows the same part frame
 * after frame, and those frames are skipped as near-identical.
 */

/** Grey thumbnail of a frame, values 0..1, `size` x `size` (or smaller for tiny frames). */
export interface Thumbnail {
  width: number;
  height: number;
  values: Float32Array;
}

export const THUMBNAIL_SIZE = 16;

/** Box-averaged grey thumbnail of an RGB24 frame. */
export function greyThumbnail(frame: { width: number; height: number; data: Uint8Array }, size = THUMBNAIL_SIZE): Thumbnail {
  const { width, height, data } = frame;
  if (data.length < width * height * 3) throw new Error(`frame data holds ${data.length} bytes, ${width}x${height} RGB needs ${width * height * 3}`);
  const tw = Math.max(1, Math.min(size, width));
  const th = Math.max(1, Math.min(size, height));
  const values = new Float32Array(tw * th);
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * height) / th);
    const y1 = Math.floor(((ty + 1) * height) / th);
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * width) / tw);
      const x1 = Math.floor(((tx + 1) * width) / tw);
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * width + x) * 3;
          // ITU-R BT.601 luma.
          sum += 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
        }
      }
      values[ty * tw + tx] = sum / ((y1 - y0) * (x1 - x0) * 255);
    }
  }
  return { width: tw, height: th, values };
}

/** Mean absolute difference of two thumbnails (0 = identical, 1 = black vs white); 1 when their sizes differ. */
export function thumbnailDifference(a: Thumbnail, b: Thumbnail): number {
  if (a.width !== b.width || a.height !== b.height) return 1;
  let sum = 0;
  for (let i = 0; i < a.values.length; i++) sum += Math.abs(a.values[i]! - b.values[i]!);
  return sum / a.values.length;
}

export interface CaptureRules {
  /** Least time between two saved frames, ms. */
  minIntervalMs: number;
  /** Least thumbnail difference from every saved frame. */
  minChange: number;
}

export interface CaptureState {
  /** Arrival time of the last saved frame, ms; null before the first. */
  lastSavedTs: number | null;
  /** Thumbnails of the frames saved so far. */
  saved: Thumbnail[];
}

export type CaptureDecision =
  | { action: 'save' }
  | { action: 'too-soon'; waitMs: number }
  /** `difference` to the closest saved frame (index `closest`), below `minChange`. */
  | { action: 'similar'; difference: number; closest: number };

export function initialCaptureState(): CaptureState {
  return { lastSavedTs: null, saved: [] };
}

/** Decides for one frame; time is checked first, so similarity is only computed for frames that may be saved. */
export function decideCapture(state: CaptureState, ts: number, thumbnail: Thumbnail, rules: CaptureRules): CaptureDecision {
  if (state.lastSavedTs !== null && ts - state.lastSavedTs < rules.minIntervalMs) {
    return { action: 'too-soon', waitMs: rules.minIntervalMs - (ts - state.lastSavedTs) };
  }
  let closest = -1;
  let least = Infinity;
  state.saved.forEach((s, i) => {
    const d = thumbnailDifference(s, thumbnail);
    if (d < least) {
      least = d;
      closest = i;
    }
  });
  if (closest >= 0 && least < rules.minChange) return { action: 'similar', difference: least, closest };
  return { action: 'save' };
}

/** The state after a frame was saved. */
export function recordSaved(state: CaptureState, ts: number, thumbnail: Thumbnail): CaptureState {
  return { lastSavedTs: ts, saved: [...state.saved, thumbnail] };
}
