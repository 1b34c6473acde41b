/** Row-major matrix helpers for building graph initializers. */

/** The transpose [cols, rows] of a row-major [rows, cols] matrix. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/**
 * Solves x . A = b for the row vector x (A square [n, n], row-major), by
 * Gaussian elimination with partial pivoting on A^T x^T = b^T. Throws when A
 * is singular to working precision.
 */
export function solveRowVector(a: Float32Array, b: Float32Array, n: number): Float32Array {
  if (a.length !== n * n || b.length !== n) throw new Error(`solve needs a ${n}x${n} matrix and ${n} values`);
  // m = [A^T | b^T] in float64.
  const m = new Float64Array(n * (n + 1));
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) m[r * (n + 1) + c] = a[c * n + r]!;
    m[r * (n + 1) + n] = b[r]!;
  }
  let scale = 0;
  for (const v of a) scale = Math.max(scale, Math.abs(v));
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * (n + 1) + col]!) > Math.abs(m[pivot * (n + 1) + col]!)) pivot = r;
    if (Math.abs(m[pivot * (n + 1) + col]!) <= scale * n * 1e-12) throw new Error('the matrix is singular');
    if (pivot !== col) {
      for (let c = 0; c <= n; c++) {
        const t = m[col * (n + 1) + c]!;
        m[col * (n + 1) + c] = m[pivot * (n + 1) + c]!;
        m[pivot * (n + 1) + c] = t;
      }
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * (n + 1) + col]! / m[col * (n + 1) + col]!;
      if (f === 0) continue;
      for (let c = col; c <= n; c++) m[r * (n + 1) + c] = m[r * (n + 1) + c]! - f * m[col * (n + 1) + c]!;
    }
  }
  const x = new Float32Array(n);
  for (let r = 0; r < n; r++) x[r] = m[r * (n + 1) + n]! / m[r * (n + 1) + r]!;
  return x;
}

/** Row-major product [rows, inner] x [inner, cols]. */
export function multiplyMatrices(a: Float32Array, b: Float32Array, rows: number, inner: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < inner; k++) {
      const v = a[r * inner + k]!;
      if (v === 0) continue;
      const o = r * cols;
      const bo = k * cols;
      for (let c = 0; c < cols; c++) out[o + c] = out[o + c]! + v * b[bo + c]!;
    }
  }
  return out;
}
