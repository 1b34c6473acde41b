/**
 * The synthetic-negatives contact sheet written next to a product artifact,
 * so a technician sees what the device was told a defect looks like. One row
 * per golden sample: the sample, its saliency map at each level (blended over
 * it, hot = where CutSwap anchors its patches), then its synthetic negatives
 * with the moved pixels outlined in white.
 */
import sharp from 'sharp';
import type { RgbImage } from '../runtime/image-io.ts';
import { overlayPixels } from '../runtime/heatmap.ts';
import type { SyntheticDefect } from '../models/augment/synthetic-defects.ts';

export interface ContactSheetRow {
  golden: RgbImage;
  saliency: Float32Array[];
  negatives: SyntheticDefect[];
}

const GAP = 4;

export async function syntheticContactSheet(rows: ContactSheetRow[]): Promise<Buffer> {
  if (rows.length === 0) throw new Error('a contact sheet needs at least one row');
  const { width, height } = rows[0]!.golden;
  const none = new Uint8Array(width * height);
  const flat = new Float32Array(width * height);
  const tiles: { input: Buffer; left: number; top: number; raw: { width: number; height: number; channels: 3 } }[] = [];
  let columns = 0;
  rows.forEach((row, r) => {
    const cells = [
      overlayPixels(row.golden.data, flat, none, width, height, 1),
      // Saliency 0..1 with threshold 0.5 spans the whole colour scale.
      ...row.saliency.map((map) => overlayPixels(row.golden.data, map, none, width, height, 0.5)),
      ...row.negatives.map((n) => overlayPixels(n.image.data, flat, n.mask, width, height, 1)),
    ];
    columns = Math.max(columns, cells.length);
    cells.forEach((cell, c) => tiles.push({ input: cell, left: c * (width + GAP), top: r * (height + GAP), raw: { width, height, channels: 3 } }));
  });
  return sharp({
    create: { width: columns * (width + GAP) - GAP, height: rows.length * (height + GAP) - GAP, channels: 3, background: { r: 32, g: 32, b: 32 } },
  })
    .composite(tiles)
    .png()
    .toBuffer();
}
