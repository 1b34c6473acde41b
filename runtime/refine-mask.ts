/**
 * Defect masks beyond one fixed threshold:
 * - `none`: the anomaly map at the threshold it is given;
 * - `filter`: plus the small-region filter (8-connected regions smaller than
 *   `minRegionArea` original-image pixels become normal);
 * - `threshold`: the frame's own threshold from five pasted rectangles
 *   (models/refine/per-image-threshold.ts), then the small-region filter.
 * It runs for flagged frames only, after their reject is stored.
 */
import type { RefineSettings } from '../config/schema.ts';
import { removeSmallRegions } from '../models/components/connected-components.ts';
import { seededRandom } from '../models/components/random.ts';
import { anomalyRectangles, pasteRectangles, searchThreshold } from '../models/refine/per-image-threshold.ts';
import { thresholdMap } from './product-scorer.ts';

export const REFINE_MODES = ['none', 'filter', 'threshold'] as const;
export type RefineMode = (typeof REFINE_MODES)[number];

export interface RefinedMask {
  mask: Uint8Array;
  /** The pixel threshold the mask was cut at. */
  threshold: number;
  /** Thresholds tried (0 when none was searched). */
  iterations: number;
  ms: number;
}

export interface MapScorer {
  score(image: { data: Float32Array }): Promise<{ map: Float32Array }>;
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
  if (mode === 'threshold') {
    const rects = anomalyRectangles(width, height, settings.rectangles.size);
    const pasted = pasteRectangles(input.image.data, width, height, rects, settings.rectangles.fill, seededRandom(settings.seed));
    const { map } = await scorer.score({ data: pasted.image });
    threshold = searchThreshold(map, pasted.mask, settings.iterTimes).threshold;
    iterations = settings.iterTimes;
  }
  let mask = thresholdMap(input.map, threshold);
  if (mode !== 'none') mask = removeSmallRegions(mask, width, height, input.minRegionArea, 8);
  return { mask, threshold, iterations, ms: performance.now() - t0 };
}
