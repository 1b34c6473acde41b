/**
 * Golden-sample files of a capture folder: `000.png`, `001.png`, ... A file
 * appears whole or not at all (written to a hidden temporary name, synced,
 * then linked into place, removed if the disk is full), and an existing file
 * is never replaced: numbering continues after the highest number already in
 * the folder.
 */
import { randomBytes } from 'node:crypto';
import { access, link, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { syncDir, writeDurable } from '../../models/durable-file.ts';
import type { Frame } from '../camera-pipeline.ts';

const SAMPLE_NAME = /^(\d+)\.png$/i;

/** The name of sample number `n` (at least three digits). */
export function sampleName(n: number): string {
  return `${String(n).padStart(3, '0')}.png`;
}

/** The first free sample number after the numbered PNGs in `names` (pure). */
export function nextSampleNumber(names: string[]): number {
  let next = 0;
  for (const name of names) {
    const m = SAMPLE_NAME.exec(name);
    if (m) next = Math.max(next, Number(m[1]) + 1);
  }
  return next;
}

/** How many numbered sample PNGs `names` holds (pure). */
export function countSamples(names: string[]): number {
  return names.filter((name) => SAMPLE_NAME.test(name)).length;
}

/** Creates the folder if missing; returns the first free sample number in it and how many samples it holds. */
export async function prepareSampleFolder(dir: string): Promise<{ next: number; count: number }> {
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir);
  return { next: nextSampleNumber(names), count: countSamples(names) };
}

/** Links `tmp` to `path`; where the file system has no hard links, renames it after checking `path` is free. */
async function placeFile(tmp: string, path: string): Promise<void> {
  try {
    await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    const taken = await access(path).then(() => true, () => false);
    if (taken) throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
    await rename(tmp, path);
  }
}

/**
 * Writes the frame as PNG under the first free number from `number` on;
 * returns the path and the number used.
 */
export async function writeSamplePng(dir: string, number: number, frame: Pick<Frame, 'width' | 'height' | 'data'>): Promise<{ path: string; number: number }> {
  const png = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toBuffer();
  const tmp = join(dir, `.capture-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    // Inside the try: a disk that fills up half-way leaves no partial temporary behind.
    await writeDurable(tmp, png);
    for (let n = number; ; n++) {
      const path = join(dir, sampleName(n));
      try {
        // link() never replaces an existing file (unlike rename), so a sample written meanwhile by someone else stays.
        await placeFile(tmp, path);
        await syncDir(dir);
        return { path, number: n };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
}
