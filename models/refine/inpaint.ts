/**
 * In-painting a region of a frame from the nearest golden sample: every
 * reference image is tried at every integer shift within `maxShift` pixels,
 * compared with the frame on the ring of pixels around the region (which the
 * defect does not touch), and the best reference at its best shift fills the
 * region. On a part that sits where the golden samples sat this is the
 * "aligned nearest golden sample" of DESIGN.md's F2PAD notes.
 */

export interface Inpainting {
  image: Float32Array;
  /** Index of the reference used. */
  reference: number;
  shift: [number, number];
  /** Root mean square colour difference on the ring at the best shift (0..255). */
  ringError: number;
}

export function inpaintFromReferences(
  image: Float32Array,
  width: number,
  height: number,
  region: Uint8Array,
  ring: Uint8Array,
  references: ArrayLike<number>[],
  maxShift: number,
): Inpainting {
  if (references.length === 0) throw new Error('in-painting needs at least one golden reference image');
  const ringPixels: number[] = [];
  for (let i = 0; i < ring.length; i++) if (ring[i]) ringPixels.push(i);
  let best = { error: Infinity, reference: 0, dy: 0, dx: 0 };
  const clampY = (y: number) => Math.min(height - 1, Math.max(0, y));
  const clampX = (x: number) => Math.min(width - 1, Math.max(0, x));
  if (ringPixels.length > 0) {
    for (const [r, ref] of references.entries()) {
      for (let dy = -maxShift; dy <= maxShift; dy++) {
        for (let dx = -maxShift; dx <= maxShift; dx++) {
          let error = 0;
          for (const p of ringPixels) {
            const y = Math.floor(p / width);
            const q = (clampY(y + dy) * width + clampX(p - y * width + dx)) * 3;
            for (let c = 0; c < 3; c++) error += (image[p * 3 + c]! - ref[q + c]!) ** 2;
            if (error >= best.error) break;
          }
          if (error < best.error) best = { error, reference: r, dy, dx };
        }
      }
    }
  }
  const ref = references[best.reference]!;
  const out = image.slice();
  for (let p = 0; p < region.length; p++) {
    if (!region[p]) continue;
    const y = Math.floor(p / width);
    const q = (clampY(y + best.dy) * width + clampX(p - y * width + best.dx)) * 3;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = ref[q + c]!;
  }
  return {
    image: out,
    reference: best.reference,
    shift: [best.dy, best.dx],
    ringError: ringPixels.length > 0 ? Math.sqrt(best.error / (ringPixels.length * 3)) : 0,
  };
}
