/**
 * Synthetic defects made from good parts (pure functions, seeded):
 *
 * - CutSwap (papers/cutswap.txt §III-A): k-means (K = 4) on one saliency
 *   map's values, two anchor pixels drawn from the most salient cluster, the
 *   two equal patches whose upper-left corners sit at the anchors swapped. Both
 *   patches show the part where the network looks hardest, so the swap is a
 *   subtle, realistic irregularity rather than a foreign object.
 * - CutSwap scar: the same swap with long thin patches, rotated.
 * - CutPaste (Li et al. 2021), for comparison: a patch cut anywhere, colour
 *   jittered, pasted anywhere else; and its scar variant.
 *
 * Patch sizes follow CutPaste: area 2-15 % of the image with aspect ratio
 * 0.3-3.3; scars 2-16 px wide and 10-25 px long at 256 px (scaled with the
 * image), rotated by -45..45 degrees.
 */
import type { RgbImage } from '../components/rgb-image.ts';
import { topCluster } from '../components/kmeans.ts';

export type SyntheticKind = 'cutswap' | 'cutswap-scar' | 'cutpaste' | 'cutpaste-scar';
/** The label families of the self-supervised classification: normal, patch, scar. */
export const SYNTHETIC_CLASSES = ['normal', 'patch', 'scar'] as const;

export interface SyntheticDefect {
  kind: SyntheticKind;
  image: RgbImage;
  /** 1 where pixels changed place (or were pasted), row-major. */
  mask: Uint8Array;
  /** Upper-left corners of the two patches (source, destination for CutPaste). */
  anchors: [{ x: number; y: number }, { x: number; y: number }];
  /** Saliency level the anchors came from (CutSwap only). */
  level?: number;
}

/** Clusters CutSwap runs k-means with (the paper's best, its Table V). */
export const SALIENCY_CLUSTERS = 4;

type Rng = () => number;

const uniform = (rng: Rng, lo: number, hi: number) => lo + (hi - lo) * rng();

/** A patch shape: a w x h rectangle rotated by `angle` about its centre. */
interface PatchShape {
  w: number;
  h: number;
  angle: number;
  /** Bounding box of the rotated rectangle. */
  boxW: number;
  boxH: number;
}

function rectangleShape(rng: Rng, width: number, height: number): PatchShape {
  const area = uniform(rng, 0.02, 0.15) * width * height;
  const logRatio = uniform(rng, Math.log(0.3), Math.log(1 / 0.3));
  const ratio = Math.exp(logRatio);
  const w = Math.max(2, Math.min(width - 1, Math.round(Math.sqrt(area * ratio))));
  const h = Math.max(2, Math.min(height - 1, Math.round(Math.sqrt(area / ratio))));
  return { w, h, angle: 0, boxW: w, boxH: h };
}

function scarShape(rng: Rng, width: number, height: number): PatchShape {
  const scale = Math.min(width, height) / 256;
  const w = Math.max(1, Math.round(uniform(rng, 2, 16) * scale));
  const h = Math.max(3, Math.round(uniform(rng, 10, 25) * scale));
  const angle = uniform(rng, -Math.PI / 4, Math.PI / 4);
  const c = Math.abs(Math.cos(angle));
  const s = Math.abs(Math.sin(angle));
  return { w, h, angle, boxW: Math.min(width - 1, Math.ceil(w * c + h * s)), boxH: Math.min(height - 1, Math.ceil(w * s + h * c)) };
}

/** Whether the box-relative pixel (u, v) lies inside the rotated rectangle. */
function insideShape(shape: PatchShape, u: number, v: number): boolean {
  if (shape.angle === 0) return true;
  const dx = u + 0.5 - shape.boxW / 2;
  const dy = v + 0.5 - shape.boxH / 2;
  const c = Math.cos(shape.angle);
  const s = Math.sin(shape.angle);
  return Math.abs(dx * c + dy * s) <= shape.w / 2 && Math.abs(-dx * s + dy * c) <= shape.h / 2;
}

/** Moves an upper-left corner so the patch's box lies inside the image. */
function fitCorner(p: { x: number; y: number }, shape: PatchShape, width: number, height: number) {
  return { x: Math.max(0, Math.min(width - shape.boxW, p.x)), y: Math.max(0, Math.min(height - shape.boxH, p.y)) };
}

function copyPixel(from: Float32Array, fi: number, to: Float32Array, ti: number, gain = 1, offset = 0) {
  for (let c = 0; c < 3; c++) to[ti * 3 + c] = Math.max(0, Math.min(255, from[fi * 3 + c]! * gain + offset));
}

/** Swaps the shape's pixels at corners a and b; returns the changed pixels' mask. */
function swapPatches(image: RgbImage, shape: PatchShape, a: { x: number; y: number }, b: { x: number; y: number }): { data: Float32Array; mask: Uint8Array } {
  const { width } = image;
  const data = Float32Array.from(image.data);
  const mask = new Uint8Array(image.width * image.height);
  for (let v = 0; v < shape.boxH; v++) {
    for (let u = 0; u < shape.boxW; u++) {
      if (!insideShape(shape, u, v)) continue;
      const ia = (a.y + v) * width + a.x + u;
      const ib = (b.y + v) * width + b.x + u;
      copyPixel(image.data, ib, data, ia);
      copyPixel(image.data, ia, data, ib);
      mask[ia] = 1;
      mask[ib] = 1;
    }
  }
  return { data, mask };
}

/** Pixels (indices) of a saliency map's most salient cluster: where CutSwap may anchor patches. */
export function salientPixels(saliency: Float32Array, clusters = SALIENCY_CLUSTERS): number[] {
  return topCluster(saliency, clusters);
}

/** Two distinct anchors from the most salient cluster of a saliency map. */
export function salientAnchors(saliency: Float32Array, width: number, rng: Rng, members = salientPixels(saliency)): [{ x: number; y: number }, { x: number; y: number }] {
  const pick = () => {
    const i = members[Math.floor(rng() * members.length)]!;
    return { x: i % width, y: Math.floor(i / width) };
  };
  const first = pick();
  let second = pick();
  for (let tries = 0; tries < 8 && members.length > 1 && second.x === first.x && second.y === first.y; tries++) second = pick();
  return [first, second];
}

/**
 * CutSwap: anchors from the top saliency cluster of `saliency` (one map,
 * values 0..1 at the image size), patches at those corners swapped. Patches
 * that would overlap each other are moved apart along the line between them.
 * `salient` passes the map's `salientPixels` when they are already known (the
 * clustering is the costly part, and one map serves several negatives).
 */
export function cutSwap(
  image: RgbImage,
  saliency: Float32Array,
  rng: Rng,
  opts: { scar?: boolean; level?: number; salient?: number[] } = {},
): SyntheticDefect {
  const { width, height } = image;
  if (saliency.length !== width * height) throw new Error(`saliency map of ${saliency.length} values does not fit a ${width}x${height} image`);
  const shape = opts.scar ? scarShape(rng, width, height) : rectangleShape(rng, width, height);
  const [p, q] = salientAnchors(saliency, width, rng, opts.salient);
  let a = fitCorner(p, shape, width, height);
  let b = fitCorner(q, shape, width, height);
  // Overlapping patches would swap a patch partly with itself: push them apart.
  const overlapX = shape.boxW - Math.abs(a.x - b.x);
  const overlapY = shape.boxH - Math.abs(a.y - b.y);
  if (overlapX > 0 && overlapY > 0) {
    const alongX = overlapX <= overlapY;
    const sign = alongX ? Math.sign(b.x - a.x || rng() - 0.5) : Math.sign(b.y - a.y || rng() - 0.5);
    const shift = Math.ceil((alongX ? overlapX : overlapY) / 2);
    a = fitCorner(alongX ? { x: a.x - sign * shift, y: a.y } : { x: a.x, y: a.y - sign * shift }, shape, width, height);
    b = fitCorner(alongX ? { x: b.x + sign * shift, y: b.y } : { x: b.x, y: b.y + sign * shift }, shape, width, height);
  }
  const { data, mask } = swapPatches(image, shape, a, b);
  return { kind: opts.scar ? 'cutswap-scar' : 'cutswap', image: { data, width, height }, mask, anchors: [a, b], ...(opts.level === undefined ? {} : { level: opts.level }) };
}

/** CutPaste: a random patch, brightness/contrast jittered, pasted at another random place. */
export function cutPaste(image: RgbImage, rng: Rng, opts: { scar?: boolean } = {}): SyntheticDefect {
  const { width, height } = image;
  const shape = opts.scar ? scarShape(rng, width, height) : rectangleShape(rng, width, height);
  const corner = () => ({ x: Math.floor(rng() * (width - shape.boxW + 1)), y: Math.floor(rng() * (height - shape.boxH + 1)) });
  const from = corner();
  const to = corner();
  const gain = uniform(rng, 0.9, 1.1);
  const offset = uniform(rng, -25, 25);
  const data = Float32Array.from(image.data);
  const mask = new Uint8Array(width * height);
  for (let v = 0; v < shape.boxH; v++) {
    for (let u = 0; u < shape.boxW; u++) {
      if (!insideShape(shape, u, v)) continue;
      const ti = (to.y + v) * width + to.x + u;
      copyPixel(image.data, (from.y + v) * width + from.x + u, data, ti, gain, offset);
      mask[ti] = 1;
    }
  }
  return { kind: opts.scar ? 'cutpaste-scar' : 'cutpaste', image: { data, width, height }, mask, anchors: [from, to] };
}

/** The classification label of a synthetic defect: 1 patch, 2 scar (0 is normal). */
export function syntheticClass(kind: SyntheticKind): 1 | 2 {
  return kind.endsWith('scar') ? 2 : 1;
}
