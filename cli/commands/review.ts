/**
 * `linesight review`: an operator's verdict on a kept record from the
 * command line — defect (with an optional type), good part (a false reject)
 * or missed defect (a passed part) — appended to the review log with who
 * gave it, like a verdict on the Review page.
 */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { ConfigError } from '../../config/errors.ts';
import { recordsSettingsOf } from '../../config/records.ts';
import { REVIEW_LABELS, type ReviewLabel } from '../../product/records-index.ts';
import { RecordLabelError, SqliteRecordStore } from '../../runtime/records/record-store.ts';
import { deviceConfig, type DeviceFlags } from '../device-flags.ts';

interface ReviewFlags extends DeviceFlags {
  record: string;
  label: string;
  type?: string;
  by?: string;
}

export function addReviewCommand(program: Command): void {
  program
    .command('review')
    .description('mark a kept record: defect (optionally --type), good (a false reject) or missed (a passed part that was defective)')
    .requiredOption('--record <id>', 'record id (see linesight records)')
    .requiredOption('--label <label>', 'defect, good or missed')
    .option('--type <name>', 'defect type, for defect and missed')
    .option('--by <name>', 'who gives the verdict (default: the user running the command)')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(review);
}

async function review(flags: ReviewFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = Number(flags.record);
  if (!Number.isSafeInteger(id) || id < 1) throw new ConfigError(`--record "${flags.record}" is not a record id`);
  if (!(REVIEW_LABELS as readonly string[]).includes(flags.label)) throw new ConfigError(`--label "${flags.label}": use one of ${REVIEW_LABELS.join(', ')}`);
  const store = new SqliteRecordStore(config.dataDir, recordsSettingsOf(config));
  try {
    const row = store.review(id, { label: flags.label as ReviewLabel, type: flags.type ?? null, who: flags.by ?? userInfo().username });
    console.log(`record ${row.id} (${row.camera}, ${row.product} ${row.version ?? ''}, ${row.verdict}): ${row.label}${row.defectType ? ` (${row.defectType})` : ''}`);
  } catch (err) {
    if (err instanceof RecordLabelError) throw new ConfigError(err.message);
    throw err;
  } finally {
    store.close();
  }
}
