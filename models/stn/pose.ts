/**
 * Poses of a part in the frame as similarity transforms (pure functions).
 *
 * Coordinates are normalised the way ONNX GridSample reads them
 * (align_corners = 0): x, y in [-1, 1] across the frame, pixel centres at
 * (2i + 1) / n - 1. A sampling matrix M = [[a, -b, tx], [b, a, ty]] maps a
 * point q of the output image to the point M q of the source it is read
 * from: warp(src, M)(q) = src(M q). Scale s and angle r give a = s cos r,
 * b = s sin r. The spatial transformer predicts exactly such a matrix.
 */

/** [a, b, tx, ty]: the sampling matrix [[a, -b, tx], [b, a, ty]]. */
export type Similarity = [number, number, number, number];

export const IDENTITY: Similarity = [1, 0, 0, 0];

export interface PoseRanges {
  /** Largest rotation either way, in degrees (180: parts turn fully). */
  rotation: number;
  /** Largest shift either way, as a fraction of the frame width/height. */
  translation: number;
  /** Largest relative size change either way (0.1: +-10 %). */
  scale: number;
}

export function similarity(angleRad: number, scale: number, tx: number, ty: number): Similarity {
  return [scale * Math.cos(angleRad), scale * Math.sin(angleRad), tx, ty];
}

/** M1 M2: sampling with the result equals sampling with M2, then with M1 (src(M1 M2 q)). */
export function compose(m1: Similarity, m2: Similarity): Similarity {
  const [a1, b1, x1, y1] = m1;
  const [a2, b2, x2, y2] = m2;
  return [a1 * a2 - b1 * b2, a1 * b2 + b1 * a2, a1 * x2 - b1 * y2 + x1, b1 * x2 + a1 * y2 + y1];
}

export function invert(m: Similarity): Similarity {
  const [a, b, tx, ty] = m;
  const d = a * a + b * b;
  if (d < 1e-12) throw new Error('a degenerate pose (zero scale) has no inverse');
  const ia = a / d;
  const ib = -b / d;
  return [ia, ib, -(ia * tx - ib * ty), -(ib * tx + ia * ty)];
}

/**
 * Sampling scales a transformer trained on sizes within +-`range` can mean:
 * it undoes a size change of 1 + u * range, |u| <= 1.
 */
export function scaleBounds(range: number): [number, number] {
  const r = Math.min(Math.max(range, 0), 0.9);
  return [1 / (1 + r), 1 / (1 - r)];
}

/** The pose with its scale brought into `scaleBounds(range)`; angle and shift unchanged. */
export function clampScale(m: Similarity, range: number): Similarity {
  const [lo, hi] = scaleBounds(range);
  const s = Math.hypot(m[0], m[1]);
  if (s === 0) return m;
  const f = Math.min(hi, Math.max(lo, s)) / s;
  return [m[0] * f, m[1] * f, m[2], m[3]];
}

export function angleOf(m: Similarity): number {
  return Math.atan2(m[1], m[0]);
}

export function scaleOf(m: Similarity): number {
  return Math.hypot(m[0], m[1]);
}

/** A random pose within the ranges (uniform angle, scale and shift). */
export function randomPose(ranges: PoseRanges, random: () => number): Similarity {
  const u = () => random() * 2 - 1;
  const angle = (u() * ranges.rotation * Math.PI) / 180;
  const scale = 1 + u() * ranges.scale;
  // A shift of a fraction f of the frame is 2 f in normalised units.
  return similarity(angle, scale, u() * 2 * ranges.translation, u() * 2 * ranges.translation);
}

/**
 * Bilinear warp of an interleaved image (HWC, any channel count) with a
 * sampling matrix; points outside the source read its nearest edge pixel
 * (GridSample's padding_mode "border"), so a belt's colour fills the corners.
 */
export function warpImage(src: Float32Array, width: number, height: number, channels: number, m: Similarity, outWidth = width, outHeight = height): Float32Array {
  const out = new Float32Array(outWidth * outHeight * channels);
  const [a, b, tx, ty] = m;
  for (let j = 0; j < outHeight; j++) {
    const qy = (2 * j + 1) / outHeight - 1;
    for (let i = 0; i < outWidth; i++) {
      const qx = (2 * i + 1) / outWidth - 1;
      const sx = Math.min(width - 1, Math.max(0, (((a * qx - b * qy + tx) + 1) * width - 1) / 2));
      const sy = Math.min(height - 1, Math.max(0, (((b * qx + a * qy + ty) + 1) * height - 1) / 2));
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(width - 1, x0 + 1);
      const y1 = Math.min(height - 1, y0 + 1);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (j * outWidth + i) * channels;
      for (let c = 0; c < channels; c++) {
        const top = src[(y0 * width + x0) * channels + c]! * (1 - fx) + src[(y0 * width + x1) * channels + c]! * fx;
        const bottom = src[(y1 * width + x0) * channels + c]! * (1 - fx) + src[(y1 * width + x1) * channels + c]! * fx;
        out[o + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

/** Average of each factor x factor block (HWC in, HWC out; edges dropped). */
export function downscaleImage(src: Float32Array, width: number, height: number, channels: number, factor: number): { data: Float32Array; width: number; height: number } {
  const ow = Math.floor(width / factor);
  const oh = Math.floor(height / factor);
  const out = new Float32Array(ow * oh * channels);
  const inv = 1 / (factor * factor);
  for (let y = 0; y < oh * factor; y++) {
    const row = Math.floor(y / factor) * ow;
    for (let x = 0; x < ow * factor; x++) {
      const s = (y * width + x) * channels;
      const d = (row + Math.floor(x / factor)) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = out[d + c]! + src[s + c]! * inv;
    }
  }
  return { data: out, width: ow, height: oh };
}

/** Luma (ITU-R BT.601) of an RGB HWC image. */
export function luma(rgb: Float32Array): Float32Array {
  const out = new Float32Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = 0.299 * rgb[3 * i]! + 0.587 * rgb[3 * i + 1]! + 0.114 * rgb[3 * i + 2]!;
  return out;
}
