/**
 * Principal axes of a set of feature rows (covariance + Jacobi eigenvalue
 * iteration). The nearest-neighbour search projects onto the leading axes to
 * get tight lower bounds of distances. Hand-written: a symmetric eigensolver
 * for a few hundred dimensions is ~40 lines and no maintained pure-JS
 * linear-algebra package is needed for it.
 */

export interface PrincipalAxes {
  mean: Float32Array;
  /** [dim, k] row-major: column j is the j-th axis (unit length, orthogonal). */
  axes: Float32Array;
  eigenvalues: Float64Array;
  /** Share of the total variance the kept axes explain. */
  explainedVariance: number;
}

/** Eigenvalues and eigenvectors (columns of `vectors`, row-major n x n) of a symmetric matrix. */
export function symmetricEigen(matrix: Float64Array, n: number, sweeps = 30): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
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
  const { values, vectors } = symmetricEigen(cov, dim);
  const order = Array.from({ length: dim }, (_, i) => i).sort((x, y) => values[y]! - values[x]!).slice(0, k);
  const axes = new Float32Array(dim * order.length);
  for (let i = 0; i < dim; i++) for (const [j, col] of order.entries()) axes[i * order.length + j] = vectors[i * dim + col]!;
  const total = values.reduce((a, b) => a + Math.max(0, b), 0);
  const kept = order.reduce((a, o) => a + Math.max(0, values[o]!), 0);
  return { mean: Float32Array.from(mean), axes, eigenvalues: Float64Array.from(order.map((o) => values[o]!)), explainedVariance: total > 0 ? kept / total : 1 };
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
