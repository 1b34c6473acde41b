/**
 * What an evaluation checks before any long work: the dataset's layout for
 * every category asked for, and that the backbone's files are there. Every
 * problem found here ends the command with its message alone, before the
 * first golden sample is read.
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { EnrollSettings } from '../config/enroll.ts';
import { assertBackboneAvailable, backboneWeightsPath } from '../models/backbones/registry.ts';
import { isResnetId } from '../models/backbones/resnet.ts';
import { DatasetError, listCategories, readCategory, type Category } from './dataset.ts';

/** The categories to evaluate, each read and checked: enough golden samples, good and defective test images. */
export async function checkDataset(root: string, categories: string[] | undefined, minGoldenSamples: number): Promise<Category[]> {
  const names = categories && categories.length > 0 ? categories : await listCategories(root);
  if (names.length === 0) throw new DatasetError(`no categories in ${root} (expected <category>/train/good folders)`);
  const read: Category[] = [];
  for (const name of names) {
    const category = await readCategory(root, name);
    const where = join(root, name);
    if (category.trainGood.length < minGoldenSamples) {
      throw new DatasetError(`category ${name} has ${category.trainGood.length} golden samples in ${join(where, 'train', 'good')}; enrollment needs at least ${minGoldenSamples}`);
    }
    if (!category.test.some((item) => item.label === 0)) throw new DatasetError(`category ${name} has no good test images (${join(where, 'test', 'good')})`);
    if (!category.test.some((item) => item.label === 1)) throw new DatasetError(`category ${name} has no defective test images (folders under ${join(where, 'test')} other than good)`);
    read.push(category);
  }
  return read;
}

/** Where installed backbone weights are looked up when an evaluation has no data folder of its own. */
export const DEFAULT_BACKBONE_DIR = '.linesight';

/** Throws the backbone's own message when its files are not in `weightsDir` (see assertBackboneAvailable). */
export async function checkBackbone(settings: Pick<EnrollSettings, 'backbone'>, weightsDir: string): Promise<void> {
  await assertBackboneAvailable(settings.backbone, { dataDir: weightsDir });
}

/**
 * Makes installed ResNet weights visible to enrollments writing to `dataDir`
 * when that is another folder than `weightsDir` (a temporary one): a link
 * to the weights `fetch-backbone` installed in the device's data folder.
 */
export async function linkBackbone(settings: Pick<EnrollSettings, 'backbone'>, dataDir: string, weightsDir: string): Promise<void> {
  const id = settings.backbone;
  if (!isResnetId(id) || resolve(dataDir) === resolve(weightsDir)) return;
  const target = backboneWeightsPath(id, dataDir);
  if (existsSync(target)) return;
  await mkdir(dirname(target), { recursive: true });
  await symlink(resolve(backboneWeightsPath(id, weightsDir)), target);
}
