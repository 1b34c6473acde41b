/**
 * A sample product and a conveyor video of it, for the demo, the streaming
 * tests and the streaming benchmark: golden washers enrolled as a product,
 * and an H.264 video in which parts (good or defective) pass the camera one
 * after another, each held for `partFrames` frames.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/schema.ts';
import { readActiveVersion } from '../models/product-artifact.ts';
import { resolveFfmpeg } from '../runtime/ingest/find-ffmpeg.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { generateDevset } from './make-devset.ts';

export const CONVEYOR_PRODUCT = 'washer';

export interface Part {
  /** `good` or the defect type. */
  kind: string;
  defective: boolean;
  image: string;
}

export interface SampleProductOptions {
  /** Folder holding the generated images (`devset/`) and the device data (`data/`). */
  dir: string;
  size?: number;
  goldenSamples?: number;
  testGood?: number;
  testPerDefect?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface SampleProduct {
  product: string;
  dataDir: string;
  devset: string;
  good: Part[];
  defective: Part[];
}

async function pngs(folder: string): Promise<string[]> {
  return (await readdir(folder)).filter((f) => f.endsWith('.png')).sort().map((f) => join(folder, f));
}

/** Generates (once) the sample product's images and enrolls it (once) into `<dir>/data`. */
export async function prepareSampleProduct(opts: SampleProductOptions): Promise<SampleProduct> {
  const size = opts.size ?? 224;
  const golden = opts.goldenSamples ?? 40;
  const devset = join(opts.dir, 'devset');
  const dataDir = join(opts.dir, 'data');
  const product = CONVEYOR_PRODUCT;
  if (!existsSync(join(devset, product, 'train', 'good'))) {
    opts.log?.(`generating ${product} golden samples and test parts in ${devset}`);
    await generateDevset({ out: devset, train: golden, testGood: opts.testGood ?? 12, testPerDefect: opts.testPerDefect ?? 3, size, seed: opts.seed ?? 7, categories: [product] });
  }
  if (!(await readActiveVersion(dataDir, product))) {
    opts.log?.(`enrolling ${product} from ${golden} golden samples`);
    const r = await enrollProduct({
      productId: product,
      imagesDir: join(devset, product, 'train', 'good'),
      dataDir,
      settings: enrollSettingsSchema.parse({ inputSize: size, minGoldenSamples: Math.min(10, golden) }),
      inference: inferenceSettingsSchema.parse({}),
      activate: true,
    });
    opts.log?.(`enrolled ${product} ${r.version}: image threshold ${r.manifest.thresholds.image.toFixed(3)}`);
  }
  const test = join(devset, product, 'test');
  const good = (await pngs(join(test, 'good'))).map((image) => ({ kind: 'good', defective: false, image }));
  const defective: Part[] = [];
  for (const kind of (await readdir(test)).filter((k) => k !== 'good').sort()) {
    for (const image of await pngs(join(test, kind))) defective.push({ kind, defective: true, image });
  }
  return { product, dataDir, devset, good, defective };
}

/** Good and defective parts interleaved, never two defective ones in a row (each must make its own reject). */
export function conveyorSequence(good: Part[], defective: Part[]): Part[] {
  const parts: Part[] = [];
  let b = 0;
  good.forEach((part, i) => {
    parts.push(part);
    if (i % 3 !== 1 && b < defective.length) parts.push(defective[b++]!);
  });
  return parts;
}

/** Encodes the parts as an H.264 video (near-lossless), each part held for `partFrames` frames. */
export async function encodeConveyorVideo(parts: Part[], path: string, opts: { size?: number; fps?: number; partFrames?: number } = {}): Promise<void> {
  const size = opts.size ?? 224;
  const fps = opts.fps ?? 15;
  const partFrames = opts.partFrames ?? fps;
  const ffmpeg = resolveFfmpeg().path;
  const args = ['-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${size}x${size}`, '-r', String(fps), '-i', 'pipe:0',
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '12', '-pix_fmt', 'yuv444p', '-g', String(fps), path];
  const child = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<void>((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`ffmpeg could not encode ${path}: ${stderr.trim()}`))));
  });
  for (const part of parts) {
    const frame = await sharp(part.image).resize(size, size).removeAlpha().raw().toBuffer();
    for (let i = 0; i < partFrames; i++) {
      if (!child.stdin.write(frame)) await new Promise((r) => child.stdin.once('drain', r));
    }
  }
  child.stdin.end();
  await done;
}
