/** Gaussian smoothing kernels for anomaly maps (PatchCore smooths with sigma 4). */

/** Normalised 1-D Gaussian taps, radius = ceil(truncate * sigma). */
export function gaussianKernel1d(sigma: number, truncate = 4): Float32Array {
  if (!(sigma > 0)) throw new Error(`gaussian sigma must be positive, got ${sigma}`);
  const radius = Math.max(1, Math.ceil(truncate * sigma));
  const taps = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    taps[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < taps.length; i++) taps[i]! /= sum;
  return taps;
}
