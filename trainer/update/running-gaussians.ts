/**
 * PaDiM's per-position Gaussians updated with new golden samples without
 * refitting on the whole golden set (pure functions): each position keeps a
 * sample count, a mean and a scatter matrix (sum of outer products of the
 * deviations from the mean), and a batch of new samples is merged in with
 * Chan et al.'s pairwise formula — the same mean and covariance a direct fit
 * on the union gives, up to rounding.
 */
import { invertSpd, type PositionGaussians } from '../../models/padim/gaussian.ts';

/** One position's running statistics: n samples, their mean [dim] and scatter [dim, dim]. */
export interface RunningGaussian {
  n: number;
  mean: Float64Array;
  scatter: Float64Array;
}

/** Count, mean and scatter of `rows` [count, dim]. */
export function runningGaussianOf(rows: ArrayLike<number>, count: number, dim: number): RunningGaussian {
  const mean = new Float64Array(dim);
  for (let s = 0; s < count; s++) for (let i = 0; i < dim; i++) mean[i]! += rows[s * dim + i]! / count;
  const scatter = new Float64Array(dim * dim);
  for (let s = 0; s < count; s++)
    for (let i = 0; i < dim; i++) {
      const di = rows[s * dim + i]! - mean[i]!;
      for (let j = 0; j < dim; j++) scatter[i * dim + j]! += di * (rows[s * dim + j]! - mean[j]!);
    }
  return { n: count, mean, scatter };
}

/**
 * Chan's merge of two sets' statistics: n = na + nb, delta = mb - ma,
 * mean = ma + delta nb / n, scatter = Sa + Sb + delta delta^T na nb / n.
 */
export function mergeRunningGaussians(a: RunningGaussian, b: RunningGaussian): RunningGaussian {
  const dim = a.mean.length;
  if (b.mean.length !== dim) throw new Error(`cannot merge a ${dim}-dimensional Gaussian with a ${b.mean.length}-dimensional one`);
  const n = a.n + b.n;
  if (b.n === 0) return a;
  const delta = new Float64Array(dim);
  for (let i = 0; i < dim; i++) delta[i] = b.mean[i]! - a.mean[i]!;
  const mean = new Float64Array(dim);
  for (let i = 0; i < dim; i++) mean[i] = a.mean[i]! + (delta[i]! * b.n) / n;
  const w = (a.n * b.n) / n;
  const scatter = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++)
    for (let j = 0; j < dim; j++) scatter[i * dim + j] = a.scatter[i * dim + j]! + b.scatter[i * dim + j]! + delta[i]! * delta[j]! * w;
  return { n, mean, scatter };
}

/** The regularised covariance PaDiM scores with: scatter / (n - 1) + epsilon I. */
export function regularisedCovariance(g: RunningGaussian, epsilon: number): Float64Array {
  if (g.n < 2) throw new Error('a covariance needs at least two samples');
  const dim = g.mean.length;
  const cov = new Float64Array(dim * dim);
  for (let i = 0; i < dim * dim; i++) cov[i] = g.scatter[i]! / (g.n - 1);
  for (let i = 0; i < dim; i++) cov[i * dim + i]! += epsilon;
  return cov;
}

/**
 * A position's running statistics rebuilt from what an artifact stores: the
 * mean and the precision (inverse of the regularised covariance). The
 * covariance is the precision's inverse; minus epsilon I it is the sample
 * covariance, and times (n - 1) the scatter. `n` is not stored in the tensors:
 * the caller derives it from the manifest.
 */
export function runningGaussianFromStored(mean: ArrayLike<number>, precision: ArrayLike<number>, dim: number, n: number, epsilon: number): RunningGaussian {
  const cov = invertSpd(Float64Array.from(precision), dim);
  const scatter = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++)
    for (let j = 0; j < dim; j++) scatter[i * dim + j] = (cov[i * dim + j]! - (i === j ? epsilon : 0)) * (n - 1);
  return { n, mean: Float64Array.from(mean), scatter };
}

/**
 * Every position's Gaussian of `stored` (fitted on `n` samples with
 * regularisation `epsilon`) updated with `rows` [samples * positions, dim]
 * (sample-major, as enrollment stacks them), precision recomputed.
 */
export function updatePositionGaussians(stored: PositionGaussians, n: number, epsilon: number, rows: Float32Array, samples: number): PositionGaussians {
  const { positions, dim } = stored;
  if (rows.length !== samples * positions * dim) throw new Error(`expected ${samples} x ${positions} x ${dim} feature values, got ${rows.length}`);
  const mean = new Float32Array(positions * dim);
  const precision = new Float32Array(positions * dim * dim);
  const batch = new Float32Array(samples * dim);
  for (let p = 0; p < positions; p++) {
    const old = runningGaussianFromStored(stored.mean.subarray(p * dim, (p + 1) * dim), stored.precision.subarray(p * dim * dim, (p + 1) * dim * dim), dim, n, epsilon);
    for (let s = 0; s < samples; s++) batch.set(rows.subarray((s * positions + p) * dim, (s * positions + p + 1) * dim), s * dim);
    const merged = mergeRunningGaussians(old, runningGaussianOf(batch, samples, dim));
    mean.set(merged.mean, p * dim);
    precision.set(invertSpd(regularisedCovariance(merged, epsilon), dim), p * dim * dim);
  }
  return { positions, dim, mean, precision };
}
