/**
 * Writes linesight's development dataset in the MVTec AD layout:
 *   npx tsx scripts/make-devset.ts --out .devset [--train 60] [--test-good 100]
 *     [--test-per-defect 10] [--size 256] [--seed 1] [--categories a,b]
 *   npx tsx scripts/make-devset.ts --pose --out .devset-pose   (pose-varied parts)
 *
 * Products: real texture photos from python3-skimage (brick, grass, gravel:
 * random crops) and procedural parts (washer, pcb, fabric, label) — each a
 * fixed design with natural variation (sensor noise, lighting, a couple of
 * pixels of jitter). Defects follow the synthetic protocol of the F2PAD paper
 * (papers/f2pad.txt §IV-A1): x' = (1 - M) x + M A, where M is a mask source
 * (irregular blobs, thin scratches; randomly sized and placed on the part) and
 * A an anomaly source: a colour far from the pixels it covers (`color`,
 * `scratch`) or a patch of another good part from elsewhere (`structural`).
 * Structural pastes are made for the structured products only (as the paper
 * does for its one structured object): on a stationary texture a patch of the
 * same texture from elsewhere is not a defect. Ground-truth masks are M exactly.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { seededRandom, gaussianSampler } from '../models/components/random.ts';
import { compose, invert, similarity, warpImage } from '../models/stn/pose.ts';

export const SKIMAGE_DATA = '/usr/lib/python3/dist-packages/skimage/data';
export const TEXTURE_CATEGORIES = ['brick', 'grass', 'gravel'] as const;
export const PROCEDURAL_CATEGORIES = ['washer', 'pcb', 'fabric', 'label'] as const;
export const ALL_CATEGORIES = [...TEXTURE_CATEGORIES, ...PROCEDURAL_CATEGORIES];
export const DEFECT_TYPES = ['color', 'scratch', 'structural'] as const;
/**
 * Pose-varied products: the part (drawn as above, defects included) shrunk to
 * half the frame and laid on a conveyor belt at a random rotation (a full
 * turn, or +-30 deg) and shift (+-15 % of the frame), as parts arrive on a
 * line without fixtures. Named `<part>-pose360` / `<part>-pose30`;
 * `<part>-pose0` lays every part the same way (the aligned control).
 */
export const POSE_PARTS = ['pcb', 'label', 'washer'] as const;
export const POSE_CATEGORIES = POSE_PARTS.flatMap((p) => [`${p}-pose360`, `${p}-pose30`, `${p}-pose0`]);
const POSE_SCALE = 0.5;
const POSE_SHIFT = 0.15;

export interface DevsetOptions {
  out: string;
  train: number;
  testGood: number;
  testPerDefect: number;
  size: number;
  seed: number;
  categories: string[];
}

type Rng = () => number;

/** An RGB float image, values 0..255. */
class Canvas {
  readonly px: Float32Array;
  constructor(readonly size: number) {
    this.px = new Float32Array(size * size * 3);
  }
  set(x: number, y: number, rgb: readonly number[], alpha = 1) {
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return;
    const i = (y * this.size + x) * 3;
    for (let c = 0; c < 3; c++) this.px[i + c] = this.px[i + c]! * (1 - alpha) + rgb[c]! * alpha;
  }
  fill(rgb: readonly number[]) {
    for (let i = 0; i < this.px.length; i++) this.px[i] = rgb[i % 3]!;
  }
  /** Anti-aliased disc/ring by supersampling the coverage at the edge. */
  ring(cx: number, cy: number, r0: number, r1: number, shade: (x: number, y: number) => readonly number[]) {
    for (let y = Math.floor(cy - r1 - 1); y <= cy + r1 + 1; y++)
      for (let x = Math.floor(cx - r1 - 1); x <= cx + r1 + 1; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        const cover = Math.min(1, Math.max(0, r1 - d + 0.5)) * Math.min(1, Math.max(0, d - r0 + 0.5));
        if (cover > 0) this.set(x, y, shade(x, y), cover);
      }
  }
  rect(x0: number, y0: number, w: number, h: number, rgb: readonly number[]) {
    for (let y = Math.round(y0); y < Math.round(y0 + h); y++) for (let x = Math.round(x0); x < Math.round(x0 + w); x++) this.set(x, y, rgb);
  }
  line(x0: number, y0: number, x1: number, y1: number, width: number, rgb: readonly number[]) {
    const len = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.ceil(len * 2) + 1;
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      const cx = x0 + (x1 - x0) * t;
      const cy = y0 + (y1 - y0) * t;
      for (let y = Math.floor(cy - width / 2); y <= cy + width / 2; y++)
        for (let x = Math.floor(cx - width / 2); x <= cx + width / 2; x++) if (Math.hypot(x - cx, y - cy) <= width / 2) this.set(x, y, rgb);
    }
  }
  noise(sigma: number, rng: Rng) {
    const n = gaussianSampler(rng);
    for (let i = 0; i < this.px.length; i++) this.px[i] = this.px[i]! + n() * sigma;
  }
  light(gain: number, offset: number) {
    for (let i = 0; i < this.px.length; i++) this.px[i] = this.px[i]! * gain + offset;
  }
  toBuffer(): Buffer {
    const b = Buffer.alloc(this.px.length);
    for (let i = 0; i < this.px.length; i++) b[i] = Math.max(0, Math.min(255, Math.round(this.px[i]!)));
    return b;
  }
}

/** A product: draws one good sample; `region` says where defects may go (on the part). */
interface Product {
  draw(rng: Rng, index: number): Canvas;
  region(size: number): { cx: number; cy: number; r: number };
  /** A defective sample made some other way than drawing, defecting and returning (pose-varied parts). */
  defect?(rng: Rng, index: number, type: (typeof DEFECT_TYPES)[number]): { image: Canvas; mask: Uint8Array };
}

async function textureProduct(name: string, size: number): Promise<Product> {
  const { data, info } = await sharp(join(SKIMAGE_DATA, `${name}.png`)).greyscale().raw().toBuffer({ resolveWithObject: true });
  const tint = { brick: [1.05, 0.92, 0.85], grass: [0.9, 1.05, 0.85], gravel: [1, 1, 1] }[name] ?? [1, 1, 1];
  const crop = Math.min(info.width, info.height, Math.round(size * 1.5));
  return {
    draw(rng) {
      // A random crop of the photo, resized to the sample size (nearest-neighbour-free bilinear).
      const ox = Math.floor(rng() * (info.width - crop));
      const oy = Math.floor(rng() * (info.height - crop));
      const c = new Canvas(size);
      const s = crop / size;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const fx = ox + (x + 0.5) * s - 0.5;
          const fy = oy + (y + 0.5) * s - 0.5;
          const x0 = Math.max(0, Math.floor(fx));
          const y0 = Math.max(0, Math.floor(fy));
          const x1 = Math.min(info.width - 1, x0 + 1);
          const y1 = Math.min(info.height - 1, y0 + 1);
          const ax = fx - x0;
          const ay = fy - y0;
          const at = (xx: number, yy: number) => data[yy * info.width + xx]!;
          const v = (at(x0, y0) * (1 - ax) + at(x1, y0) * ax) * (1 - ay) + (at(x0, y1) * (1 - ax) + at(x1, y1) * ax) * ay;
          c.set(x, y, [v * tint[0]!, v * tint[1]!, v * tint[2]!]);
        }
      c.light(0.95 + rng() * 0.1, (rng() - 0.5) * 8);
      c.noise(2, rng);
      return c;
    },
    region: (sz) => ({ cx: sz / 2, cy: sz / 2, r: sz * 0.45 }),
  };
}

function proceduralProduct(name: string, size: number, designSeed: number): Product {
  const design = seededRandom(designSeed);
  const s = size / 256;
  if (name === 'washer') {
    return {
      draw(rng) {
        const c = new Canvas(size);
        c.fill([96, 98, 102]);
        for (let y = 0; y < size; y += Math.round(8 * s)) c.rect(0, y, size, 1, [90, 92, 96]); // belt texture
        const cx = size / 2 + (rng() - 0.5) * 4 * s;
        const cy = size / 2 + (rng() - 0.5) * 4 * s;
        c.ring(cx, cy, 34 * s, 88 * s, (x, y) => {
          const a = Math.atan2(y - cy, x - cx);
          const v = 170 + 40 * Math.cos(a - 0.8) + 10 * Math.sin(Math.hypot(x - cx, y - cy) / (3 * s));
          return [v, v * 0.98, v * 0.94];
        });
        c.light(0.96 + rng() * 0.08, (rng() - 0.5) * 6);
        c.noise(2.5, rng);
        return c;
      },
      region: (sz) => ({ cx: sz / 2, cy: sz / 2, r: sz * 0.3 }),
    };
  }
  if (name === 'pcb') {
    const traces = Array.from({ length: 14 }, () => {
      const x0 = design() * 256;
      const y0 = design() * 256;
      const horizontal = design() < 0.5;
      const len = 40 + design() * 120;
      return { x0, y0, x1: horizontal ? x0 + len : x0, y1: horizontal ? y0 : y0 + len, w: 2 + Math.floor(design() * 3) };
    });
    const pads = Array.from({ length: 24 }, () => ({ x: 20 + design() * 216, y: 20 + design() * 216, r: 3 + design() * 4 }));
    const chips = Array.from({ length: 3 }, () => ({ x: 30 + design() * 150, y: 30 + design() * 150, w: 30 + design() * 40, h: 20 + design() * 30 }));
    return {
      draw(rng) {
        const c = new Canvas(size);
        c.fill([30, 96, 52]);
        const dx = (rng() - 0.5) * 3 * s;
        const dy = (rng() - 0.5) * 3 * s;
        for (const t of traces) c.line(t.x0 * s + dx, t.y0 * s + dy, t.x1 * s + dx, t.y1 * s + dy, t.w * s, [184, 140, 60]);
        for (const p of pads) c.ring(p.x * s + dx, p.y * s + dy, 0, p.r * s, () => [210, 200, 170]);
        for (const ch of chips) {
          c.rect(ch.x * s + dx, ch.y * s + dy, ch.w * s, ch.h * s, [28, 28, 32]);
          for (let k = 0; k < ch.w / 6; k++) c.rect((ch.x + 3 + k * 6) * s + dx, (ch.y - 4) * s + dy, 2 * s, 4 * s, [200, 200, 205]);
        }
        c.light(0.95 + rng() * 0.1, (rng() - 0.5) * 6);
        c.noise(2.5, rng);
        return c;
      },
      region: (sz) => ({ cx: sz / 2, cy: sz / 2, r: sz * 0.42 }),
    };
  }
  if (name === 'fabric') {
    return {
      draw(rng) {
        const c = new Canvas(size);
        const px = rng() * 10;
        const py = rng() * 10;
        const period = 8 * s;
        for (let y = 0; y < size; y++)
          for (let x = 0; x < size; x++) {
            const u = (x + px) / period;
            const v = (y + py) / period;
            const over = (Math.floor(u) + Math.floor(v)) % 2 === 0;
            const thread = over ? Math.sin(Math.PI * (u % 1)) : Math.sin(Math.PI * (v % 1));
            const g = 110 + 70 * thread;
            c.set(x, y, [g * 0.55, g * 0.62, g * 0.95]);
          }
        c.light(0.95 + rng() * 0.1, (rng() - 0.5) * 6);
        c.noise(3, rng);
        return c;
      },
      region: (sz) => ({ cx: sz / 2, cy: sz / 2, r: sz * 0.45 }),
    };
  }
  // label
  const bars = Array.from({ length: 24 }, () => 1 + Math.floor(design() * 3));
  const blocks = Array.from({ length: 6 }, () => ({ x: 60 + design() * 120, y: 120 + design() * 60, w: 10 + design() * 30, h: 6 + design() * 8 }));
  return {
    draw(rng) {
      const c = new Canvas(size);
      c.fill([120, 110, 100]);
      const dx = (rng() - 0.5) * 4 * s;
      const dy = (rng() - 0.5) * 4 * s;
      c.rect(40 * s + dx, 40 * s + dy, 176 * s, 176 * s, [238, 236, 228]);
      let x = 56;
      for (const w of bars) {
        c.rect(x * s + dx, 56 * s + dy, w * 1.5 * s, 50 * s, [20, 20, 24]);
        x += w * 1.5 + 4;
      }
      for (const b of blocks) c.rect(b.x * s + dx, b.y * s + dy, b.w * s, b.h * s, [40, 60, 150]);
      c.light(0.96 + rng() * 0.08, (rng() - 0.5) * 6);
      c.noise(2, rng);
      return c;
    },
    region: (sz) => ({ cx: sz / 2, cy: sz / 2, r: sz * 0.3 }),
  };
}

/** A plain conveyor belt: grey with faint transverse ribs. */
function belt(size: number, rng: Rng): Canvas {
  const c = new Canvas(size);
  c.fill([88, 90, 94]);
  const pitch = Math.max(2, Math.round(size / 32));
  for (let y = 0; y < size; y += pitch) c.rect(0, y, size, 1, [80, 82, 86]);
  c.noise(2, rng);
  return c;
}

/**
 * Lays a drawn part (and its defect mask) on a belt at a random pose: rotation
 * uniform within +-maxDeg, shift within +-maxShift of the frame.
 */
export function posePart(part: Canvas, mask: Uint8Array | undefined, maxDeg: number, maxShift: number, rng: Rng): { image: Canvas; mask?: Uint8Array } {
  const size = part.size;
  const out = belt(size, rng);
  const angle = ((rng() * 2 - 1) * maxDeg * Math.PI) / 180;
  const tx = (rng() * 2 - 1) * maxShift * 2;
  const ty = (rng() * 2 - 1) * maxShift * 2;
  // The part with coverage and defect channels, inside a one-pixel transparent
  // frame, so the border-reading warp reads "no part" outside it.
  const padded = size + 2;
  const layers = new Float32Array(padded * padded * 5);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const o = ((y + 1) * padded + x + 1) * 5;
      layers.set(part.px.subarray((y * size + x) * 3, (y * size + x) * 3 + 3), o);
      layers[o + 3] = 1;
      layers[o + 4] = mask ? mask[y * size + x]! : 0;
    }
  // Frame point q -> part point: undo the shift and the rotation, then the shrink.
  const toPart = compose(similarity(0, size / padded / POSE_SCALE, 0, 0), invert(similarity(angle, 1, tx, ty)));
  const laid = warpImage(layers, padded, padded, 5, toPart, size, size);
  const outMask = mask ? new Uint8Array(size * size) : undefined;
  for (let i = 0; i < size * size; i++) {
    const cover = laid[i * 5 + 3]!;
    for (let c = 0; c < 3; c++) out.px[i * 3 + c] = out.px[i * 3 + c]! * (1 - cover) + laid[i * 5 + c]!;
    if (outMask) outMask[i] = laid[i * 5 + 4]! >= 0.5 ? 1 : 0;
  }
  return { image: out, mask: outMask };
}

/** Mask sources of the protocol: an irregular blob (random star-shaped polygon) or a thin scratch. */
function blobMask(size: number, rng: Rng, where: { cx: number; cy: number; r: number }): Uint8Array {
  const m = new Uint8Array(size * size);
  const area = size * size * (0.001 + rng() * 0.029); // 0.1 % .. 3 % of the image
  const radius = Math.sqrt(area / Math.PI);
  const a = rng() * 2 * Math.PI;
  const d = Math.sqrt(rng()) * Math.max(0, where.r - radius);
  const cx = where.cx + Math.cos(a) * d;
  const cy = where.cy + Math.sin(a) * d;
  const k = 7 + Math.floor(rng() * 6);
  const radii = Array.from({ length: k }, () => radius * (0.6 + rng() * 0.7));
  const stretch = 0.6 + rng() * 0.8;
  const rot = rng() * Math.PI;
  for (let y = Math.floor(cy - 2 * radius); y <= cy + 2 * radius; y++)
    for (let x = Math.floor(cx - 2 * radius); x <= cx + 2 * radius; x++) {
      if (x < 0 || y < 0 || x >= size || y >= size) continue;
      const ux = x + 0.5 - cx;
      const uy = y + 0.5 - cy;
      const rx = (ux * Math.cos(rot) + uy * Math.sin(rot)) / stretch;
      const ry = -ux * Math.sin(rot) + uy * Math.cos(rot);
      const ang = ((Math.atan2(ry, rx) + 2 * Math.PI) % (2 * Math.PI)) / (2 * Math.PI) * k;
      const i0 = Math.floor(ang) % k;
      const f = ang - Math.floor(ang);
      const limit = radii[i0]! * (1 - f) + radii[(i0 + 1) % k]! * f;
      if (Math.hypot(rx, ry) <= limit) m[y * size + x] = 1;
    }
  return m;
}

function scratchMask(size: number, rng: Rng, where: { cx: number; cy: number; r: number }): Uint8Array {
  const c = new Canvas(size);
  const len = size * (0.08 + rng() * 0.25);
  const a = rng() * Math.PI;
  const d = Math.sqrt(rng()) * Math.max(0, where.r - len / 2);
  const b = rng() * 2 * Math.PI;
  const cx = where.cx + Math.cos(b) * d;
  const cy = where.cy + Math.sin(b) * d;
  const bend = (rng() - 0.5) * len * 0.3;
  const mx = cx + Math.cos(a + Math.PI / 2) * bend;
  const my = cy + Math.sin(a + Math.PI / 2) * bend;
  const width = Math.max(1.5, (size / 256) * (1.5 + rng() * 2.5));
  c.line(cx - (Math.cos(a) * len) / 2, cy - (Math.sin(a) * len) / 2, mx, my, width, [255, 255, 255]);
  c.line(mx, my, cx + (Math.cos(a) * len) / 2, cy + (Math.sin(a) * len) / 2, width, [255, 255, 255]);
  const m = new Uint8Array(size * size);
  for (let i = 0; i < m.length; i++) m[i] = c.px[i * 3]! > 127 ? 1 : 0;
  return m;
}

/** A colour at least `minDistance` (RGB Euclidean) from the mean colour under the mask. */
function farColour(image: Canvas, mask: Uint8Array, rng: Rng, minDistance = 100): number[] {
  const mean = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < mask.length; i++)
    if (mask[i]) {
      for (let c = 0; c < 3; c++) mean[c]! += image.px[i * 3 + c]!;
      n++;
    }
  for (let c = 0; c < 3; c++) mean[c] = mean[c]! / Math.max(1, n);
  let colour = [rng() * 255, rng() * 255, rng() * 255];
  const dist = (a: number[]) => Math.hypot(a[0]! - mean[0]!, a[1]! - mean[1]!, a[2]! - mean[2]!);
  for (let tries = 0; tries < 20 && dist(colour) < minDistance; tries++) colour = [rng() * 255, rng() * 255, rng() * 255];
  if (dist(colour) < minDistance) colour = mean.map((m) => (m < 128 ? 255 : 0)); // push it away: the opposite corner
  return colour;
}

export function applyDefect(image: Canvas, type: (typeof DEFECT_TYPES)[number], rng: Rng, where: { cx: number; cy: number; r: number }, donor: Canvas): Uint8Array {
  const size = image.size;
  let mask = type === 'scratch' ? scratchMask(size, rng, where) : blobMask(size, rng, where);
  if (!mask.some((v) => v)) mask = blobMask(size, rng, where);
  if (type === 'structural') {
    // A patch of another good part, taken from elsewhere on it.
    const shiftX = Math.round((rng() < 0.5 ? -1 : 1) * size * (0.15 + rng() * 0.2));
    const shiftY = Math.round((rng() < 0.5 ? -1 : 1) * size * (0.15 + rng() * 0.2));
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        const i = y * size + x;
        if (!mask[i]) continue;
        const sx = Math.min(size - 1, Math.max(0, x + shiftX));
        const sy = Math.min(size - 1, Math.max(0, y + shiftY));
        for (let c = 0; c < 3; c++) image.px[i * 3 + c] = donor.px[(sy * size + sx) * 3 + c]!;
      }
  } else {
    const colour = farColour(image, mask, rng);
    const n = gaussianSampler(rng);
    for (let i = 0; i < mask.length; i++) if (mask[i]) for (let c = 0; c < 3; c++) image.px[i * 3 + c] = colour[c]! + n() * 4;
  }
  return mask;
}

async function png(path: string, canvas: Canvas) {
  await sharp(canvas.toBuffer(), { raw: { width: canvas.size, height: canvas.size, channels: 3 } }).png().toFile(path);
}

async function pngMask(path: string, mask: Uint8Array, size: number) {
  await sharp(Buffer.from(mask.map((v) => (v ? 255 : 0))), { raw: { width: size, height: size, channels: 1 } }).png().toFile(path);
}

export async function generateDevset(opts: DevsetOptions, log: (line: string) => void = () => {}): Promise<string[]> {
  const written: string[] = [];
  for (const [ci, name] of opts.categories.entries()) {
    let product: Product;
    const posed = /^(\w+)-pose(360|30|0)$/.exec(name);
    if (posed && (POSE_PARTS as readonly string[]).includes(posed[1]!)) {
      const part = proceduralProduct(posed[1]!, opts.size, opts.seed * 1000 + ci);
      // Degrees either way: a full turn is +-180.
      const maxDeg = posed[2] === '360' ? 180 : Number(posed[2]);
      const shift = maxDeg > 0 ? POSE_SHIFT : 0;
      product = {
        draw: (rng, index) => posePart(part.draw(rng, index), undefined, maxDeg, shift, rng).image,
        region: part.region,
        defect: (rng, index, type) => {
          const image = part.draw(rng, index);
          const donor = part.draw(rng, index + 1);
          const mask = applyDefect(image, type, rng, part.region(opts.size), donor);
          const laid = posePart(image, mask, maxDeg, shift, rng);
          return { image: laid.image, mask: laid.mask! };
        },
      };
    } else if ((TEXTURE_CATEGORIES as readonly string[]).includes(name)) {
      if (!existsSync(join(SKIMAGE_DATA, `${name}.png`))) {
        log(`skipping ${name}: ${join(SKIMAGE_DATA, `${name}.png`)} is missing (install python3-skimage)`);
        continue;
      }
      product = await textureProduct(name, opts.size);
    } else if ((PROCEDURAL_CATEGORIES as readonly string[]).includes(name)) {
      product = proceduralProduct(name, opts.size, opts.seed * 1000 + ci);
    } else {
      throw new Error(`unknown category ${name} (known: ${[...ALL_CATEGORIES, ...POSE_CATEGORIES].join(', ')})`);
    }
    const rng = seededRandom(opts.seed * 7919 + ci * 104729 + 1);
    const dir = join(opts.out, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'train', 'good'), { recursive: true });
    await mkdir(join(dir, 'test', 'good'), { recursive: true });
    const id = (i: number) => String(i).padStart(3, '0');
    let index = 0;
    for (let i = 0; i < opts.train; i++) await png(join(dir, 'train', 'good', `${id(i)}.png`), product.draw(rng, index++));
    for (let i = 0; i < opts.testGood; i++) await png(join(dir, 'test', 'good', `${id(i)}.png`), product.draw(rng, index++));
    const defectTypes = DEFECT_TYPES.filter((type) => type !== 'structural' || !(TEXTURE_CATEGORIES as readonly string[]).includes(name));
    for (const type of defectTypes) {
      await mkdir(join(dir, 'test', type), { recursive: true });
      await mkdir(join(dir, 'ground_truth', type), { recursive: true });
      for (let i = 0; i < opts.testPerDefect; i++) {
        let image: Canvas;
        let mask: Uint8Array;
        if (product.defect) {
          ({ image, mask } = product.defect(rng, index, type));
          index += 2;
        } else {
          image = product.draw(rng, index++);
          const donor = product.draw(rng, index++);
          mask = applyDefect(image, type, rng, product.region(opts.size), donor);
        }
        await png(join(dir, 'test', type, `${id(i)}.png`), image);
        await pngMask(join(dir, 'ground_truth', type, `${id(i)}_mask.png`), mask, opts.size);
      }
    }
    written.push(name);
    log(`${name}: ${opts.train} train, ${opts.testGood} good + ${opts.testPerDefect * defectTypes.length} defective test images (${defectTypes.join(', ')})`);
  }
  await mkdir(opts.out, { recursive: true });
  await writeFile(
    join(opts.out, 'README.txt'),
    `linesight development dataset (MVTec AD layout), seed ${opts.seed}, ${opts.size}x${opts.size} px.\n` +
      `Categories: ${written.join(', ')}.\nPer category: ${opts.train} train/good, ${opts.testGood} test/good, ` +
      `${opts.testPerDefect} each of test/${DEFECT_TYPES.join(', test/')} with ground_truth masks ` +
      '(textures: no structural pastes).\n' +
      'Defects follow the F2PAD synthetic protocol: x\' = (1 - M) x + M A.\n',
  );
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: '.devset' },
      train: { type: 'string', default: '60' },
      'test-good': { type: 'string', default: '100' },
      'test-per-defect': { type: 'string', default: '10' },
      size: { type: 'string', default: '256' },
      seed: { type: 'string', default: '1' },
      categories: { type: 'string' },
      pose: { type: 'boolean', default: false },
    },
  });
  const t = performance.now();
  const written = await generateDevset(
    {
      out: values.out!,
      train: Number(values.train),
      testGood: Number(values['test-good']),
      testPerDefect: Number(values['test-per-defect']),
      size: Number(values.size),
      seed: Number(values.seed),
      categories: values.categories ? values.categories.split(',').map((s) => s.trim()) : values.pose ? POSE_CATEGORIES : ALL_CATEGORIES,
    },
    (line) => console.log(line),
  );
  console.log(`wrote ${written.length} categories to ${values.out} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
