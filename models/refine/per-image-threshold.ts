/**
 * Per-image threshold (papers/stn-registration-memory-bank.txt §3.2.4):
 * five rectangles — the four corners and the right centre — are pasted into
 * a copy of the frame as known anomalies; the copy is scored, and of
 * `iterTimes` thresholds spread between the lowest and the highest anomaly
 * score inside the rectangles, the one whose mask best matches the rectangles
 * (IoU) is the frame's own pixel threshold. It adapts the mask to the frame's
 * lighting and content instead of one threshold calibrated for all frames.
 *
 * Pure functions; the scoring of the pasted copy is the caller's.
 */

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type RectangleFill = 'noise' | 'invert';

export interface RectangleSettings {
  /** Rectangle side as a share of the shorter image side. */
  size: number;
  /** `noise`: uniform random colours; `invert`: the negative of the pixels underneath. */
  fill: RectangleFill;
}

/** The four corners and the right centre, each `size` of the shorter side. */
export function anomalyRectangles(width: number, height: number, size: number): Rect[] {
  const side = Math.max(2, Math.round(Math.min(width, height) * size));
  const w = Math.min(side, width);
  const h = Math.min(side, height);
  return [
    { x: 0, y: 0, w, h },
    { x: width - w, y: 0, w, h },
    { x: 0, y: height - h, w, h },
    { x: width - w, y: height - h, w, h },
    { x: width - w, y: Math.round((height - h) / 2), w, h },
  ];
}

/** A copy of an HWC RGB image (0..255) with the rectangles pasted in, and their mask. */
export function pasteRectangles(
  image: Float32Array,
  width: number,
  height: number,
  rects: Rect[],
  fill: RectangleFill,
  random: () => number,
): { image: Float32Array; mask: Uint8Array } {
  if (image.length !== width * height * 3) throw new Error(`image holds ${image.length} values, expected ${width}x${height}x3`);
  const out = Float32Array.from(image);
  const mask = new Uint8Array(width * height);
  for (const r of rects) {
    for (let y = r.y; y < r.y + r.h; y++) {
      for (let x = r.x; x < r.x + r.w; x++) {
        const p = y * width + x;
        mask[p] = 1;
        for (let c = 0; c < 3; c++) out[p * 3 + c] = fill === 'noise' ? Math.floor(random() * 256) : 255 - image[p * 3 + c]!;
      }
    }
  }
  return { image: out, mask };
}

/** Intersection over union of `map >= threshold` with a binary mask (1 when both are empty). */
export function thresholdIou(map: Float32Array, threshold: number, mask: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < map.length; i++) {
    const p = map[i]! >= threshold;
    const m = mask[i] === 1;
    if (p && m) inter++;
    if (p || m) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/**
 * The threshold, among `iterTimes` evenly spaced between the lowest and the
 * highest map value inside the rectangles, whose mask best matches them.
 * Ties go to the higher threshold (fewer false positives).
 */
export function searchThreshold(map: Float32Array, rectMask: Uint8Array, iterTimes = 10): { threshold: number; iou: number } {
  if (map.length !== rectMask.length) throw new Error(`map has ${map.length} values, the rectangle mask ${rectMask.length}`);
  if (!Number.isInteger(iterTimes) || iterTimes < 1) throw new Error(`iterTimes must be a whole number >= 1, got ${iterTimes}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    if (!rectMask[i]) continue;
    lo = Math.min(lo, map[i]!);
    hi = Math.max(hi, map[i]!);
  }
  if (lo === Infinity) throw new Error('the rectangle mask is empty');
  let best = { threshold: hi, iou: -1 };
  for (let k = 0; k < iterTimes; k++) {
    const threshold = iterTimes === 1 ? lo : lo + ((hi - lo) * k) / (iterTimes - 1);
    const iou = thresholdIou(map, threshold, rectMask);
    if (iou >= best.iou) best = { threshold, iou };
  }
  return best;
}

/** Converts a minimum region area in original-image pixels to model-input pixels. */
export function minAreaAtInput(minArea: number, original: { width: number; height: number }, input: { width: number; height: number }): number {
  return Math.max(1, Math.round((minArea * input.width * input.height) / (original.width * original.height)));
}
