/**
 * Defect masks beyond one fixed threshold:
 * - `none`: the anomaly map at the threshold it is given;
 * - `filter`: plus the small-region filter (8-connected regions smaller than
 *   `minRegionArea` original-image pixels become normal);
 * - `threshold`: the frame's own threshold from five pasted rectangles
 *   (models/refine/per-image-threshold.ts), then the small-region filter.
 * - `f2pad`: F2PAD (models/refine/f2pad.ts) from the fixed-threshold mask,
 *   then the small-region filter; a product without F2PAD data falls back to
 *   `threshold` and says why in `fallback`.
 * It runs for flagged frames only, after their reject is stored.
 */
import type { RefineMode, RefineSettings } from '../config/refine.ts';
import { removeSmallRegions } from '../models/components/connected-components.ts';
import { seededRandom } from '../models/components/random.ts';
import { anomalyRectangles, pasteRectangles, searchThreshold } from '../models/refine/per-image-threshold.ts';
import type { F2padModel } from '../models/refine/f2pad-model.ts';
import { thresholdMap } from './scorer.ts';

export interface RefinedMask {
  mask: Uint8Array;
  /** The pixel threshold the mask was cut at. */
  threshold: number;
  /** Thresholds tried, or F2PAD iterations run (0 for a fixed threshold). */
  iterations: number;
  ms: number;
  /** The mode that made the mask (differs from the one asked for after a fallback). */
  mode: RefineMode;
  /** Why the mode asked for could not run. */
  fallback?: string;
}

export interface MapScorer {
  /** Anomaly map of an image already in the product's canonical pose (no alignment). */
  scoreMap(image: { data: Float32Array }): Promise<{ map: Float32Array }>;
  /** Reason F2PAD cannot run for this product, if any. */
  readonly f2padUnavailable?: string;
  f2pad?(candidates: number): Promise<F2padModel | undefined>;
}

export async function refineMask(
  mode: RefineMode,
  input: { image: { data: Float32Array; width: number; height: number }; map: Float32Array; threshold: number; minRegionArea: number },
  settings: RefineSettings,
  scorer: MapScorer,
): Promise<RefinedMask> {
  const t0 = performance.now();
  const { width, height } = input.image;
  let threshold = input.threshold;
  let iterations = 0;
  let fallback: string | undefined;
  if (mode === 'f2pad') {
    const model = await scorer.f2pad?.(settings.f2pad.candidates);
    if (model) {
      const refined = await model.refineMask(input.image.data, thresholdMap(input.map, threshold), settings.f2pad);
      const mask = removeSmallRegions(refined.mask, width, height, input.minRegionArea, 8);
      return { mask, threshold, iterations: refined.iterations, ms: performance.now() - t0, mode };
    }
    fallback = scorer.f2padUnavailable ?? 'F2PAD is not available for this product';
    mode = 'threshold';
  }
  if (mode === 'threshold') {
    const rects = anomalyRectangles(width, height, settings.rectangles.size);
    const pasted = pasteRectangles(input.image.data, width, height, rects, settings.rectangles.fill, seededRandom(settings.seed));
    const { map } = await scorer.scoreMap({ data: pasted.image });
    threshold = searchThreshold(map, pasted.mask, settings.iterTimes).threshold;
    iterations = settings.iterTimes;
  }
  let mask = thresholdMap(input.map, threshold);
  if (mode !== 'none') mask = removeSmallRegions(mask, width, height, input.minRegionArea, 8);
  return { mask, threshold, iterations, ms: performance.now() - t0, mode, ...(fallback ? { fallback } : {}) };
}
