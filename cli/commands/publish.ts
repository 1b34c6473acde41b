/**
 * `linesight publish`: signs a version of a product in place with the plant
 * key and announces it on the broker (retained, `<prefix>/<device>/versions/<product>`)
 * so the other devices of the plant fetch it from this device's web server.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { ConfigError } from '../../config/errors.ts';
import type { DeviceConfig } from '../../config/device.ts';
import { readVersionBundle, signStoredVersion } from '../../product/bundle.ts';
import { sha256Of } from '../../product/signing.ts';
import { normalizeVersion } from '../../product/versions.ts';
import { bundlePath } from '../../runtime/fleet/announcement.ts';
import { announceVersion } from '../../runtime/fleet/publish-version.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';

interface PublishFlags extends DeviceFlags {
  product: string;
  version: string;
  key: string;
  url?: string;
  announce: boolean;
}

export function addPublishCommand(program: Command): void {
  program
    .command('publish')
    .description('sign a version with the plant key and announce it to the other devices (they fetch it from this device)')
    .requiredOption('--product <id>', 'product id')
    .requiredOption('--version <v>', 'version, e.g. v3')
    .requiredOption('--key <file>', 'the plant signing key (private key PEM, see: linesight keys generate)')
    .option('--url <base>', "base URL other devices reach this device's web server at (default: from http.host and http.port)")
    .option('--no-announce', 'sign only; do not publish on the broker')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(publish);
}

/** The base URL of this device's web server as other devices reach it (pure apart from the host name). */
export function defaultPublishBase(http: DeviceConfig['http'], machine = hostname()): string {
  const host = http.host === '0.0.0.0' || http.host === '::' ? machine : http.host;
  return `${http.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${http.port}`;
}

async function publish(flags: PublishFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const id = productId(flags.product);
  const version = normalizeVersion(flags.version);
  if (!version) throw new ConfigError(`--version "${flags.version}" is not a version (like v3)`);
  let pem: string;
  try {
    pem = await readFile(flags.key, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read --key ${flags.key}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const signature = await signStoredVersion(config.dataDir, id, version, pem, `--key ${flags.key}`);
  console.log(`${id} ${version} signed with key ${signature.statement.keyId}`);
  if (!flags.announce) return;
  const bundle = await readVersionBundle(config.dataDir, id, version);
  const url = `${(flags.url ?? defaultPublishBase(config.http)).replace(/\/+$/, '')}${bundlePath(id, version)}`;
  const announcement = { product: id, version, keyId: signature.statement.keyId, url, sha256: sha256Of(bundle), publishedAt: new Date().toISOString() };
  try {
    const { topic, brokerUrl } = await announceVersion(config.mqtt, announcement);
    console.log(`announced on ${topic} (${brokerUrl}): other devices fetch ${url}`);
  } catch (err) {
    console.error(`linesight: ${id} ${version} is signed but was not announced: the broker is unreachable (${(err as Error).message}); run publish again when it is`);
    process.exitCode = 1;
  }
}
