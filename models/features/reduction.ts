/**
 * The fixed linear reduction of patch features both scorers apply before
 * comparing them, (x - mean) . axes: fitted at enrollment as a PCA of the
 * golden samples' features (the search cost is linear in the dimension and
 * most variance sits in few axes), emitted once into every scoring graph.
 */
import type { GraphBuilder } from '../onnx/graph-builder.ts';
import { principalAxes, subsampleRows } from '../components/pca.ts';

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
