/** Typed arrays laid end to end in one new array of the given type. */
export function concatenate<T extends Float32Array | Uint8Array>(arrays: T[], Type: { new (length: number): T }): T {
  const out = new Type(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}
