/**
 * Synthetic conveyor frames for the part-tracking tests: a textured belt (fine
 * ribs and pixel noise) with a bright square part at a given horizontal
 * position, which may be partly or wholly outside the frame.
 */
import { seededRandom } from '../../models/components/random.ts';


/** RGB24 frame: belt, plus a square part of side `side` whose left edge is at `partX` (null: empty belt). */
export function beltFrame(width: number, height: number, partX: number | null, opts: { side?: number; seed?: number } = {}): Uint8Array {
  const side = opts.side ?? Math.round(height * 0.4);
  const random = seededRandom(opts.seed ?? 1);
  const data = new Uint8Array(width * height * 3);
  const top = Math.round((height - side) / 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const rib = y % 6 === 0 ? -10 : 0;
      let v = 90 + rib + (random() - 0.5) * 16;
      if (partX !== null && x >= partX && x < partX + side && y >= top && y < top + side) v = 210 + (random() - 0.5) * 10;
      const i = (y * width + x) * 3;
      data[i] = v;
      data[i + 1] = v + 2;
      data[i + 2] = v + 4;
    }
  }
  return data;
}

/** Left edge positions of a part sliding across: from fully left of the frame to fully right, `step` px a frame. */
export function slidePositions(width: number, side: number, step: number): number[] {
  const xs: number[] = [];
  for (let x = -side; x <= width; x += step) xs.push(x);
  return xs;
}
