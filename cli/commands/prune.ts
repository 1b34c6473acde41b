/**
 * `linesight prune`: delete old versions of a product beyond the retention
 * (`enroll.keepVersions`, or `--keep`), never the active one nor the one a
 * rollback would pick. Enrollment applies the same retention after each run.
 */
import type { Command } from 'commander';
import { pruneProductVersions } from '../../product/versions.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { numberFlag } from '../number-flag.ts';

interface PruneFlags extends DeviceFlags {
  product: string;
  keep?: string;
}

export function addPruneCommand(program: Command): void {
  program
    .command('prune')
    .description('delete old versions of a product beyond the retention (never the active one nor the rollback target)')
    .requiredOption('--product <id>', 'product id')
    .option('--keep <n>', 'versions to keep (default: enroll.keepVersions of the config; 0 keeps all)')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(prune);
}

async function prune(flags: PruneFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const keep = flags.keep === undefined ? config.enroll.keepVersions : numberFlag('--keep', flags.keep, { integer: true, min: 0, max: 10000 });
  const deleted = await pruneProductVersions(config.dataDir, id, keep);
  console.log(deleted.length === 0 ? `${id}: nothing to prune (keeping ${keep === 0 ? 'every version' : keep})` : `${id}: deleted ${deleted.join(', ')} (keeping ${keep})`);
}
