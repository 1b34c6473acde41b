/**
 * Loads the device config: a YAML or JSON file, then LINESIGHT_DATA_DIR from
 * the environment, validated against `deviceConfigSchema`.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseOrThrow } from './errors.ts';
import { deviceConfigSchema, type DeviceConfig } from './device.ts';

export async function loadDeviceConfig(path?: string, env: NodeJS.ProcessEnv = process.env): Promise<DeviceConfig> {
  let raw: unknown = {};
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
    }
    raw ??= {};
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${path}: the top level must be a mapping of keys`);
  }
  const withEnv: Record<string, unknown> = { ...(raw as object) };
  if (env.LINESIGHT_DATA_DIR) withEnv.dataDir = env.LINESIGHT_DATA_DIR;
  return parseOrThrow(deviceConfigSchema, withEnv, path ?? 'defaults');
}
