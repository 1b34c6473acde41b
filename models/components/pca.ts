/**
 * Principal axes of a set of feature rows (covariance + subspace iteration).
 * Enrollment reduces patch features to the leading axes, so the exact
 * nearest-neighbour search works in few dimensions. Hand-written: the few
 * leading eigenvectors of one covariance matrix are ~40 lines, less than
 * wiring in a general linear-algebra package.
 */

export interface PrincipalAxes {
  mean: Float32Array;
  /** [dim, k] row-major: column j is the j-th axis (unit length, orthogonal). */
  axes: Float32Array;
  eigenvalues: Float64Array;
  /** Share of the total variance the kept axes explain. */
  explainedVariance: number;
}

/** Orthonormalises the k columns of v ([n, k] row-major) in place (modified Gram-Schmidt). */
function orthonormalise(v: Float64Array, n: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += v[i * k + j]! * v[i * k + p]!;
      for (let i = 0; i < n; i++) v[i * k + j]! -= dot * v[i * k + p]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i * k + j]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) v[i * k + j]! /= norm;
  }
}

/**
 * The k leading eigenvectors of a symmetric positive semi-definite matrix by
 * subspace (orthogonal) iteration: O(n^2 k) per step, so wide backbones with
 * hundreds or thousands of channels stay fast. Returns [n, k] row-major
 * columns sorted by eigenvalue, and the eigenvalues.
 */
export function leadingEigenvectors(matrix: Float64Array, n: number, k: number, iterations = 60, seed = 1): { vectors: Float64Array; values: Float64Array } {
  let v = new Float64Array(n * k);
  let s = seed;
  for (let i = 0; i < v.length; i++) v[i] = ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
  orthonormalise(v, n, k);
  const next = new Float64Array(n * k);
  for (let it = 0; it < iterations; it++) {
    next.fill(0);
    for (let i = 0; i < n; i++)
      for (let l = 0; l < n; l++) {
        const m = matrix[i * n + l]!;
        if (m === 0) continue;
        for (let j = 0; j < k; j++) next[i * k + j]! += m * v[l * k + j]!;
      }
    v = Float64Array.from(next);
    orthonormalise(v, n, k);
  }
  // Rayleigh quotients, then columns sorted by them.
  const values = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let q = 0;
    for (let i = 0; i < n; i++) {
      let cv = 0;
      for (let l = 0; l < n; l++) cv += matrix[i * n + l]! * v[l * k + j]!;
      q += v[i * k + j]! * cv;
    }
    values[j] = q;
  }
  const order = Array.from({ length: k }, (_, j) => j).sort((x, y) => values[y]! - values[x]!);
  const vectors = new Float64Array(n * k);
  for (let i = 0; i < n; i++) order.forEach((col, j) => (vectors[i * k + j] = v[i * k + col]!));
  return { vectors, values: Float64Array.from(order.map((o) => values[o]!)) };
}

/** The `k` leading principal axes of `rows` ([count, dim] row-major). */
export function principalAxes(rows: Float32Array, count: number, dim: number, k: number): PrincipalAxes {
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let c = 0; c < dim; c++) mean[c]! += rows[r * dim + c]!;
  for (let c = 0; c < dim; c++) mean[c] = mean[c]! / count;
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < dim; c++) centred[c] = rows[r * dim + c]! - mean[c]!;
    for (let i = 0; i < dim; i++) {
      const ci = centred[i]!;
      for (let j = i; j < dim; j++) cov[i * dim + j]! += ci * centred[j]!;
    }
  }
  for (let i = 0; i < dim; i++) for (let j = i; j < dim; j++) cov[j * dim + i] = cov[i * dim + j] = cov[i * dim + j]! / count;
  const kk = Math.min(k, dim);
  const { vectors, values } = leadingEigenvectors(cov, dim, kk);
  let total = 0;
  for (let i = 0; i < dim; i++) total += cov[i * dim + i]!;
  const kept = values.reduce((a, b) => a + Math.max(0, b), 0);
  return { mean: Float32Array.from(mean), axes: Float32Array.from(vectors), eigenvalues: values, explainedVariance: total > 0 ? kept / total : 1 };
}

/** (row - mean) . axes for every row: [count, dim] -> [count, k]. */
export function reduceRows(rows: Float32Array, count: number, dim: number, reduction: { mean: Float32Array; axes: Float32Array }): Float32Array {
  const k = reduction.axes.length / dim;
  const out = new Float32Array(count * k);
  const centred = new Float32Array(dim);
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < dim; c++) centred[c] = rows[r * dim + c]! - reduction.mean[c]!;
    const o = r * k;
    for (let c = 0; c < dim; c++) {
      const v = centred[c]!;
      const a = c * k;
      for (let j = 0; j < k; j++) out[o + j]! += v * reduction.axes[a + j]!;
    }
  }
  return out;
}

/** Up to `max` rows drawn without replacement (all rows when there are fewer). */
export function subsampleRows(rows: Float32Array, count: number, dim: number, max: number, random: () => number): Float32Array {
  if (count <= max) return rows;
  const out = new Float32Array(max * dim);
  const picked = new Set<number>();
  while (picked.size < max) picked.add(Math.floor(random() * count));
  [...picked].forEach((r, i) => out.set(rows.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}
