/**
 * Heatmap overlays for technicians: the anomaly map in a jet-like colour
 * scale blended over the image, with the defect mask outlined in white.
 * Colour is relative to the product's pixel threshold: at the threshold a
 * value is yellow, at half of it blue; below a quarter the image shows through.
 */
import sharp from 'sharp';

function jet(v: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}

export function overlayPixels(
  image: Float32Array,
  map: Float32Array,
  mask: Uint8Array,
  width: number,
  height: number,
  threshold: number,
): Buffer {
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const v = Math.min(1, Math.max(0, map[i]! / (2 * threshold) + 0.125));
    const alpha = v < 0.25 ? 0 : 0.55;
    const [r, g, b] = jet(v);
    out[i * 3] = Math.round(image[i * 3]! * (1 - alpha) + r * alpha);
    out[i * 3 + 1] = Math.round(image[i * 3 + 1]! * (1 - alpha) + g * alpha);
    out[i * 3 + 2] = Math.round(image[i * 3 + 2]! * (1 - alpha) + b * alpha);
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
