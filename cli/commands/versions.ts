/**
 * `linesight versions`: the versions of one product with what a technician
 * compares them by (golden samples, threshold, expected false rejects,
 * alignment quality, attachments), damaged ones marked.
 */
import type { Command } from 'commander';
import { ProductVersionError, listProductVersions } from '../../product/versions.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { fmt } from '../format.ts';
import { printTable } from '../table.ts';

interface VersionsFlags extends DeviceFlags {
  product: string;
  json?: boolean;
}

export function addVersionsCommand(program: Command): void {
  program
    .command('versions')
    .description('list the versions of a product: golden samples, threshold, expected false rejects, alignment, contact sheets')
    .requiredOption('--product <id>', 'product id')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .option('--json', 'print JSON')
    .action(versions);
}

async function versions(flags: VersionsFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const list = await listProductVersions(config.dataDir, id);
  if (list.length === 0) throw new ProductVersionError(`product "${id}" is not enrolled in ${config.dataDir}; run: linesight enroll --product ${id} --images <folder>`);
  if (flags.json) {
    console.log(JSON.stringify(list));
    return;
  }
  printTable(
    ['version', 'active', 'created', 'golden', 'threshold', 'exp.FRR%', 'STN SSIM', 'attachments'],
    list.map((v) => [
      v.version,
      v.active ? '*' : '',
      v.createdAt ? v.createdAt.slice(0, 16).replace('T', ' ') : '-',
      String(v.goldenSamples),
      fmt(v.imageThreshold),
      v.calibration.expectedFrr === null ? '-' : fmt(v.calibration.expectedFrr * 100, 2),
      v.alignment ? fmt(v.alignment.ssim) : '-',
      v.error ? `DAMAGED: ${v.error}` : v.attachments.join(', ') || '-',
    ]),
  );
}
