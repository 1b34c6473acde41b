/**
 * The fixed linear reduction of patch features both scorers apply before
 * comparing them, (x - mean) . axes, emitted once into every scoring graph
 * (the search cost is linear in the dimension). Fitted at enrollment either
 * as a PCA of the golden samples' features (most variance sits in few axes)
 * or as a Gaussian random projection, which does not favour the directions
 * good parts vary in: a defect that shows along an axis of little variance
 * keeps its distance (Johnson-Lindenstrauss: every distance is kept to within
 * a factor that shrinks as the dimension grows).
 */
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import { principalAxes, reduceRows, subsampleRows } from '../components/pca.ts';
import { randomProjectionMatrix } from '../components/coreset.ts';

/** A fixed linear reduction of patch features: (x - mean) . axes, axes [C, D]. */
export interface FeatureReduction {
  mean: Float32Array;
  axes: Float32Array;
}

/** Rows sampled for the PCA: enough for stable axes, bounded cost. */
const PCA_SAMPLE_ROWS = 20000;

/** `x` [q, C] reduced to [q, D] inside a graph; `x` itself without a reduction. */
export function reduceInGraph(g: GraphBuilder, x: string, channels: number, reduction?: FeatureReduction): string {
  if (!reduction) return x;
  const dim = reduction.axes.length / channels;
  return g.op('MatMul', [g.op('Sub', [x, g.initializer('reduction_mean', reduction.mean, [channels])]), g.initializer('reduction_axes', reduction.axes, [channels, dim])]);
}

/** The `dim` principal axes of `rows` [count, channels], fitted on a random sample of them. */
export function fitPcaReduction(rows: Float32Array, count: number, channels: number, dim: number, random: () => number): { reduction: FeatureReduction; explainedVariance: number } {
  const sample = subsampleRows(rows, count, channels, PCA_SAMPLE_ROWS, random);
  const axes = principalAxes(sample, sample.length / channels, channels, dim);
  return { reduction: { mean: axes.mean, axes: axes.axes }, explainedVariance: axes.explainedVariance };
}

/** Total variance of rows [count, dim] (sum over dimensions of the variance). */
function totalVariance(rows: Float32Array, count: number, dim: number): number {
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) mean[c]! += rows[r * dim + c]!;
  let total = 0;
  for (let c = 0; c < dim; c++) mean[c] = mean[c]! / count;
  for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) total += (rows[r * dim + c]! - mean[c]!) ** 2;
  return total / count;
}

/**
 * A Gaussian random projection of `rows` [count, channels] to `dim`
 * dimensions: mean of the rows, axes N(0, 1/dim), so squared distances are
 * kept in expectation. `explainedVariance` is the projected rows' total
 * variance over the original's, measured on a sample (1 in expectation; how
 * far it is off says how much the projection stretches or shrinks these
 * features).
 */
export function fitRandomReduction(rows: Float32Array, count: number, channels: number, dim: number, seed: number, random: () => number): { reduction: FeatureReduction; explainedVariance: number } {
  const sample = subsampleRows(rows, count, channels, PCA_SAMPLE_ROWS, random);
  const n = sample.length / channels;
  const mean = new Float32Array(channels);
  for (let r = 0; r < n; r++) for (let c = 0; c < channels; c++) mean[c]! += sample[r * channels + c]!;
  for (let c = 0; c < channels; c++) mean[c] = mean[c]! / n;
  const reduction = { mean, axes: randomProjectionMatrix(channels, dim, seed) };
  const before = totalVariance(sample, n, channels);
  const after = totalVariance(reduceRows(sample, n, channels, reduction), n, dim);
  return { reduction, explainedVariance: before > 0 ? after / before : 1 };
}
