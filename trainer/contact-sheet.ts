/**
 * Contact sheets written next to a product artifact, so a technician sees what
 * enrollment did. `contactSheet` lays out rows of RGB tiles; the
 * synthetic-negatives sheet shows what the device was told a defect looks
 * like — one row per golden sample: the sample, its saliency map at each level
 * (blended over it, hot = where CutSwap anchors its patches), then its
 * synthetic negatives with the moved pixels outlined in white.
 */
import sharp from 'sharp';
import type { RgbImage } from '../product/image-io.ts';
import { overlayPixels } from '../product/heatmap.ts';
import type { SyntheticDefect } from '../models/augment/synthetic-defects.ts';

export interface ContactSheetRow {
  golden: RgbImage;
  saliency: Float32Array[];
  negatives: SyntheticDefect[];
}

const GAP = 4;

/** A PNG of rows of equal-sized RGB tiles (8-bit HWC, or 0..255 floats), on a dark background. */
export async function contactSheet(rows: (Uint8Array | Float32Array)[][], width: number, height: number): Promise<Buffer> {
  if (rows.length === 0) throw new Error('a contact sheet needs at least one row');
  const columns = Math.max(...rows.map((r) => r.length));
  const tiles = rows.flatMap((row, r) =>
    row.map((cell, c) => ({
      input: cell instanceof Float32Array ? Buffer.from(Uint8ClampedArray.from(cell)) : Buffer.from(cell.buffer, cell.byteOffset, cell.byteLength),
      left: c * (width + GAP),
      top: r * (height + GAP),
      raw: { width, height, channels: 3 as const },
    })),
  );
  return sharp({
    create: { width: columns * (width + GAP) - GAP, height: rows.length * (height + GAP) - GAP, channels: 3, background: { r: 32, g: 32, b: 32 } },
  })
    .composite(tiles)
    .png()
    .toBuffer();
}

export async function syntheticContactSheet(rows: ContactSheetRow[]): Promise<Buffer> {
  if (rows.length === 0) throw new Error('a contact sheet needs at least one row');
  const { width, height } = rows[0]!.golden;
  const none = new Uint8Array(width * height);
  const flat = new Float32Array(width * height);
  return contactSheet(
    rows.map((row) => [
      overlayPixels(row.golden.data, flat, none, width, height, 1),
      // Saliency 0..1 with threshold 0.5 spans the whole colour scale.
      ...row.saliency.map((map) => overlayPixels(row.golden.data, map, none, width, height, 0.5)),
      ...row.negatives.map((n) => overlayPixels(n.image.data, flat, n.mask, width, height, 1)),
    ]),
    width,
    height,
  );
}
