/**
 * `linesight rollback`: activate the newest version older than the active
 * one that still loads, saying which newer-but-broken ones were passed over.
 */
import type { Command } from 'commander';
import { rollbackProduct } from '../../product/versions.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';

interface RollbackFlags extends DeviceFlags {
  product: string;
}

export function addRollbackCommand(program: Command): void {
  program
    .command('rollback')
    .description('activate the newest version older than the active one that loads')
    .requiredOption('--product <id>', 'product id')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(rollback);
}

async function rollback(flags: RollbackFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const r = await rollbackProduct(config.dataDir, id);
  for (const s of r.skipped) console.error(`passed over ${s.version}: ${s.reason}`);
  console.log(`${id}: rolled back from ${r.from} to ${r.to}; a running linesight switches to it within ${config.productPollMs / 1000} s`);
}
