/**
 * `linesight update`: a new version of a product from the active one and the
 * operator's verdicts — images marked good join the golden set, the
 * threshold is recalibrated — written without activating it, with the
 * replay of every reviewed image under the active version and the new one
 * side by side; `linesight activate` then makes it active. The verdicts are
 * image files (`--good`, `--defects`, `--missed`) or the device's reviewed
 * records (`--records`, the Review page's labels); with `--progress json` it
 * reports as the web UI reads it (product/update-progress.ts), which runs
 * this command for the Review page's "Update product".
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Option, type Command } from 'commander';
import { loadProductArtifact } from '../../product/artifact.ts';
import { imageFileNames } from '../../product/image-io.ts';
import type { RecordRow } from '../../product/records-index.ts';
import { readReviewedRecords } from '../../product/review-set.ts';
import { updateErrorLine, updateProgressLine, type UpdateResultLine } from '../../product/update-progress.ts';
import { EnrollError } from '../../trainer/golden-samples.ts';
import { deviceGoldenSet } from '../../trainer/update/recalibrate.ts';
import { updateProduct, type ReviewSet, type UpdateResult } from '../../trainer/update-product.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { fmt } from '../format.ts';
import { numberFlag } from '../number-flag.ts';
import { createProgress } from '../progress.ts';
import { printTable } from '../table.ts';

interface UpdateFlags extends DeviceFlags {
  product: string;
  good?: string[];
  defects?: string[];
  missed?: string[];
  records?: boolean;
  golden?: string;
  maxBankRows?: number;
  json?: boolean;
  progress: 'bar' | 'json';
}

export function addUpdateCommand(program: Command): void {
  program
    .command('update')
    .description('build a new version of a product from images marked good (not activated), replaying reviewed images with the active version and the new one')
    .requiredOption('--product <id>', 'product id')
    .option('--good <paths...>', 'images marked good (false rejects): files or folders')
    .option('--defects <paths...>', 'confirmed defects to replay: files or folders (sub-folders name the defect type)')
    .option('--missed <paths...>', 'passed parts marked as missed defects to replay: files or folders (sub-folders name the defect type)')
    .option('--records', "the product's reviewed records on this device instead (the Review page's labels: good, defect, missed)")
    .option('--golden <dir>', "the product's golden-sample folder: its held-out samples are rescored for the new threshold (default: the device's golden-sample set holding them; without one the threshold is kept)")
    .option('--max-bank-rows <n>', 'most rows the memory bank may gain', (v: string) => numberFlag('--max-bank-rows', v, { integer: true, min: 1 }))
    .option('--json', 'print the result as JSON')
    .addOption(new Option('--progress <format>', 'bar: progress bars for people; json: one JSON object per line on stdout (progress, then the result)').choices(['bar', 'json']).default('bar'))
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

/** What the update learns from and replays, and the kept record behind each image (with `--records`). */
interface Verdicts {
  review: ReviewSet;
  records: Map<string, RecordRow>;
  notes: string[];
}

async function verdictsFromFiles(flags: UpdateFlags): Promise<Verdicts> {
  const expand = async (paths: string[] = []) => (await Promise.all(paths.map(reviewedImages))).flat();
  if (!flags.good?.length) throw new EnrollError('give the images marked good (--good <files|dirs>), or --records for the reviewed records on this device');
  const good = (await expand(flags.good)).map((g) => g.path);
  if (good.length === 0) throw new EnrollError(`no images marked good in ${flags.good.join(', ')}`);
  return { review: { good, defects: await expand(flags.defects), missed: await expand(flags.missed) }, records: new Map(), notes: [] };
}

function verdictsFromRecords(dataDir: string, product: string): Verdicts {
  const { set, byImage, withoutImage } = readReviewedRecords(dataDir, product);
  if (set.good.length === 0) {
    throw new EnrollError(`product "${product}" has no kept record marked good in ${dataDir}; mark false rejects good first (g on the Review page, or linesight review --label good)`);
  }
  const typed = (d: { path: string; type: string }) => ({ path: d.path, type: d.type });
  const notes = withoutImage.length ? [`${withoutImage.length} reviewed record(s) kept no image and were left out: ${withoutImage.map((r) => r.id).join(', ')}`] : [];
  return { review: { good: set.good, defects: set.defects.map(typed), missed: set.missed.map(typed) }, records: byImage, notes };
}

/** The golden-sample folder to recalibrate with: `--golden`, else the device's set holding the active version's held-out samples. */
async function goldenFolder(flags: UpdateFlags, dataDir: string, product: string): Promise<string | undefined> {
  if (flags.golden) return flags.golden;
  const active = await loadProductArtifact(dataDir, product);
  return deviceGoldenSet(dataDir, product, active.manifest);
}

/** The result as `--progress json` reports it, each replayed image with the record it came from (pure). */
export function updateResultLine(product: string, r: UpdateResult, records: ReadonlyMap<string, RecordRow>, notes: string[] = []): UpdateResultLine {
  const { totals, active, candidate } = r.replay;
  return {
    event: 'result',
    product,
    version: r.version,
    updatedFrom: r.updatedFrom,
    seconds: r.seconds,
    bankRowsAdded: r.bankRowsAdded,
    thresholds: { before: r.thresholds.before.image, after: r.thresholds.after.image, how: r.thresholds.how },
    replay: {
      totals,
      active,
      candidate,
      records: r.replay.records.map((x) => {
        const row = records.get(x.path);
        return { group: x.group, recordId: row?.id ?? null, partId: row?.partId ?? null, path: x.path, type: x.type ?? null, active: x.active, candidate: x.candidate };
      }),
    },
    notes: [...r.notes, ...notes],
  };
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
  const json = flags.progress === 'json';
  let result: UpdateResult;
  let id: string;
  let verdicts: Verdicts;
  try {
    const config = await deviceConfig(flags);
    id = productId(flags.product);
    if (flags.records && (flags.good || flags.defects || flags.missed)) throw new EnrollError('give either --records (the reviewed records on this device) or image files (--good, --defects, --missed), not both');
    verdicts = flags.records ? verdictsFromRecords(config.dataDir, id) : await verdictsFromFiles(flags);
    const goldenDir = await goldenFolder(flags, config.dataDir, id);
    const progress = json || flags.json ? undefined : createProgress();
    try {
      result = await updateProduct({
        dataDir: config.dataDir,
        productId: id,
        review: verdicts.review,
        inference: config.inference,
        settings: { goldenDir, maxBankRows: flags.maxBankRows },
        // A record's image is listed among the golden samples by its record (every record's image is image.png).
        imageName: (path) => {
          const row = verdicts.records.get(path);
          return row ? `record-${row.id}.png` : basename(path);
        },
        onProgress: (p) => (progress ? progress.update(p.stage, p.done, p.total) : json ? console.log(updateProgressLine(p)) : undefined),
      });
    } finally {
      progress?.stop();
    }
  } catch (err) {
    if (json) console.log(updateErrorLine((err as Error).message));
    throw err;
  }
  if (json) {
    console.log(JSON.stringify(updateResultLine(id, result, verdicts.records, verdicts.notes)));
    return;
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
    result.replay.records.map((x) => {
      const row = verdicts.records.get(x.path);
      return [x.type ? `${x.group} (${x.type})` : x.group, row ? `record ${row.id}${row.partId ? ` (part ${row.partId})` : ''}` : x.path, `${fmt(x.active.score)} ${x.active.verdict.toUpperCase()}`, `${fmt(x.candidate.score)} ${x.candidate.verdict.toUpperCase()}`];
    }),
  );
  console.log('');
  for (const note of [...result.notes, ...verdicts.notes]) console.log(note);
  console.log(`updated ${id} ${result.version} from ${result.updatedFrom} in ${result.seconds.toFixed(1)} s (not active); activate it with: linesight activate --product ${id} --version ${result.version}`);
}
