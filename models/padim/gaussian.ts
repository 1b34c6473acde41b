/**
 * PaDiM's per-position Gaussians (Defard et al. 2021; papers/stn-padim.txt
 * uses them on STN-aligned features), pure functions: for every patch
 * position, the mean and the inverse covariance of the golden samples'
 * (reduced) features there, the covariance regularised by epsilon * I as
 * PaDiM does. A patch's score is its Mahalanobis distance to its position's
 * Gaussian — unlike the memory bank, where a patch sits matters, which is
 * what alignment makes possible.
 */

/**
 * For every position of a width x height grid, the index of its neighbour at
 * (dx, dy), clamped at the border. PaDiM with a tolerance of r cells scores a
 * position by the closest of the features at offsets within r under its
 * Gaussian, so a part aligned a few pixels off is not scored as a defect.
 */
export function neighbourIndices(width: number, height: number, dx: number, dy: number): Int32Array {
  const out = new Int32Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const nx = Math.min(width - 1, Math.max(0, x + dx));
      const ny = Math.min(height - 1, Math.max(0, y + dy));
      out[y * width + x] = ny * width + nx;
    }
  return out;
}

export interface PositionGaussians {
  positions: number;
  dim: number;
  /** [positions, dim] */
  mean: Float32Array;
  /** [positions, dim, dim], symmetric */
  precision: Float32Array;
}

/** Inverse of a symmetric positive-definite matrix (Cholesky), in float64. */
export function invertSpd(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (s <= 0) throw new Error('covariance is not positive definite (raise the regularisation)');
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j]!;
      }
    }
  }
  // inv(L) by forward substitution, then inv(A) = inv(L)^T inv(L).
  const li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s -= l[i * n + k]! * li[k * n + c]!;
      li[i * n + c] = s / l[i * n + i]!;
    }
  }
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += li[k * n + i]! * li[k * n + j]!;
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  return inv;
}

/**
 * Fits one Gaussian per position to `rows` [samples * positions, dim]
 * (sample-major, as enrollment stacks each sample's patch rows).
 */
export function fitPositionGaussians(rows: Float32Array, samples: number, positions: number, dim: number, epsilon: number): PositionGaussians {
  if (rows.length !== samples * positions * dim) throw new Error(`expected ${samples} x ${positions} x ${dim} feature values, got ${rows.length}`);
  if (samples < 2) throw new Error('a Gaussian per position needs at least two golden samples');
  const mean = new Float32Array(positions * dim);
  const precision = new Float32Array(positions * dim * dim);
  const mu = new Float64Array(dim);
  const cov = new Float64Array(dim * dim);
  for (let p = 0; p < positions; p++) {
    mu.fill(0);
    cov.fill(0);
    for (let s = 0; s < samples; s++) {
      const o = (s * positions + p) * dim;
      for (let i = 0; i < dim; i++) mu[i]! += rows[o + i]! / samples;
    }
    for (let s = 0; s < samples; s++) {
      const o = (s * positions + p) * dim;
      for (let i = 0; i < dim; i++) {
        const di = rows[o + i]! - mu[i]!;
        for (let j = 0; j <= i; j++) cov[i * dim + j]! += (di * (rows[o + j]! - mu[j]!)) / (samples - 1);
      }
    }
    for (let i = 0; i < dim; i++) {
      cov[i * dim + i]! += epsilon;
      for (let j = 0; j < i; j++) cov[j * dim + i] = cov[i * dim + j]!;
    }
    const inv = invertSpd(cov, dim);
    mean.set(mu, p * dim);
    precision.set(inv, p * dim * dim);
  }
  return { positions, dim, mean, precision };
}

/** Mahalanobis distance of one row to position p's Gaussian (reference for the ONNX graph). */
export function mahalanobis(g: PositionGaussians, p: number, row: ArrayLike<number>): number {
  const { dim } = g;
  let s = 0;
  for (let i = 0; i < dim; i++) {
    const di = row[i]! - g.mean[p * dim + i]!;
    for (let j = 0; j < dim; j++) s += di * g.precision[(p * dim + i) * dim + j]! * (row[j]! - g.mean[p * dim + j]!);
  }
  return Math.sqrt(Math.max(0, s));
}
