/**
 * An upper bound on every value of an anomaly map, from its patch scores
 * alone (pure math), so a scorer can tell without building the map that no
 * pixel reaches a threshold.
 *
 * Why it holds: the map (anomaly-map.ts) is bilinear upsampling followed by a
 * Gaussian blur with reflect padding. Each output of the upsampling is a
 * convex combination of patch scores (non-negative weights that sum to 1,
 * edges clamped), and each blurred pixel is a convex combination of upsampled
 * pixels (normalised non-negative taps, reflected borders). So every map value
 * lies within [min, max] of the patch scores in exact arithmetic. Float32
 * rounding of a sum of k such terms moves it by at most about k * 2^-24 times
 * the largest magnitude; `MAP_BOUND_SLACK` covers a few thousand terms, far
 * more than the 4 bilinear and 2 * (2 * radius + 1) blur terms of a pixel.
 * Below float32's normal range rounding is absolute (at most 2^-150 an
 * operation), which `MAP_BOUND_FLOOR` covers.
 */

/** Relative slack over the largest patch-score magnitude that covers float32 rounding in the map graph. */
export const MAP_BOUND_SLACK = 1e-4;

/** Absolute slack for patch scores so small that float32 rounds them absolutely (subnormals). */
export const MAP_BOUND_FLOOR = 1e-30;

/** No value of the anomaly map of these patch scores exceeds this. */
export function anomalyMapUpperBound(range: { min: number; max: number }): number {
  const magnitude = Math.max(Math.abs(range.min), Math.abs(range.max));
  return range.max + MAP_BOUND_SLACK * magnitude + MAP_BOUND_FLOOR;
}
