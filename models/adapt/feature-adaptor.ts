/**
 * The feature adaptor of CutSwap adaptation (pure math): a residual linear
 * map of the aggregated patch features,
 *
 *   x' = x . M + o,   M = I + diag(1/s) W diag(s),   o = -(u/s) W diag(s),
 *
 * i.e. x' = x + s * (((x - u) / s) . W) with the per-channel mean u and scale s
 * of the golden features, W learned (zero at the start: the adaptor starts as
 * the identity). Being linear, it folds into the product's feature reduction
 * (x' - mean) . axes, so the scoring and F2PAD graphs run adapted features at
 * no extra cost per frame and need not know an adaptor exists.
 */
import type { FeatureReduction } from '../features/reduction.ts';
import { multiplyMatrices, solveRowVector } from '../components/matrix.ts';

export interface FeatureAdaptor {
  /** M, [C, C] row-major. */
  matrix: Float32Array;
  /** o, [C]. */
  offset: Float32Array;
}

/** M and o from the learned W [C, C] and the standardisation (u, s). */
export function adaptorFromWeights(weights: Float32Array, mean: Float32Array, scale: Float32Array): FeatureAdaptor {
  const c = mean.length;
  if (weights.length !== c * c || scale.length !== c) throw new Error(`adaptor weights of ${weights.length} values do not fit ${c} channels`);
  const matrix = new Float32Array(c * c);
  const offset = new Float32Array(c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      const w = weights[i * c + j]! * scale[j]!;
      matrix[i * c + j] = (i === j ? 1 : 0) + w / scale[i]!;
      offset[j] = offset[j]! - (mean[i]! / scale[i]!) * w;
    }
  }
  return { matrix, offset };
}

/** x' = x . M + o for `count` rows of C channels. */
export function adaptRows(rows: Float32Array, count: number, adaptor: FeatureAdaptor): Float32Array {
  const c = adaptor.offset.length;
  if (rows.length !== count * c) throw new Error(`${rows.length} values are not ${count} rows of ${c} channels`);
  const out = multiplyMatrices(rows, adaptor.matrix, count, c, c);
  for (let r = 0; r < count; r++) for (let j = 0; j < c; j++) out[r * c + j] = out[r * c + j]! + adaptor.offset[j]!;
  return out;
}

/**
 * The one reduction equal to "adapt, then reduce": (x' - m) . A with x' = x M + o
 * is (x - c) . (M A) with c M = m - o. Without a reduction, A is the identity.
 */
export function foldAdaptor(adaptor: FeatureAdaptor, reduction?: FeatureReduction): FeatureReduction {
  const c = adaptor.offset.length;
  const mean = reduction?.mean ?? new Float32Array(c);
  const axes = reduction ? multiplyMatrices(adaptor.matrix, reduction.axes, c, c, reduction.axes.length / c) : Float32Array.from(adaptor.matrix);
  const shift = mean.map((m, j) => m - adaptor.offset[j]!);
  return { mean: solveRowVector(adaptor.matrix, shift, c), axes };
}
