/**
 * Loads and checks a folder of golden (good) sample images. Unreadable files
 * and files whose size differs from the rest are reported by name and left
 * out; enrollment stops only when too few usable samples remain.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IMAGE_EXTENSIONS, ImageReadError, imageFileNames, readImage, type LoadedImage } from '../product/image-io.ts';

export class EnrollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollError';
  }
}

export interface SkippedSample {
  name: string;
  reason: string;
}

export interface GoldenSet {
  images: (LoadedImage & { name: string })[];
  skipped: SkippedSample[];
}

export async function listImageFiles(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new EnrollError(`golden-sample path ${dir} is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof EnrollError) throw err;
    throw new EnrollError(`golden-sample folder ${dir} does not exist or cannot be read`);
  }
  return imageFileNames(entries);
}

export async function loadGoldenSamples(
  dir: string,
  size: { width: number; height: number },
  minCount: number,
  onProgress?: (done: number, total: number) => void,
): Promise<GoldenSet> {
  const files = await listImageFiles(dir);
  if (files.length === 0) {
    throw new EnrollError(`no golden-sample images in ${dir} (looked for ${IMAGE_EXTENSIONS.join(', ')})`);
  }
  const loaded: GoldenSet['images'] = [];
  const skipped: SkippedSample[] = [];
  for (const [i, name] of files.entries()) {
    try {
      loaded.push({ ...(await readImage(join(dir, name), size)), name });
    } catch (err) {
      if (!(err instanceof ImageReadError)) throw err;
      skipped.push({ name, reason: err.message.slice(err.path.length + 2) });
    }
    onProgress?.(i + 1, files.length);
  }
  // One camera set-up gives one image size; a file of another size is most likely
  // from another camera or product and would blur what "good" means.
  const sizes = new Map<string, number>();
  for (const img of loaded) {
    const key = `${img.originalWidth}x${img.originalHeight}`;
    sizes.set(key, (sizes.get(key) ?? 0) + 1);
  }
  const [common] = [...sizes.entries()].sort((a, b) => b[1] - a[1])[0] ?? [''];
  const images = loaded.filter((img) => {
    const key = `${img.originalWidth}x${img.originalHeight}`;
    if (key === common) return true;
    skipped.push({ name: img.name, reason: `size ${key} differs from the other golden samples (${common})` });
    return false;
  });
  if (images.length < minCount) {
    const detail = skipped.length > 0 ? `; skipped: ${skipped.map((s) => `${s.name} (${s.reason})`).join(', ')}` : '';
    throw new EnrollError(`only ${images.length} usable golden samples in ${dir}, at least ${minCount} are needed${detail}`);
  }
  return { images, skipped };
}
