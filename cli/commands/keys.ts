/**
 * `linesight keys`: the plant's signing key for product versions.
 * `generate` writes a new ed25519 key pair (private key readable by its
 * owner only); `show` prints the key id and public key of a key file, the
 * value other devices put in fleet.trustKeys.
 */
import type { Command } from 'commander';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../config/errors.ts';
import { generateSigningKeyPair, keyIdOf, publicKeyFromPem } from '../../product/signing.ts';

export const PRIVATE_KEY_FILE = 'fleet-signing.key';
export const PUBLIC_KEY_FILE = 'fleet-signing.pub';

export function addKeysCommand(program: Command): void {
  const keys = program.command('keys').description('the signing key of product versions shared across the plant');
  keys
    .command('generate')
    .description(`write a new ed25519 key pair: <out>/${PRIVATE_KEY_FILE} (mode 0600) and <out>/${PUBLIC_KEY_FILE}`)
    .requiredOption('--out <dir>', 'folder for the key files')
    .action(generate);
  keys
    .command('show')
    .description('print the key id and public key of a key file (private or public)')
    .argument('<file>', 'PEM file')
    .action(show);
}

async function generate(flags: { out: string }): Promise<void> {
  const pair = generateSigningKeyPair();
  await mkdir(flags.out, { recursive: true });
  const privatePath = join(flags.out, PRIVATE_KEY_FILE);
  const publicPath = join(flags.out, PUBLIC_KEY_FILE);
  try {
    // `wx`: never overwrite a key that versions may already be signed with.
    await writeFile(privatePath, pair.privatePem, { mode: 0o600, flag: 'wx' });
    await writeFile(publicPath, pair.publicPem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`${flags.out} already holds a signing key; choose another --out folder`);
    throw err;
  }
  console.log(`key ${pair.keyId}\n  private: ${privatePath} (keep it off the devices that only receive versions)\n  public:  ${publicPath} (add it to fleet.trustKeys of every device)`);
}

async function show(file: string): Promise<void> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const key = publicKeyFromPem(pem, file);
  console.log(`key ${keyIdOf(key)}\n${key.export({ format: 'pem', type: 'spki' }).toString().trim()}`);
}
