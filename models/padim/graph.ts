/**
 * PaDiM's scoring graph (pure graph emission, no I/O): the Mahalanobis
 * distance of every position's patch feature to that position's Gaussian.
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { reduceInGraph, type FeatureReduction } from '../features/reduction.ts';
import { neighbourIndices } from './gaussian.ts';

/**
 * PaDiM's scoring graph (fit in gaussian.ts): input `features` [P, C]
 * (one row per position, in grid order), optionally PCA-reduced to D, output
 * `patchScores` [P]: the Mahalanobis distance of each row to its position's
 * Gaussian, sqrt((x - mu)^T S^-1 (x - mu)), as one batched MatMul.
 */
export function mahalanobisGraph(
  gaussians: { positions: number; dim: number; mean: Float32Array; precision: Float32Array },
  channels: number,
  reduction?: FeatureReduction,
  tolerance?: { grid: { width: number; height: number }; cells: number },
): Uint8Array {
  const { positions, dim } = gaussians;
  const g = new GraphBuilder('padim-mahalanobis');
  const x = reduceInGraph(g, g.input('features', [positions, channels]), channels, reduction);
  const mean = g.initializer('padim_mean', gaussians.mean, [positions, dim]);
  const precision = g.initializer('padim_precision', gaussians.precision, [positions, dim, dim]);
  const rowShape = g.int64s('row_shape', [positions, 1, dim]);
  const axes = g.int64s('axes', [1, 2]);
  /** Squared Mahalanobis distance of every position's row of `features` to that position's Gaussian. */
  const quadratic = (features: string) => {
    const row = g.op('Reshape', [g.op('Sub', [features, mean]), rowShape]);
    return g.op('ReduceSum', [g.op('Mul', [g.op('MatMul', [row, precision]), row]), axes], { keepdims: 0 });
  };
  let best = quadratic(x);
  const r = tolerance?.cells ?? 0;
  if (r > 0) {
    const { width, height } = tolerance!.grid;
    if (width * height !== positions) throw new Error(`PaDiM tolerance: a ${width}x${height} grid does not hold ${positions} positions`);
    const candidates = [best];
    for (let dy = -r; dy <= r; dy++)
      for (let dx = -r; dx <= r; dx++) {
        if (dx === 0 && dy === 0) continue;
        const idx = g.int64s(`neighbour_${dx}_${dy}`, Array.from(neighbourIndices(width, height, dx, dy)));
        candidates.push(quadratic(g.op('Gather', [x, idx], { axis: 0 })));
      }
    best = g.op('Min', candidates);
  }
  g.output(g.op('Sqrt', [g.op('Relu', [best])]), 'patchScores', [positions]);
  return g.toBytes();
}
