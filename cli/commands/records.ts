/**
 * `linesight records`: the kept inspection records (rejects, parts without
 * a verdict, sampled passes) with filters and paging, as a table or JSON;
 * `linesight records export`: a product's reviewed records as an MVTec-layout
 * dataset that `linesight eval` runs on.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.ts';
import { listRecords, openRecordsIndexReadOnly, type RecordFilter, type RecordPage, REVIEW_LABELS, type ReviewLabel } from '../../product/records-index.ts';
import { exportReviewSet } from '../../product/review-export.ts';
import { readReviewSet } from '../../product/review-set.ts';
import { goldenSetDir, imageFiles, listGoldenSets } from '../../runtime/web/golden-sets.ts';
import { deviceConfig, type DeviceFlags, productId } from '../device-flags.ts';
import { fmt } from '../format.ts';
import { printTable } from '../table.ts';

interface RecordsFlags extends DeviceFlags {
  product?: string;
  camera?: string;
  version?: string;
  verdict?: string;
  reviewed?: string;
  label?: string;
  hours?: string;
  offset?: string;
  limit?: string;
  json?: boolean;
}

interface ExportFlags extends DeviceFlags {
  product?: string;
  out: string;
  train?: string;
}

export function addRecordsCommand(program: Command): void {
  const records = program
    .command('records')
    .description('list kept inspection records (rejects, no-verdict parts, sampled passes), newest first')
    .option('--product <id>', 'only this product')
    .option('--camera <id>', 'only this camera')
    .option('--version <v>', 'only this product version')
    .option('--verdict <v>', 'ok, reject or no_verdict')
    .option('--reviewed <yes|no>', 'only reviewed or only unreviewed records')
    .option('--label <label>', 'defect, good or missed')
    .option('--hours <n>', 'only the last n hours')
    .option('--offset <n>', 'skip this many', '0')
    .option('--limit <n>', 'show this many', '50')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(list);
  records
    .command('export')
    .description('write the reviewed records of a product as an MVTec-layout dataset (test/good, test/<defect type>, ground_truth) for linesight eval')
    // --product and the device flags are parsed by `records` as well; the action reads both levels.
    .option('--product <id>', 'product id (required)')
    .requiredOption('--out <dir>', 'dataset folder (the product becomes a category in it)')
    .option('--train <folder>', 'golden samples for train/good (default: the product\'s newest golden-sample set)')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action((_flags: ExportFlags, cmd: Command) => exportRecords(cmd.optsWithGlobals<ExportFlags>()));
}

function whole(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${flag} "${value}": use a whole number from ${min}`);
  return n;
}

function choice<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`${flag} "${value}": use one of ${allowed.join(', ')}`);
  return value as T;
}

/** The listing's filter from the command line. */
export function filterFromFlags(flags: RecordsFlags, now = Date.now()): RecordFilter {
  const reviewed = choice(flags.reviewed, ['yes', 'no'] as const, '--reviewed');
  const hours = whole(flags.hours, '--hours', 1);
  return {
    product: flags.product,
    camera: flags.camera,
    version: flags.version,
    verdict: choice(flags.verdict, ['ok', 'reject', 'no_verdict'] as const, '--verdict'),
    label: choice<ReviewLabel>(flags.label, REVIEW_LABELS, '--label'),
    reviewed: reviewed === undefined ? undefined : reviewed === 'yes',
    from: hours === undefined ? undefined : now - hours * 3_600_000,
  };
}

async function list(flags: RecordsFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const filter = filterFromFlags(flags);
  const page = { offset: whole(flags.offset, '--offset', 0), limit: whole(flags.limit, '--limit', 1) };
  const db = openRecordsIndexReadOnly(config.dataDir);
  let result: RecordPage = { total: 0, totalCapped: false, records: [] };
  if (db) {
    try {
      result = listRecords(db, filter, page);
    } finally {
      db.close();
    }
  }
  if (flags.json) {
    console.log(JSON.stringify(result));
    return;
  }
  if (!result.records.length) {
    console.log(db ? 'no records match' : `no records kept in ${config.dataDir} yet`);
    return;
  }
  printTable(
    ['id', 'time', 'camera', 'product', 'verdict', 'score', 'threshold', 'part', 'label'],
    result.records.map((r) => [
      String(r.id),
      new Date(r.ts).toISOString().slice(0, 19).replace('T', ' '),
      r.camera,
      `${r.product} ${r.version ?? ''}`.trim(),
      r.verdict,
      r.score === null ? '-' : fmt(r.score),
      r.threshold === null ? '-' : fmt(r.threshold),
      r.partId ?? '-',
      r.label ? `${r.label}${r.defectType ? ` (${r.defectType})` : ''}` : '-',
    ]),
  );
  const first = (page.offset ?? 0) + 1;
  console.log(`${first}-${first + result.records.length - 1} of ${result.total}${result.totalCapped ? '+' : ''}`);
}

/** Golden samples for train/good: the given folder, else the product's newest set. */
async function trainImages(dataDir: string, product: string, folder: string | undefined): Promise<string[]> {
  const inFolder = async (dir: string) => (await imageFiles(dir)).map((name) => join(dir, name));
  if (folder) return inFolder(folder);
  const newest = (await listGoldenSets(dataDir, product)).filter((s) => s.images > 0).at(-1);
  return newest ? inFolder(goldenSetDir(dataDir, product, newest.set)) : [];
}

async function exportRecords(flags: ExportFlags): Promise<void> {
  const config = await deviceConfig(flags);
  if (!flags.product) throw new ConfigError('records export needs --product <id>');
  const product = productId(flags.product);
  const set = await readReviewSet(config.dataDir, product);
  if (!set.good.length && !set.defects.length && !set.missed.length) throw new ConfigError(`product "${product}" has no reviewed records in ${config.dataDir}; review some first (linesight review, or the Review page)`);
  const train = await trainImages(config.dataDir, product, flags.train);
  const summary = await exportReviewSet(set, flags.out, product, train);
  const defects = Object.entries(summary.defects).map(([type, n]) => `${n} ${type}`).join(', ') || 'no defects';
  console.log(`wrote ${summary.dir}: ${summary.good} good, ${defects}; ${summary.train} golden samples in train/good`);
  if (!summary.train) console.log('train/good is empty: add golden samples there (or pass --train <folder>) before running linesight eval on it');
}
