/**
 * Binary dilation with a square structuring element, as two 1-D passes
 * (a (2r+1)x(2r+1) max is a row max then a column max), so the cost does not
 * grow with the radius squared.
 */
export function dilateMask(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  if (mask.length !== width * height) throw new Error(`mask holds ${mask.length} pixels, expected ${width}x${height}`);
  if (radius <= 0) return mask.slice();
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    // Distance to the last set pixel on the left, then on the right.
    let last = -Infinity;
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x]) last = x;
      if (x - last <= radius) rows[y * width + x] = 1;
    }
    last = Infinity;
    for (let x = width - 1; x >= 0; x--) {
      if (mask[y * width + x]) last = x;
      if (last - x <= radius) rows[y * width + x] = 1;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < width; x++) {
    let last = -Infinity;
    for (let y = 0; y < height; y++) {
      if (rows[y * width + x]) last = y;
      if (y - last <= radius) out[y * width + x] = 1;
    }
    last = Infinity;
    for (let y = height - 1; y >= 0; y--) {
      if (rows[y * width + x]) last = y;
      if (last - y <= radius) out[y * width + x] = 1;
    }
  }
  return out;
}

/** Pixels of `outer` that are not in `inner`. */
export function maskDifference(outer: Uint8Array, inner: Uint8Array): Uint8Array {
  const out = new Uint8Array(outer.length);
  for (let i = 0; i < outer.length; i++) out[i] = outer[i] && !inner[i] ? 1 : 0;
  return out;
}
