/** Row-major matrix helpers for building graph initializers. */

/** The transpose [cols, rows] of a row-major [rows, cols] matrix. */
export function transposeMatrix(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}
