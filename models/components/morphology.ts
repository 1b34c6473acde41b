/**
 * Binary dilation with a square structuring element, as two 1-D passes
 * (a (2r+1)x(2r+1) max is a row max then a column max), so the cost does not
 * grow with the radius squared.
 */
export function dilateMask(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  if (mask.length !== width * height) throw new Error(`mask holds ${mask.length} pixels, expected ${width}x${height}`);
  if (radius <= 0) return mask.slice();
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) dilateLine(mask, rows, y * width, 1, width, radius);
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < width; x++) dilateLine(rows, out, x, width, height, radius);
  return out;
}

/** 1-D dilation of `length` pixels from `start`, `stride` apart: set where a set pixel lies within `radius`. */
function dilateLine(src: Uint8Array, dst: Uint8Array, start: number, stride: number, length: number, radius: number): void {
  let last = -Infinity; // position of the last set pixel seen, scanning forward, then backward
  for (let i = 0; i < length; i++) {
    if (src[start + i * stride]) last = i;
    if (i - last <= radius) dst[start + i * stride] = 1;
  }
  last = Infinity;
  for (let i = length - 1; i >= 0; i--) {
    if (src[start + i * stride]) last = i;
    if (last - i <= radius) dst[start + i * stride] = 1;
  }
}

/** Pixels of `outer` that are not in `inner`. */
export function maskDifference(outer: Uint8Array, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(outer.length);
  for (let i = 0; i < outer.length; i++) out[i] = outer[i] && !inner[i] ? 1 : 0;
  return out;
}
