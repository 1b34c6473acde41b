/**
 * Flags most commands share: the device config file and data folder, and
 * the product id, each checked up front with a message naming the flag.
 */
import type { DeviceConfig } from '../config/device.ts';
import { parseOrThrow } from '../config/errors.ts';
import { loadDeviceConfig } from '../config/load.ts';
import { productIdSchema } from '../config/names.ts';

export interface DeviceFlags {
  config?: string;
  dataDir?: string;
}

/** The device config from `--config`, its data folder overridden by `--data-dir`. */
export async function deviceConfig(flags: DeviceFlags): Promise<DeviceConfig> {
  const config = await loadDeviceConfig(flags.config);
  return flags.dataDir ? { ...config, dataDir: flags.dataDir } : config;
}

/** The `--product` value, or a ConfigError naming it. */
export function productId(value: string): string {
  return parseOrThrow(productIdSchema, value, `--product "${value}"`);
}
