/**
 * Golden-sample folders a technician fills from the web UI, by capture from
 * a camera or by upload: `<dataDir>/golden/<product>/<set>/`, one folder per
 * session, named by its start time. Uploads are decoded before they are
 * kept, so enrollment never meets an unreadable file from the UI; their size
 * is read from the header first, so an image too large to decode is refused
 * without decoding it. An upload never replaces a file already in the set
 * (409: the technician renames it or starts a new set; a silent replacement
 * would change a golden set behind the technician's back) and is written
 * under a temporary name, then linked into place, so a symbolic link in the
 * set is never followed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { MAX_SAMPLES_PER_SET } from '../capture/golden-capture.ts';
import { IMAGE_EXTENSIONS, imageFileNames, MAX_INPUT_PIXELS, pixelLimitProblem } from '../../product/image-io.ts';
import { GOLDEN_SET_NAME, goldenRoot, goldenSetNames } from '../../product/golden-folders.ts';
import { ApiError } from './http-util.ts';

export { goldenRoot } from '../../product/golden-folders.ts';

/** Folder name of a set started at `now`: 20261123-130512 (UTC). */
export function goldenSetName(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** The set's folder; refuses names that are not set names (so a path cannot leave the golden folder). */
export function goldenSetDir(dataDir: string, product: string, set: string): string {
  if (!GOLDEN_SET_NAME.test(set)) throw new ApiError(400, `"${set}" is not a golden-sample set name (like 20261123-130512)`);
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
  const sets = await goldenSetNames(dataDir, product);
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

/** Checks the image's size from its header, then that it decodes; returns its size. */
export async function checkUploadImage(file: string, bytes: Buffer, maxPixels = MAX_INPUT_PIXELS): Promise<{ width: number; height: number }> {
  if (bytes.length === 0) throw new ApiError(400, `"${file}" is empty`);
  const unreadable = (err: unknown) => new ApiError(400, `"${file}" is not an image linesight can read (${(err as Error).message.split('\n')[0]}); nothing was saved`);
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = await sharp(bytes, { limitInputPixels: false }).metadata());
  } catch (err) {
    throw unreadable(err);
  }
  if (!width || !height) throw unreadable(new Error('no image size in its header'));
  const tooLarge = pixelLimitProblem(width, height, maxPixels);
  if (tooLarge) throw new ApiError(413, `"${file}": ${tooLarge}; nothing was saved`);
  try {
    const { info } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels }).raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height };
  } catch (err) {
    throw unreadable(err);
  }
}

/** Refuses a folder on the way from `dataDir` down `parts` that is a symbolic link or not a folder. */
async function requirePlainFolders(dataDir: string, parts: string[]): Promise<void> {
  for (let i = 1; i <= parts.length; i++) {
    const path = join(dataDir, ...parts.slice(0, i));
    const stat = await lstat(path).catch(() => undefined);
    if (!stat?.isDirectory()) throw new ApiError(409, `${parts.slice(0, i).join('/')} is not a plain folder of the device (a link or a file); nothing was saved`);
  }
}

/** Writes `bytes` as `dir/file`, which must not exist; never follows a symbolic link. */
async function writeNewFile(dir: string, file: string, bytes: Buffer): Promise<void> {
  const temp = join(dir, `.upload-${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(bytes);
  } catch (err) {
    // A full disk: no half-written temporary stays in the set.
    await handle.close();
    await unlink(temp).catch(() => undefined);
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new ApiError(507, `the device's disk is full; "${file}" was not saved`);
    throw err;
  }
  await handle.close();
  const target = join(dir, file);
  try {
    await link(temp, target).catch(async (err: NodeJS.ErrnoException) => {
      // File systems without hard links: an exclusive copy does not follow or replace an existing name either.
      if (err.code === 'EPERM' || err.code === 'ENOTSUP' || err.code === 'EOPNOTSUPP') await copyFile(temp, target, constants.COPYFILE_EXCL);
      else throw err;
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ApiError(409, `the set already holds a file named "${file}"; rename the image or start a new set. Nothing was replaced`);
    throw err;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Checks that the bytes are an image linesight can decode, then adds them to the set under a new name. */
export async function saveUpload(dataDir: string, product: string, set: string, name: string, bytes: Buffer): Promise<{ file: string; width: number; height: number }> {
  const dir = goldenSetDir(dataDir, product, set);
  const file = uploadName(name);
  const size = await checkUploadImage(file, bytes);
  await requirePlainFolders(dataDir, ['golden', product, set]);
  const held = (await imageFiles(dir)).length;
  if (held >= MAX_SAMPLES_PER_SET) throw new ApiError(409, `the set already holds ${held} images, the most one set may hold (${MAX_SAMPLES_PER_SET}); start a new set. Nothing was saved`);
  await writeNewFile(dir, file, bytes);
  return { file, ...size };
}
