/**
 * Image I/O at the edge of the pipeline (sharp): files and raw camera frames
 * become the network's input, RGB float values 0..255 in HWC order at the
 * model's input size; maps and masks become PNGs.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import sharp from 'sharp';

import type { RgbImage } from '../models/components/rgb-image.ts';

export type { RgbImage };

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp'];

/**
 * Largest image decoded, in pixels (40 megapixels, e.g. 7300 x 5470). A
 * small compressed file can declare a huge canvas; decoding one takes
 * width x height x channels bytes, so larger images are refused unread.
 */
export const MAX_INPUT_PIXELS = 40_000_000;

/** Why an image of this size is refused, or undefined when it may be decoded. */
export function pixelLimitProblem(width: number, height: number, limit = MAX_INPUT_PIXELS): string | undefined {
  if (width * height <= limit) return undefined;
  return `the image is ${width} x ${height} = ${((width * height) / 1e6).toFixed(1)} megapixels; linesight decodes images of up to ${(limit / 1e6).toFixed(0)} megapixels`;
}

/**
 * libvips settings for the long-running runtime, set once at its start-up
 * (process-wide). The operation cache is off: it keeps the last 100
 * operations to answer a repeated one, but every image the runtime encodes
 * or decodes (camera frames, evidence PNGs, live-view JPEGs) is a new
 * buffer, so an entry can never be reused and the cache only holds objects
 * for nothing. One thread per image: on a 2-core device scoring needs the
 * cores, encoding is off the reject path, and fewer libvips threads mean
 * fewer threads allocating (sharp picks 1 itself with glibc's allocator, but
 * not with jemalloc or musl; this makes it the same everywhere).
 */
export const RUNTIME_IMAGE_LIBRARY = { cache: false, concurrency: 1 } as const;

export function configureImageLibraryForRuntime(): void {
  sharp.cache(RUNTIME_IMAGE_LIBRARY.cache);
  sharp.concurrency(RUNTIME_IMAGE_LIBRARY.concurrency);
}

/** The image files among folder entries (by extension; hidden and temporary files left out), sorted. */
export function imageFileNames(entries: string[]): string[] {
  return entries.filter((e) => IMAGE_EXTENSIONS.includes(extname(e).toLowerCase()) && !e.startsWith('.')).sort();
}


export interface LoadedImage extends RgbImage {
  path: string;
  sha256: string;
  originalWidth: number;
  originalHeight: number;
}

export class ImageReadError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'ImageReadError';
  }
}

function toFloat(buffer: Buffer): Float32Array {
  const out = new Float32Array(buffer.length);
  for (let i = 0; i < buffer.length; i++) out[i] = buffer[i]!;
  return out;
}

/** Decodes and resizes an image file; throws ImageReadError naming the file when it cannot be read. */
export async function readImage(path: string, size: { width: number; height: number }): Promise<LoadedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new ImageReadError(path, `cannot read file (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  if (bytes.length === 0) throw new ImageReadError(path, 'file is empty');
  try {
    // The header's size first (metadata() decodes no pixels), so the refusal names it.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new Error('no image dimensions');
    const tooLarge = pixelLimitProblem(meta.width, meta.height);
    if (tooLarge) throw new Error(tooLarge);
    const image = sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_INPUT_PIXELS });
    const raw = await image
      .removeAlpha()
      .toColourspace('srgb')
      .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (raw.info.channels !== 3) throw new Error(`expected 3 colour channels, got ${raw.info.channels}`);
    return {
      path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      data: toFloat(raw.data),
      width: size.width,
      height: size.height,
      originalWidth: meta.width,
      originalHeight: meta.height,
    };
  } catch (err) {
    throw new ImageReadError(path, `not a readable image (${(err as Error).message.split('\n')[0]})`);
  }
}

/** Resizes a raw RGB24 frame (e.g. from a camera) to the model's input size. */
export async function frameToInput(frame: Buffer, width: number, height: number, size: { width: number; height: number }): Promise<RgbImage> {
  if (frame.length !== width * height * 3) throw new Error(`frame holds ${frame.length} bytes, expected ${width}x${height}x3`);
  if (width === size.width && height === size.height) return { data: toFloat(frame), width, height };
  const raw = await sharp(frame, { raw: { width, height, channels: 3 } })
    .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { data: toFloat(raw), width: size.width, height: size.height };
}

/** Reads a ground-truth or binary mask as 0/1 at the given size (nearest-neighbour, threshold 128). */
export async function readMask(path: string, size: { width: number; height: number }): Promise<Uint8Array> {
  try {
    const raw = await sharp(path, { limitInputPixels: MAX_INPUT_PIXELS }).greyscale().resize(size.width, size.height, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer();
    const mask = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) mask[i] = raw[i]! >= 128 ? 1 : 0;
    return mask;
  } catch (err) {
    throw new ImageReadError(path, `not a readable mask (${(err as Error).message.split('\n')[0]})`);
  }
}
