/**
 * Flipped and turned views of a square image, for the memory bank of
 * products whose parts look alike in any orientation (textures, stationary
 * surfaces): a golden sample mirrored or turned by a quarter is one more good
 * sample the camera may see, and its patches cover orientations of scratches
 * and grain the samples happened not to show.
 *
 * The eight symmetries of a square (the dihedral group) are every
 * combination of a transpose and a flip of each axis; `flips` keeps the two
 * mirror images, `dihedral` all seven views other than the image itself.
 */

/** One symmetry of the square: transpose first, then flip rows and/or columns. */
export interface SquareSymmetry {
  transpose: boolean;
  flipRows: boolean;
  flipColumns: boolean;
}

/** Which views of every bank sample are added. */
export type ViewSet = 'none' | 'flips' | 'dihedral';

const symmetry = (transpose: boolean, flipRows: boolean, flipColumns: boolean): SquareSymmetry => ({ transpose, flipRows, flipColumns });

/** The symmetries a view set adds (the identity is never among them). */
export function viewSymmetries(views: ViewSet): SquareSymmetry[] {
  if (views === 'none') return [];
  const mirrors = [symmetry(false, false, true), symmetry(false, true, false)];
  if (views === 'flips') return mirrors;
  // Rotation by 180 degrees, the two quarter turns and the two diagonal mirrors.
  return [...mirrors, symmetry(false, true, true), symmetry(true, false, true), symmetry(true, true, false), symmetry(true, false, false), symmetry(true, true, true)];
}

/** `data` (HWC, `size` x `size`, `channels` per pixel) under one symmetry. */
export function transformSquare(data: Float32Array, size: number, channels: number, s: SquareSymmetry): Float32Array {
  if (data.length !== size * size * channels) throw new Error(`image holds ${data.length} values, expected ${size}x${size}x${channels}`);
  const out = new Float32Array(data.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let sy = s.transpose ? x : y;
      let sx = s.transpose ? y : x;
      if (s.flipRows) sy = size - 1 - sy;
      if (s.flipColumns) sx = size - 1 - sx;
      const from = (sy * size + sx) * channels;
      const to = (y * size + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return out;
}
