/**
 * Structural similarity (Wang et al. 2004) of two grey images, and its
 * multi-scale form (Wang, Simoncelli, Bovik 2003) — the figures stn-padim
 * reports for how well a spatial transformer restores a part's pose.
 * Gaussian window sigma 1.5, clamped borders, values on a 0..255 scale.
 */
import { gaussianKernel1d } from './gaussian.ts';
import { downscaleImage } from '../stn/pose.ts';

const C1 = (0.01 * 255) ** 2;
const C2 = (0.03 * 255) ** 2;
/** The published five-scale weights; fewer scales use the first ones, renormalised. */
const MS_WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

function blur(src: Float32Array, width: number, height: number, kernel: Float32Array): Float32Array {
  const r = (kernel.length - 1) / 2;
  const tmp = new Float32Array(src.length);
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -r; k <= r; k++) s += kernel[k + r]! * src[y * width + Math.min(width - 1, Math.max(0, x + k))]!;
      tmp[y * width + x] = s;
    }
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = -r; k <= r; k++) s += kernel[k + r]! * tmp[Math.min(height - 1, Math.max(0, y + k)) * width + x]!;
      out[y * width + x] = s;
    }
  return out;
}

/** Per-pixel luminance and contrast-structure terms of SSIM. */
function ssimMaps(a: Float32Array, b: Float32Array, width: number, height: number): { luminance: Float32Array; contrastStructure: Float32Array } {
  if (a.length !== width * height || b.length !== a.length) throw new Error(`SSIM needs two ${width}x${height} grey images`);
  const kernel = gaussianKernel1d(1.5, 3.5);
  const product = (x: Float32Array, y: Float32Array) => x.map((v, i) => v * y[i]!);
  const muA = blur(a, width, height, kernel);
  const muB = blur(b, width, height, kernel);
  const aa = blur(product(a, a), width, height, kernel);
  const bb = blur(product(b, b), width, height, kernel);
  const ab = blur(product(a, b), width, height, kernel);
  const luminance = new Float32Array(a.length);
  const contrastStructure = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const ma = muA[i]!;
    const mb = muB[i]!;
    const va = Math.max(0, aa[i]! - ma * ma);
    const vb = Math.max(0, bb[i]! - mb * mb);
    luminance[i] = (2 * ma * mb + C1) / (ma * ma + mb * mb + C1);
    contrastStructure[i] = (2 * (ab[i]! - ma * mb) + C2) / (va + vb + C2);
  }
  return { luminance, contrastStructure };
}

const mean = (v: Float32Array) => v.reduce((s, x) => s + x, 0) / v.length;

/** Mean SSIM of two grey images (1 = identical). */
export function ssim(a: Float32Array, b: Float32Array, width: number, height: number): number {
  const { luminance, contrastStructure } = ssimMaps(a, b, width, height);
  return mean(luminance.map((l, i) => l * contrastStructure[i]!));
}

/**
 * Multi-scale SSIM over `scales` dyadic scales (contrast-structure at every
 * scale, luminance at the coarsest), negative terms clamped to 0.
 */
export function msSsim(a: Float32Array, b: Float32Array, width: number, height: number, scales = 3): number {
  const weights = MS_WEIGHTS.slice(0, scales);
  const total = weights.reduce((s, w) => s + w, 0);
  let result = 1;
  let x = a;
  let y = b;
  let w = width;
  let h = height;
  for (let s = 0; s < scales; s++) {
    if (w < 8 || h < 8) throw new Error(`an image of ${width}x${height} is too small for ${scales}-scale SSIM`);
    const maps = ssimMaps(x, y, w, h);
    const weight = weights[s]! / total;
    result *= Math.max(0, mean(maps.contrastStructure)) ** weight;
    if (s === scales - 1) {
      result *= Math.max(0, mean(maps.luminance)) ** weight;
    } else {
      const dx = downscaleImage(x, w, h, 1, 2);
      x = dx.data;
      y = downscaleImage(y, w, h, 1, 2).data;
      w = dx.width;
      h = dx.height;
    }
  }
  return result;
}
