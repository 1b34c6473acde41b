/**
 * Greedy coreset selection (k-center / farthest-point sampling), as PatchCore
 * uses it to shrink the memory bank: the selected features cover all others
 * with the smallest worst-case distance a greedy pass can reach. Distances are
 * measured on a Gaussian random projection of the features, which preserves
 * them approximately (Johnson-Lindenstrauss) at a fraction of the cost.
 *
 * Written by hand: the loop is sequential by nature (each pick depends on all
 * previous ones) and small enough that a tight typed-array loop beats calling a
 * tensor library per iteration.
 */
import { gaussianSampler, seededRandom } from './random.ts';

/** A [dimIn, dimOut] Gaussian projection matrix scaled by 1/sqrt(dimOut). */
export function randomProjectionMatrix(dimIn: number, dimOut: number, seed: number): Float32Array {
  const normal = gaussianSampler(seededRandom(seed));
  const scale = 1 / Math.sqrt(dimOut);
  const m = new Float32Array(dimIn * dimOut);
  for (let i = 0; i < m.length; i++) m[i] = normal() * scale;
  return m;
}

/** rows [n, dimIn] times matrix [dimIn, dimOut] -> [n, dimOut]. */
export function projectRows(rows: Float32Array, n: number, dimIn: number, matrix: Float32Array, dimOut: number): Float32Array {
  const out = new Float32Array(n * dimOut);
  for (let r = 0; r < n; r++) {
    const o = r * dimOut;
    for (let k = 0; k < dimIn; k++) {
      const v = rows[r * dimIn + k]!;
      if (v === 0) continue;
      const mk = k * dimOut;
      for (let j = 0; j < dimOut; j++) out[o + j]! += v * matrix[mk + j]!;
    }
  }
  return out;
}

export interface CoresetOptions {
  /** Dimension of the random projection distances are measured in; 0 = no projection. */
  projectionDim?: number;
  seed?: number;
  /** Called every few hundred picks with (picked, total). */
  onProgress?: (picked: number, total: number) => void;
}

/**
 * Picks `count` row indices of `features` ([n, dim], row-major) by greedy
 * farthest-point sampling, starting from a seeded random row.
 */
export function coresetGreedy(features: Float32Array, n: number, dim: number, count: number, opts: CoresetOptions = {}): Int32Array {
  if (features.length !== n * dim) throw new Error(`coreset: ${features.length} values for ${n} x ${dim} features`);
  if (n === 0) throw new Error('coreset: no features to select from');
  const k = Math.max(1, Math.min(count, n));
  const projectionDim = opts.projectionDim ?? 128;
  const seed = opts.seed ?? 0;
  let points = features;
  let d = dim;
  if (projectionDim > 0 && projectionDim < dim) {
    points = projectRows(features, n, dim, randomProjectionMatrix(dim, projectionDim, seed), projectionDim);
    d = projectionDim;
  }
  const minDist = new Float32Array(n).fill(Infinity);
  const picked = new Int32Array(k);
  let current = Math.floor(seededRandom(seed ^ 0x9e3779b9)() * n);
  const centre = new Float32Array(d);
  for (let s = 0; s < k; s++) {
    picked[s] = current;
    // The centre is copied out so the inner loop reads two flat arrays linearly.
    centre.set(points.subarray(current * d, current * d + d));
    let best = -1;
    let bestDist = -1;
    for (let i = 0, p = 0; i < n; i++, p += d) {
      let a = 0;
      let b = 0;
      let j = 0;
      for (; j + 1 < d; j += 2) {
        const x = points[p + j]! - centre[j]!;
        const y = points[p + j + 1]! - centre[j + 1]!;
        a += x * x;
        b += y * y;
      }
      if (j < d) {
        const x = points[p + j]! - centre[j]!;
        a += x * x;
      }
      const dist = a + b;
      const m = dist < minDist[i]! ? dist : minDist[i]!;
      minDist[i] = m;
      if (m > bestDist) {
        bestDist = m;
        best = i;
      }
    }
    current = best;
    if (opts.onProgress && (s % 256 === 255 || s === k - 1)) opts.onProgress(s + 1, k);
  }
  return picked;
}

/** Copies the selected rows of `features` into a new [indices.length, dim] matrix. */
export function gatherRows(features: Float32Array, dim: number, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * dim);
  for (let r = 0; r < indices.length; r++) out.set(features.subarray(indices[r]! * dim, indices[r]! * dim + dim), r * dim);
  return out;
}
