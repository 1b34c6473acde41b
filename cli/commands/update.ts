/**
 * `linesight update`: a new version of a product from the active one and the
 * operator's verdicts — images marked good join the golden set, the
 * threshold is recalibrated — written without activating it, with the
 * replay of every reviewed image under the active version and the new one
 * side by side; `linesight activate` then makes it active.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { imageFileNames } from '../../product/image-io.ts';
import { EnrollError } from '../../trainer/golden-samples.ts';
import { updateProduct, type ReviewSet, type UpdateResult } from '../../trainer/update-product.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { fmt } from '../format.ts';
import { numberFlag } from '../number-flag.ts';
import { createProgress } from '../progress.ts';
import { printTable } from '../table.ts';

interface UpdateFlags extends DeviceFlags {
  product: string;
  good: string[];
  defects?: string[];
  missed?: string[];
  golden?: string;
  maxBankRows?: number;
  json?: boolean;
}

export function addUpdateCommand(program: Command): void {
  program
    .command('update')
    .description('build a new version of a product from images marked good (not activated), replaying reviewed images with the active version and the new one')
    .requiredOption('--product <id>', 'product id')
    .requiredOption('--good <paths...>', 'images marked good (false rejects): files or folders')
    .option('--defects <paths...>', 'confirmed defects to replay: files or folders (sub-folders name the defect type)')
    .option('--missed <paths...>', 'passed parts marked as missed defects to replay: files or folders (sub-folders name the defect type)')
    .option('--golden <dir>', "the product's golden-sample folder: its held-out samples are rescored for the new threshold (without it the threshold is kept)")
    .option('--max-bank-rows <n>', 'most rows the memory bank may gain', (v: string) => numberFlag('--max-bank-rows', v, { integer: true, min: 1 }))
    .option('--json', 'print the result as JSON')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(update);
}

/** Image files of a path: the file itself, or the images of a folder and (typed by their name) of its sub-folders. */
export async function reviewedImages(path: string): Promise<{ path: string; type?: string }[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new EnrollError(`${path} does not exist`);
  if (!info.isDirectory()) return [{ path }];
  const entries = await readdir(path, { withFileTypes: true });
  const out: { path: string; type?: string }[] = imageFileNames(entries.filter((e) => e.isFile()).map((e) => e.name)).map((name) => ({ path: join(path, name) }));
  for (const sub of entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).sort((a, b) => a.name.localeCompare(b.name))) {
    const files = imageFileNames(await readdir(join(path, sub.name)));
    out.push(...files.map((name) => ({ path: join(path, sub.name, name), type: sub.name })));
  }
  return out;
}

async function reviewSet(flags: UpdateFlags): Promise<ReviewSet> {
  const expand = async (paths: string[] = []) => (await Promise.all(paths.map(reviewedImages))).flat();
  const good = (await expand(flags.good)).map((g) => g.path);
  if (good.length === 0) throw new EnrollError(`no images marked good in ${flags.good.join(', ')}`);
  return { good, defects: await expand(flags.defects), missed: await expand(flags.missed) };
}

/** The replay side by side: one row per group, active version against the candidate (pure). */
export function replayTable(r: UpdateResult): { header: string[]; rows: string[][] } {
  const { totals, active, candidate } = r.replay;
  const pair = (a: number, b: number, of: number) => [`${a}/${of}`, `${b}/${of}`];
  return {
    header: ['', `active ${r.updatedFrom}`, `candidate ${r.version}`],
    rows: [
      ['marked good, pass', ...pair(active.goodPass, candidate.goodPass, totals.good)],
      ['confirmed defects, reject', ...pair(active.defectReject, candidate.defectReject, totals.defects)],
      ['missed defects, reject', ...pair(active.missedReject, candidate.missedReject, totals.missed)],
      ['image threshold', fmt(r.thresholds.before.image), fmt(r.thresholds.after.image)],
    ],
  };
}

async function update(flags: UpdateFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const review = await reviewSet(flags);
  const progress = flags.json ? undefined : createProgress();
  let result: UpdateResult;
  try {
    result = await updateProduct({
      dataDir: config.dataDir,
      productId: id,
      review,
      inference: config.inference,
      settings: { goldenDir: flags.golden, maxBankRows: flags.maxBankRows },
      onProgress: progress ? (p) => progress.update(p.stage, p.done, p.total) : undefined,
    });
  } finally {
    progress?.stop();
  }
  if (flags.json) {
    console.log(JSON.stringify({ product: id, ...result }));
    return;
  }
  const table = replayTable(result);
  printTable(table.header, table.rows);
  console.log('');
  printTable(
    ['group', 'image', 'active', 'candidate'],
    result.replay.records.map((x) => [x.type ? `${x.group} (${x.type})` : x.group, x.path, `${fmt(x.active.score)} ${x.active.verdict.toUpperCase()}`, `${fmt(x.candidate.score)} ${x.candidate.verdict.toUpperCase()}`]),
  );
  console.log('');
  for (const note of result.notes) console.log(note);
  console.log(`updated ${id} ${result.version} from ${result.updatedFrom} in ${result.seconds.toFixed(1)} s (not active); activate it with: linesight activate --product ${id} --version ${result.version}`);
}
