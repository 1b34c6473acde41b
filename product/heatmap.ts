/**
 * Heatmap overlays for technicians: the anomaly map in a jet-like colour
 * scale blended over the image, with the defect mask outlined in white.
 * Colour is relative to the product's pixel threshold: at the threshold a
 * value is yellow, at half of it blue; below a quarter the image shows through.
 */
import sharp from 'sharp';

/** Weight of the colour over the image where the map shows. */
const ALPHA = 0.55;
const KEEP = 1 - ALPHA;

/** One channel of the jet scale: 0..255 for x in 0..1, clamped. */
function channel(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 255 : Math.round(255 * x);
}

/**
 * Per pixel without allocations or closures: the device renders one overlay
 * per kept record on its main thread, beside the line's frames and triggers.
 */
export function overlayPixels(
  image: Float32Array,
  map: Float32Array,
  mask: Uint8Array,
  width: number,
  height: number,
  threshold: number,
): Buffer {
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0, o = 0; i < width * height; i++, o += 3) {
    const v = Math.min(1, Math.max(0, map[i]! / (2 * threshold) + 0.125));
    if (v < 0.25) {
      out[o] = Math.round(image[o]!);
      out[o + 1] = Math.round(image[o + 1]!);
      out[o + 2] = Math.round(image[o + 2]!);
      continue;
    }
    // Jet: red, green and blue peak at v = 3/4, 1/2 and 1/4.
    out[o] = Math.round(image[o]! * KEEP + channel(1.5 - Math.abs(4 * v - 3)) * ALPHA);
    out[o + 1] = Math.round(image[o + 1]! * KEEP + channel(1.5 - Math.abs(4 * v - 2)) * ALPHA);
    out[o + 2] = Math.round(image[o + 2]! * KEEP + channel(1.5 - Math.abs(4 * v - 1)) * ALPHA);
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width];
      if (edge) out.fill(255, i * 3, i * 3 + 3);
    }
  }
  return out;
}

export async function overlayPng(image: Float32Array, map: Float32Array, mask: Uint8Array, width: number, height: number, threshold: number): Promise<Buffer> {
  return sharp(overlayPixels(image, map, mask, width, height, threshold), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The defect mask (0/1 per pixel) as a black and white PNG. */
export function maskPng(mask: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(mask.map((v) => (v ? 255 : 0))), { raw: { width, height, channels: 1 } }).png().toBuffer();
}
