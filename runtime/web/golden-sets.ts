/**
 * Golden-sample folders a technician fills from the web UI, by capture from
 * a camera or by upload: `<dataDir>/golden/<product>/<set>/`, one folder per
 * session, named by its start time. Uploads are decoded before they are
 * kept, so enrollment never meets an unreadable file from the UI.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { IMAGE_EXTENSIONS, imageFileNames } from '../../product/image-io.ts';
import { ApiError } from './http-util.ts';

export function goldenRoot(dataDir: string, product: string): string {
  return join(dataDir, 'golden', product);
}

/** Folder name of a set started at `now`: 20261123-130512 (UTC). */
export function goldenSetName(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

const SET_NAME = /^\d{8}-\d{6}(-\d+)?$/;

/** The set's folder; refuses names that are not set names (so a path cannot leave the golden folder). */
export function goldenSetDir(dataDir: string, product: string, set: string): string {
  if (!SET_NAME.test(set)) throw new ApiError(400, `"${set}" is not a golden-sample set name (like 20261123-130512)`);
  return join(goldenRoot(dataDir, product), set);
}

/** Creates a new, empty set folder. */
export async function createGoldenSet(dataDir: string, product: string, now = new Date()): Promise<{ set: string; dir: string }> {
  const base = goldenSetName(now);
  for (let i = 0; ; i++) {
    const set = i === 0 ? base : `${base}-${i}`;
    const dir = join(goldenRoot(dataDir, product), set);
    await mkdir(goldenRoot(dataDir, product), { recursive: true });
    try {
      await mkdir(dir);
      return { set, dir };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function listGoldenSets(dataDir: string, product: string): Promise<{ set: string; images: number }[]> {
  let sets: string[];
  try {
    sets = (await readdir(goldenRoot(dataDir, product))).filter((s) => SET_NAME.test(s)).sort();
  } catch {
    return [];
  }
  return Promise.all(sets.map(async (set) => ({ set, images: (await imageFiles(join(goldenRoot(dataDir, product), set))).length })));
}

export async function imageFiles(dir: string): Promise<string[]> {
  try {
    return imageFileNames(await readdir(dir));
  } catch {
    return [];
  }
}

/** A file name for an uploaded image, or an ApiError naming what is wrong with it. */
export function uploadName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$/.test(base)) throw new ApiError(400, `"${name}": use a plain file name (letters, digits, spaces, . _ - ( ))`);
  if (!IMAGE_EXTENSIONS.includes(extname(base).toLowerCase())) {
    throw new ApiError(400, `"${base}" is not an image file: linesight reads ${IMAGE_EXTENSIONS.join(', ')}`);
  }
  return base;
}

/** Checks that the bytes decode as an image, then writes them into the set. */
export async function saveUpload(dir: string, name: string, bytes: Buffer): Promise<{ file: string; width: number; height: number }> {
  const file = uploadName(name);
  if (bytes.length === 0) throw new ApiError(400, `"${file}" is empty`);
  let info: { width: number; height: number };
  try {
    ({ info } = await sharp(bytes, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new ApiError(400, `"${file}" is not an image linesight can read (${(err as Error).message.split('\n')[0]}); nothing was saved`);
  }
  await writeFile(join(dir, file), bytes);
  return { file, width: info.width, height: info.height };
}
