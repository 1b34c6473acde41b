/**
 * Connected components of binary masks (defect regions, ground-truth regions
 * for AUPRO, the small-region filter). Two-pass labelling with union-find:
 * linear time, no recursion, so a large mask cannot overflow the stack.
 */

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Components {
  /** 0 = background, 1..count = component. */
  labels: Int32Array;
  count: number;
  /** areas[i] is the pixel count of component i + 1. */
  areas: number[];
  boxes: Box[];
}

export function labelComponents(mask: Uint8Array, width: number, height: number, connectivity: 4 | 8 = 8): Components {
  if (mask.length !== width * height) throw new Error(`mask holds ${mask.length} pixels, expected ${width}x${height}`);
  const labels = new Int32Array(width * height);
  const parent: number[] = [0];
  const find = (a: number) => {
    while (parent[a] !== a) {
      parent[a] = parent[parent[a]!]!;
      a = parent[a]!;
    }
    return a;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      const neighbours: number[] = [];
      if (x > 0 && labels[i - 1]) neighbours.push(labels[i - 1]!);
      if (y > 0) {
        if (labels[i - width]) neighbours.push(labels[i - width]!);
        if (connectivity === 8) {
          if (x > 0 && labels[i - width - 1]) neighbours.push(labels[i - width - 1]!);
          if (x < width - 1 && labels[i - width + 1]) neighbours.push(labels[i - width + 1]!);
        }
      }
      if (neighbours.length === 0) {
        parent.push(parent.length);
        labels[i] = parent.length - 1;
      } else {
        const l = Math.min(...neighbours);
        labels[i] = l;
        for (const n of neighbours) union(l, n);
      }
    }
  }
  const compact = new Int32Array(parent.length);
  let count = 0;
  for (let l = 1; l < parent.length; l++) {
    const r = find(l);
    if (r === l) compact[l] = ++count;
  }
  const areas = new Array<number>(count).fill(0);
  const minX = new Array<number>(count).fill(Infinity);
  const minY = new Array<number>(count).fill(Infinity);
  const maxX = new Array<number>(count).fill(-1);
  const maxY = new Array<number>(count).fill(-1);
  for (let i = 0; i < labels.length; i++) {
    if (!labels[i]) continue;
    const c = compact[find(labels[i]!)]!;
    labels[i] = c;
    const x = i % width;
    const y = (i - x) / width;
    const k = c - 1;
    areas[k]!++;
    if (x < minX[k]!) minX[k] = x;
    if (x > maxX[k]!) maxX[k] = x;
    if (y < minY[k]!) minY[k] = y;
    if (y > maxY[k]!) maxY[k] = y;
  }
  const boxes = areas.map((_, k) => ({ x: minX[k]!, y: minY[k]!, w: maxX[k]! - minX[k]! + 1, h: maxY[k]! - minY[k]! + 1 }));
  return { labels, count, areas, boxes };
}

/** Regions with fewer than `minArea` pixels become normal (0); returns a new mask. */
export function removeSmallRegions(mask: Uint8Array, width: number, height: number, minArea: number, connectivity: 4 | 8 = 8): Uint8Array {
  const { labels, areas } = labelComponents(mask, width, height, connectivity);
  const out = new Uint8Array(mask.length);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l && areas[l - 1]! >= minArea) out[i] = 1;
  }
  return out;
}
