/** Small real image files for tests, written with sharp. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/** A smooth, slightly varying "part": a bright disc on a grey belt, shifted by `variant`. */
export function partPixels(width: number, height: number, variant: number, defect?: { x: number; y: number; r: number }): Buffer {
  const px = Buffer.alloc(width * height * 3);
  const cx = width / 2 + ((variant * 7) % 3) - 1;
  const cy = height / 2 + ((variant * 5) % 3) - 1;
  const radius = Math.min(width, height) * 0.3;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const noise = ((x * 31 + y * 17 + variant * 13) % 7) - 3;
      let v = d < radius ? 200 - d * 0.5 : 90 + ((x >> 3) & 1) * 6;
      v += noise;
      let rgb: [number, number, number] = [v, v * 0.95, v * 0.9];
      if (defect && Math.hypot(x - defect.x, y - defect.y) < defect.r) rgb = [40, 30, 160];
      px[(y * width + x) * 3] = Math.max(0, Math.min(255, rgb[0]));
      px[(y * width + x) * 3 + 1] = Math.max(0, Math.min(255, rgb[1]));
      px[(y * width + x) * 3 + 2] = Math.max(0, Math.min(255, rgb[2]));
    }
  }
  return px;
}

export async function writePng(path: string, pixels: Buffer, width: number, height: number): Promise<string> {
  await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(path);
  return path;
}

/** Writes `count` golden sample PNGs of the test part into `dir`. */
export async function writeGoldenSet(dir: string, count: number, size = 64): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) paths.push(await writePng(join(dir, `good_${String(i).padStart(3, '0')}.png`), partPixels(size, size, i), size, size));
  return paths;
}

/** A file that starts like a PNG but is cut off. */
export async function writeTruncatedPng(path: string, size = 64): Promise<string> {
  const full = await sharp(partPixels(size, size, 0), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
  await writeFile(path, full.subarray(0, Math.floor(full.length / 3)));
  return path;
}

/**
 * An L-shaped bracket (asymmetric under rotation) laid on a grey belt at
 * `angle` radians and a shift of (dx, dy) pixels; with `defect`, a dark spot
 * on the bracket's long arm.
 */
export function bracketPixels(size: number, angle: number, dx: number, dy: number, variant: number, defect = false): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const c = size / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Frame pixel -> bracket coordinates (unit = size / 64).
      const u = ((cos * (x + 0.5 - c - dx) + sin * (y + 0.5 - c - dy)) * 64) / size;
      const v = ((-sin * (x + 0.5 - c - dx) + cos * (y + 0.5 - c - dy)) * 64) / size;
      const onArm = (u > -14 && u < -6 && v > -14 && v < 14) || (u > -14 && u < 14 && v > 6 && v < 14);
      const noise = ((x * 31 + y * 17 + variant * 13) % 7) - 3;
      let rgb = onArm ? [210 + noise, 190 + noise, 120 + noise] : [90 + noise, 92 + noise, 96 + noise];
      if (onArm && u > -6 && Math.abs(v - 10) < 3.5 && Math.abs(u - 4) < 3.5 && defect) rgb = [30, 30, 40];
      px.set(rgb.map((q) => Math.max(0, Math.min(255, q))), (y * size + x) * 3);
    }
  }
  return px;
}
