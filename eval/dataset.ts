/**
 * Reads datasets in the MVTec AD folder layout: `<cat>/train/good/*`,
 * `<cat>/test/<type>/*` (`good` = normal), `<cat>/ground_truth/<type>/<stem>_mask.png`.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, basename } from 'node:path';
import { ConfigError } from '../config/errors.ts';

/** A dataset folder that does not have the layout (a thing the user fixes: its message is shown alone). */
export class DatasetError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

const IMAGE = /\.(png|jpe?g|bmp|tiff?)$/i;

export interface TestItem {
  path: string;
  defectType: string;
  label: 0 | 1;
  maskPath?: string;
}

export interface Category {
  name: string;
  trainGood: string[];
  test: TestItem[];
}

const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
const images = async (dir: string) => (await readdir(dir)).filter((f) => IMAGE.test(f)).sort().map((f) => join(dir, f));

export async function listCategories(root: string): Promise<string[]> {
  if (!(await isDir(root))) throw new DatasetError(`dataset folder ${root} does not exist`);
  const out: string[] = [];
  for (const e of (await readdir(root)).sort()) if (await isDir(join(root, e, 'train', 'good'))) out.push(e);
  return out;
}

export async function readCategory(root: string, category: string): Promise<Category> {
  const dir = join(root, category);
  if (!(await isDir(dir))) throw new DatasetError(`category ${category} not found in ${root} (categories: ${(await listCategories(root)).join(', ') || 'none'})`);
  const trainDir = join(dir, 'train', 'good');
  if (!(await isDir(trainDir))) throw new DatasetError(`category ${category} has no train/good folder (${trainDir})`);
  const testDir = join(dir, 'test');
  if (!(await isDir(testDir))) throw new DatasetError(`category ${category} has no test folder (${testDir})`);
  const test: TestItem[] = [];
  for (const type of (await readdir(testDir)).sort()) {
    if (!(await isDir(join(testDir, type)))) continue;
    for (const path of await images(join(testDir, type))) {
      if (type === 'good') {
        test.push({ path, defectType: type, label: 0 });
        continue;
      }
      const maskPath = join(dir, 'ground_truth', type, `${basename(path, extname(path))}_mask.png`);
      if (!(await stat(maskPath).then((s) => s.isFile(), () => false))) throw new DatasetError(`defective test image ${path} has no mask ${maskPath}`);
      test.push({ path, defectType: type, label: 1, maskPath });
    }
  }
  return { name: category, trainGood: await images(trainDir), test };
}
