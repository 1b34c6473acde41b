/**
 * Camera-like jitter of a good part's image, for threshold calibration.
 *
 * A technician's golden samples are captured in one session; later parts
 * reach the camera a few degrees turned, a few percent nearer or farther, a
 * little shifted, under slightly other light and with other sensor noise.
 * Calibration scores each held-out golden sample also under a few such
 * jitters, so the reject threshold is fitted to how good parts vary between
 * captures rather than to one capture session alone.
 *
 * Design: the random draw, the geometry (how much mirrored border the warp
 * needs, where the output window sits) and the photometric part (gain,
 * offset, noise) are pure functions, checked on hand-computable inputs; the
 * pixel resampling (mirror padding, rotation, zoom, crop) is sharp's. The
 * frame is padded by mirroring before it is turned, so a turned or
 * zoomed-out view never shows an empty corner (which would itself look like
 * a defect) — the mirrored border stands in for the belt or surface the
 * camera would see there.
 */
import sharp, { type Sharp } from 'sharp';
import { gaussianSampler } from '../components/random.ts';
import type { RgbImage } from '../components/rgb-image.ts';

/** How far each camera variation may go either way (all zero: the image unchanged). */
export interface CameraJitterRanges {
  /** Largest rotation either way, degrees. */
  rotation: number;
  /** Largest zoom change either way (0.03 = 0.97..1.03). */
  zoom: number;
  /** Largest shift either way, as a fraction of the frame's width or height. */
  shift: number;
  /** Largest gain change either way (0.08 = 0.92..1.08). */
  gain: number;
  /** Largest offset either way, grey levels (0..255 scale). */
  offset: number;
  /** Largest standard deviation of added sensor noise, grey levels. */
  noise: number;
}

/** One drawn jitter. */
export interface CameraJitter {
  /** Rotation, degrees (positive: clockwise on screen). */
  angle: number;
  /** Zoom factor (1: unchanged; above 1: the part looks larger). */
  zoom: number;
  /** Shift of the content, output pixels (right, down). */
  dx: number;
  dy: number;
  gain: number;
  offset: number;
  /** Standard deviation of the added sensor noise, grey levels. */
  noise: number;
}

export const NO_JITTER: CameraJitter = { angle: 0, zoom: 1, dx: 0, dy: 0, gain: 1, offset: 0, noise: 0 };

/** Extra mirrored pixels kept around the window for the interpolation and rounding. */
const PADDING_MARGIN = 2;

const symmetric = (random: () => number, range: number) => (range > 0 ? (2 * random() - 1) * range : 0);

/**
 * Draws a jitter uniformly within the ranges (shift in whole pixels of a
 * `width` x `height` frame; noise uniform in 0..`noise`). Always consumes the
 * same number of draws, so one seed gives the same sequence whatever the ranges.
 */
export function drawCameraJitter(ranges: CameraJitterRanges, width: number, height: number, random: () => number): CameraJitter {
  const angle = symmetric(random, ranges.rotation);
  const zoom = 1 + symmetric(random, ranges.zoom);
  const dx = Math.round(symmetric(random, ranges.shift) * width);
  const dy = Math.round(symmetric(random, ranges.shift) * height);
  const gain = 1 + symmetric(random, ranges.gain);
  const offset = symmetric(random, ranges.offset);
  const noise = random() * ranges.noise;
  return { angle, zoom, dx, dy, gain, offset, noise };
}

/**
 * Mirrored pixels needed on every side so that the output window, turned
 * back and zoomed back into the input frame, lies inside the padded image:
 * the window's half extents (w/2 + |dx|, h/2 + |dy|) divided by the zoom,
 * rotated by the angle, beyond the frame's half size, plus a margin.
 */
export function jitterPadding(j: CameraJitter, width: number, height: number): number {
  if (!(j.zoom > 0)) throw new Error(`zoom ${j.zoom} must be positive`);
  const rad = (j.angle * Math.PI) / 180;
  const c = Math.abs(Math.cos(rad));
  const s = Math.abs(Math.sin(rad));
  const hx = (width / 2 + Math.abs(j.dx)) / j.zoom;
  const hy = (height / 2 + Math.abs(j.dy)) / j.zoom;
  const needX = hx * c + hy * s - width / 2;
  const needY = hx * s + hy * c - height / 2;
  return Math.max(0, Math.ceil(Math.max(needX, needY) - 1e-9)) + PADDING_MARGIN;
}

/** The 2x2 matrix of the turn and zoom, in image coordinates (y down): zoom * [[cos, -sin], [sin, cos]]. */
export function jitterMatrix(j: CameraJitter): [[number, number], [number, number]] {
  const rad = (j.angle * Math.PI) / 180;
  const c = j.zoom * Math.cos(rad);
  const s = j.zoom * Math.sin(rad);
  return [
    [c, -s],
    [s, c],
  ];
}

/**
 * Top-left corner of the `width` x `height` output window in the image the
 * turn and zoom produced from the frame padded by `pad` on every side.
 * Pixel centres sit at whole coordinates; the input centre c maps to M c,
 * and the warped image starts at the whole coordinate nearest to the
 * smallest transformed corner of the padded frame's extent [0, W] x [0, H]
 * (libvips's affine, which sharp runs, places its output so). The window's centre goes to the
 * input centre's image, moved by the content shift (dx, dy); the corner is
 * rounded to whole pixels.
 */
export function jitterWindow(j: CameraJitter, width: number, height: number, pad: number): { left: number; top: number } {
  const [[a, b], [c, d]] = j.angle !== 0 || j.zoom !== 1 ? jitterMatrix(j) : [[1, 0], [0, 1]];
  const pw = width + 2 * pad;
  const ph = height + 2 * pad;
  const corners = [[0, 0], [pw, 0], [0, ph], [pw, ph]] as const;
  const originX = Math.round(Math.min(...corners.map(([x, y]) => a * x + b * y)));
  const originY = Math.round(Math.min(...corners.map(([x, y]) => c * x + d * y)));
  const cx = (pw - 1) / 2;
  const cy = (ph - 1) / 2;
  const left = Math.round(a * cx + b * cy - originX - (width - 1) / 2 - j.dx);
  const top = Math.round(c * cx + d * cy - originY - (height - 1) / 2 - j.dy);
  return { left, top };
}

/**
 * The photometric part: every value times `gain`, plus `offset`, plus
 * Gaussian noise of `noise` grey levels (drawn from `random`), clamped to
 * 0..255 as a sensor clips. Pure: returns a new array.
 */
export function applyLight(data: Float32Array, j: Pick<CameraJitter, 'gain' | 'offset' | 'noise'>, random: () => number): Float32Array {
  const out = new Float32Array(data.length);
  const normal = j.noise > 0 ? gaussianSampler(random) : () => 0;
  for (let i = 0; i < data.length; i++) out[i] = Math.min(255, Math.max(0, data[i]! * j.gain + j.offset + normal() * j.noise));
  return out;
}

/** Rounds 0..255 float pixels to bytes for sharp. */
function toBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(data[i]!)));
  return out;
}

async function rawStep(input: Sharp): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await input.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`camera jitter expects 3 channels, sharp gave ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/**
 * The image as the camera might have seen the same part in another capture:
 * mirrored border, turned and zoomed (sharp, bicubic), shifted, then the light
 * and noise of `j` (noise drawn from `random`). Same size as the input.
 */
export async function jitterImage(image: RgbImage, j: CameraJitter, random: () => number): Promise<RgbImage> {
  const { width, height } = image;
  const raw = { width, height, channels: 3 as const };
  let data: Buffer | Uint8Array = toBytes(image.data);
  if (j.angle !== 0 || j.zoom !== 1 || j.dx !== 0 || j.dy !== 0) {
    const pad = jitterPadding(j, width, height);
    // One sharp pipeline per step: sharp applies the operations of one pipeline in its own fixed order.
    let step = await rawStep(sharp(data, { raw }).extend({ top: pad, bottom: pad, left: pad, right: pad, extendWith: 'mirror' }));
    if (j.angle !== 0 || j.zoom !== 1) {
      // Turn and zoom in one resampling, bicubic: bilinear resampling (or two in a row) smooths the
      // sensor noise and fine texture enough to score like a blur defect.
      step = await rawStep(sharp(step.data, { raw: { ...raw, width: step.width, height: step.height } }).affine(jitterMatrix(j), { interpolator: sharp.interpolators.bicubic }));
    }
    const { left, top } = jitterWindow(j, width, height, pad);
    if (left < 0 || top < 0 || left + width > step.width || top + height > step.height) {
      throw new Error(`jitter window ${left},${top} ${width}x${height} falls outside the warped image ${step.width}x${step.height}`);
    }
    step = await rawStep(sharp(step.data, { raw: { ...raw, width: step.width, height: step.height } }).extract({ left, top, width, height }));
    data = step.data;
  }
  return { data: applyLight(Float32Array.from(data), j, random), width, height };
}

/** `count` camera-jittered views of an image, each drawn within the ranges (one seeded sequence for draws and noise). */
export async function jitteredViews(image: RgbImage, count: number, ranges: CameraJitterRanges, random: () => number): Promise<RgbImage[]> {
  const views: RgbImage[] = [];
  for (let v = 0; v < count; v++) views.push(await jitterImage(image, drawCameraJitter(ranges, image.width, image.height, random), random));
  return views;
}
