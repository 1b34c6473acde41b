/**
 * The conveyor line shared by the part benchmarks (`npm run bench:parts`,
 * `npm run bench:opcua`): the sample product, a 30 fps video with a black
 * lead-in and then parts shown whole one after another at a given rate, the
 * parts a PLC announces (ids P1, P2, ...; ground truth from the generated
 * parts), and which part image the device actually judged for a part (its
 * scored image matched to the part images), so a wrong verdict can be told
 * apart as a timing error (a neighbour's frame was judged) or a classifier
 * error (the part's own frame was judged).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { conveyorLayout, conveyorSequence, encodeConveyorVideo, prepareSampleProduct, type Part, type SampleProduct } from '../fixtures/conveyor.ts';
import type { PlcPart } from '../fixtures/plc-process.ts';

export const LINE_FPS = 30;
/** Black lead-in: the device's frame clock settles on it (the stream starts when the device connects). */
export const LEAD_IN_S = 5;
/** The PLC is commissioned this long after the lead-in, before it triggers. */
export const SETTLE_MS = 2000;

export interface LineVideo {
  sample: SampleProduct;
  path: string;
  /** Every part of the video, lead-in included. */
  parts: Part[];
  partFrames: number;
  leadInParts: number;
  /** Video index of the first frame after the lead-in. */
  syncFrame: number;
  /** The parts after the lead-in, as the PLC knows them. */
  plcParts: PlcPart[];
  /** The images frames are matched to (the black frame first). */
  references: string[];
}

export async function prepareLine(o: { dir: string; minutes: number; rate: number; log: (line: string) => void }): Promise<LineVideo> {
  const sample = await prepareSampleProduct({ dir: o.dir, size: 224, goldenSamples: 40, testGood: 12, testPerDefect: 3, log: o.log });
  const sequence = conveyorSequence(sample.good, sample.defective);
  const syncImage = join(o.dir, 'sync-black.png');
  if (!existsSync(syncImage)) await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(syncImage);
  const syncPart: Part = { kind: 'sync', defective: false, image: syncImage };
  const partFrames = Math.max(1, Math.round(LINE_FPS / o.rate));
  const leadInParts = LEAD_IN_S * o.rate;
  // The triggered parts, the settling before them, and a little video after the last.
  const count = Math.ceil((o.minutes * 60 + SETTLE_MS / 1000 + 4) * o.rate);
  const parts = [...Array.from({ length: leadInParts }, () => syncPart), ...Array.from({ length: count }, (_, i) => sequence[i % sequence.length]!)];
  const path = join(o.dir, `parts-${o.rate}pps-${count}-leadin${LEAD_IN_S}s-qp.mp4`);
  if (!existsSync(path)) {
    o.log(`encoding ${count} parts at ${o.rate} parts/s (${partFrames} frames each at ${LINE_FPS} fps) after a ${LEAD_IN_S} s black lead-in`);
    await encodeConveyorVideo(parts, path, { size: 224, fps: LINE_FPS, partFrames, quality: 'constant' });
  }
  const layout = conveyorLayout(parts, { partFrames, fps: LINE_FPS });
  const plcParts = Array.from({ length: count }, (_, i) => ({ partId: `P${i + 1}`, firstFrame: layout.spans[leadInParts + i]!.firstFrame, defective: parts[leadInParts + i]!.defective }));
  return { sample, path, parts, partFrames, leadInParts, syncFrame: leadInParts * partFrames, plcParts, references: [...new Set([syncImage, ...sequence.map((p) => p.image)])] };
}

/** 16x16 grey thumbnail of an RGB image (HWC, 0..255) of side `size`. */
function thumb(rgb: ArrayLike<number>, size: number): Float32Array {
  const n = 16;
  const out = new Float32Array(n * n);
  const counts = new Float32Array(n * n);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const c = Math.floor((y * n) / size) * n + Math.floor((x * n) / size);
      out[c]! += (rgb[i]! + rgb[i + 1]! + rgb[i + 2]!) / 3;
      counts[c]!++;
    }
  }
  for (let c = 0; c < out.length; c++) out[c]! /= counts[c]!;
  return out;
}

/** Which reference image a scored image shows (nearest 16x16 grey thumbnail). */
export class FrameIdentifier {
  private constructor(private readonly thumbs: Float32Array[]) {}

  static async create(references: readonly string[]): Promise<FrameIdentifier> {
    return new FrameIdentifier(await Promise.all(references.map(async (image) => thumb(await sharp(image).resize(224, 224).removeAlpha().raw().toBuffer(), 224))));
  }

  /** Index of the nearest reference to an RGB image (HWC 0..255) of side `size`. */
  identify(image: ArrayLike<number>, size: number): number {
    const t = thumb(image, size);
    let best = -1;
    let bestD = Infinity;
    this.thumbs.forEach((r, i) => {
      let d = 0;
      for (let j = 0; j < r.length; j++) d += Math.abs(t[j]! - r[j]!);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    });
    return best;
  }
}

export type JudgedPlace = 'own' | 'previous' | 'next' | 'other';

/** Whether reference image `image` is the image of part `part` (index among the PLC's parts), of a neighbour, or another. */
export function judgedPlace(line: LineVideo, part: number, image: number): JudgedPlace {
  const imageOf = (k: number) => line.references.indexOf(line.parts[line.leadInParts + k]?.image ?? '');
  if (image === imageOf(part)) return 'own';
  if (image === imageOf(part - 1)) return 'previous';
  if (image === imageOf(part + 1)) return 'next';
  return 'other';
}
