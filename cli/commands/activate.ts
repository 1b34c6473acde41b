/**
 * `linesight activate`: make one version of a product active after
 * verifying it loads; a running device swaps to it between two frames.
 */
import type { Command } from 'commander';
import { activateProductVersion } from '../../product/versions.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';

interface ActivateFlags extends DeviceFlags {
  product: string;
  version: string;
}

export function addActivateCommand(program: Command): void {
  program
    .command('activate')
    .description('make a version of a product active (verified first; a running linesight swaps to it between two frames)')
    .requiredOption('--product <id>', 'product id')
    .requiredOption('--version <v>', 'version, e.g. v3')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(activate);
}

async function activate(flags: ActivateFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const r = await activateProductVersion(config.dataDir, id, flags.version);
  console.log(r.from === r.to ? `${id} ${r.to} is already active (verified)` : `${id}: ${r.to} is active (was ${r.from ?? 'none'}); a running linesight switches to it within ${config.productPollMs / 1000} s`);
}
