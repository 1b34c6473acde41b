/**
 * An upper bound on every value of an anomaly map, from its patch scores
 * alone (pure math), so a scorer can tell without building the map that no
 * pixel reaches a threshold.
 *
 * Why it holds: the map (anomaly-map.ts) is bilinear upsampling followed by a
 * Gaussian blur with reflect padding. Each output of the upsampling is a
 * convex combination of patch scores (non-negative weights that sum to 1,
 * edges clamped), and each blurred pixel is a convex combination of upsampled
 * pixels (normalised non-negative taps, reflected borders). So every map
 * value is sum_q w_q * s_q over the patch scores s_q with w_q >= 0, sum 1,
 * and is at most the largest patch score.
 *
 * Both steps act on rows and columns separately, so the weight of patch
 * (i, j) in pixel (y, x) is a_i(y) * b_j(x), with a_i the map of a grid holding
 * ones in patch row i (constant along x) and b_j that of patch column j. Then
 * map(y, x) = sum_i a_i(y) * r_i(x) with r_i(x) = sum_j b_j(x) * s_ij, and as
 * a_i >= 0 that is at most sum_i a_i(y) * max_x r_i(x): a bound that costs a
 * few passes over the patch grid instead of a full-size map, and is far
 * tighter than the largest patch score (a lone high patch is spread out).
 *
 * Float32 rounding of a sum of k terms moves it by at most about k * 2^-24
 * times the largest magnitude; `MAP_BOUND_SLACK` covers a few thousand terms,
 * far more than the 4 bilinear and 2 * (2 * radius + 1) blur terms of a pixel.
 * The 1-D weights, measured in float32 from the map graph itself, are off by
 * at most a few 2^-24 each, which adds (rows + columns) times that to the
 * relative error, also within the slack. Below float32's normal range
 * rounding is absolute (at most 2^-150 an operation), which `MAP_BOUND_FLOOR`
 * covers. Scores with NaN or infinities get an infinite bound (the map is
 * built).
 */

/** Relative slack over the largest patch-score magnitude that covers float32 rounding in the map graph. */
export const MAP_BOUND_SLACK = 1e-4;

/** Absolute slack for patch scores so small that float32 rounds them absolutely (subnormals). */
export const MAP_BOUND_FLOOR = 1e-30;

/** No value of the anomaly map of these patch scores exceeds this (knowing nothing of the weights). */
export function anomalyMapUpperBound(patchScores: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < patchScores.length; i++) if (patchScores[i]! > max) max = patchScores[i]!;
  return finiteOr(max + roundingSlack(patchScores));
}

/** The bound, or Infinity when non-finite scores made it meaningless. */
function finiteOr(bound: number): number {
  return Number.isFinite(bound) ? bound : Infinity;
}

/** The 1-D weights of a separable map: per patch row its weight in every pixel row, per patch column in every pixel column. */
export interface SeparableWeights {
  rows: Float32Array[];
  columns: Float32Array[];
}

/** No value of the anomaly map of these patch scores ([rows.length * columns.length], row-major) exceeds this. */
export function separableMapBound(patchScores: Float32Array, weights: SeparableWeights): number {
  const { rows, columns } = weights;
  if (patchScores.length !== rows.length * columns.length) throw new Error(`${patchScores.length} patch scores for a ${columns.length}x${rows.length} grid`);
  const supports = columns.map(support);
  const rowPeaks = rows.map((_, i) => rowPeak(patchScores.subarray(i * columns.length, (i + 1) * columns.length), columns, supports));
  let bound = -Infinity;
  for (let y = 0; y < rows[0]!.length; y++) {
    let sum = 0;
    for (let i = 0; i < rows.length; i++) sum += rows[i]![y]! * rowPeaks[i]!;
    bound = Math.max(bound, sum);
  }
  return finiteOr(bound + roundingSlack(patchScores));
}

/** First and one past the last index of the non-zero weights (a patch reaches only pixels near it). */
function support(weights: Float32Array): [number, number] {
  let lo = 0;
  let hi = weights.length;
  while (lo < hi && weights[lo] === 0) lo++;
  while (hi > lo && weights[hi - 1] === 0) hi--;
  return [lo, hi];
}

/** max_x sum_j b_j(x) * s_j: the largest value of one patch row smoothed along x. */
function rowPeak(scores: Float32Array, columns: Float32Array[], supports: [number, number][]): number {
  const smoothed = new Float64Array(columns[0]!.length);
  for (let j = 0; j < columns.length; j++) {
    const s = scores[j]!;
    const b = columns[j]!;
    const [lo, hi] = supports[j]!;
    for (let x = lo; x < hi; x++) smoothed[x]! += b[x]! * s;
  }
  let peak = -Infinity;
  for (const v of smoothed) peak = Math.max(peak, v);
  return peak;
}

/** Float32 rounding the map graph may add (see the module comment). */
function roundingSlack(patchScores: Float32Array): number {
  let magnitude = 0;
  for (let i = 0; i < patchScores.length; i++) magnitude = Math.max(magnitude, Math.abs(patchScores[i]!));
  return MAP_BOUND_SLACK * magnitude + MAP_BOUND_FLOOR;
}

/**
 * The 1-D weights from maps of single rows and single columns of ones
 * (`mapOf` builds one map [height * width], row-major): the largest value
 * across the other axis, so float32 noise cannot make a weight too small.
 */
export async function measureSeparableWeights(
  grid: { height: number; width: number },
  image: { height: number; width: number },
  mapOf: (patchScores: Float32Array) => Promise<Float32Array>,
): Promise<SeparableWeights> {
  const indicator = (on: (i: number, j: number) => boolean) => Float32Array.from({ length: grid.height * grid.width }, (_, k) => (on(Math.floor(k / grid.width), k % grid.width) ? 1 : 0));
  const rows: Float32Array[] = [];
  for (let i = 0; i < grid.height; i++) {
    const map = await mapOf(indicator((row) => row === i));
    rows.push(Float32Array.from({ length: image.height }, (_, y) => maxOf(map.subarray(y * image.width, (y + 1) * image.width))));
  }
  const columns: Float32Array[] = [];
  for (let j = 0; j < grid.width; j++) {
    const map = await mapOf(indicator((_row, column) => column === j));
    columns.push(Float32Array.from({ length: image.width }, (_, x) => maxOf(Float32Array.from({ length: image.height }, (_, y) => map[y * image.width + x]!))));
  }
  return { rows, columns };
}

function maxOf(values: Float32Array): number {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  return max;
}
