/**
 * Reviewed records of a product as a dataset in the MVTec AD layout, so
 * the line's own labelled parts can be evaluated with `linesight eval` or
 * used with other tools: `<out>/<product>/test/good/` (parts marked good),
 * `test/<defect type>/` (confirmed and missed defects) with their masks in
 * `ground_truth/<type>/<name>_mask.png`, and `train/good/` (the golden
 * samples given, which eval enrolls from).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { ReviewSet } from './review-set.ts';

export interface ExportSummary {
  dir: string;
  good: number;
  defects: Record<string, number>;
  train: number;
}

/** A folder name for a defect type (letters, digits, _ and - only). */
export function typeFolder(type: string): string {
  const name = type.trim().replace(/[^A-Za-z0-9_-]+/g, '_');
  return name === '' || name === 'good' ? 'defect' : name;
}

export async function exportReviewSet(set: ReviewSet, out: string, product: string, trainImages: readonly string[]): Promise<ExportSummary> {
  const dir = join(out, product);
  const summary: ExportSummary = { dir, good: 0, defects: {}, train: 0 };
  await mkdir(join(dir, 'train', 'good'), { recursive: true });
  await mkdir(join(dir, 'test', 'good'), { recursive: true });
  for (const [i, path] of trainImages.entries()) {
    await copyFile(path, join(dir, 'train', 'good', `${String(i).padStart(4, '0')}${extname(path).toLowerCase()}`));
    summary.train++;
  }
  for (const path of set.good) {
    await copyFile(path, join(dir, 'test', 'good', `${recordName(path)}.png`));
    summary.good++;
  }
  for (const d of [...set.defects, ...set.missed]) {
    const type = typeFolder(d.type);
    const name = `record-${d.recordId}`;
    await mkdir(join(dir, 'test', type), { recursive: true });
    await mkdir(join(dir, 'ground_truth', type), { recursive: true });
    await copyFile(d.path, join(dir, 'test', type, `${name}.png`));
    await copyFile(d.maskPath, join(dir, 'ground_truth', type, `${name}_mask.png`));
    summary.defects[type] = (summary.defects[type] ?? 0) + 1;
  }
  return summary;
}

/** `record-<folder>` for a record's image: its folder names it uniquely. */
function recordName(imagePath: string): string {
  return `record-${basename(join(imagePath, '..'))}`;
}
