/** `linesight products`: the enrolled products with their active version. */
import type { Command } from 'commander';
import { listProductSummaries } from '../../product/versions.ts';
import { deviceConfig, type DeviceFlags } from '../device-flags.ts';
import { printTable } from '../table.ts';

interface ProductsFlags extends DeviceFlags {
  json?: boolean;
}

export function addProductsCommand(program: Command): void {
  program
    .command('products')
    .description('list the enrolled products with their active version')
    .option('--data-dir <dir>', 'device data folder (default from config, else ./.linesight)')
    .option('--config <file>', 'device config file')
    .option('--json', 'print JSON')
    .action(products);
}

async function products(flags: ProductsFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const list = await listProductSummaries(config.dataDir);
  if (flags.json) {
    console.log(JSON.stringify(list));
    return;
  }
  if (list.length === 0) {
    console.log(`no products enrolled in ${config.dataDir}; enroll one with: linesight enroll --product <id> --images <folder>`);
    return;
  }
  printTable(['product', 'active', 'versions'], list.map((p) => [p.product, p.active ?? '(none)', String(p.versions)]));
}
