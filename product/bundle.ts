/**
 * A product version as one transferable bundle, so another device can fetch
 * it with a single HTTP GET, and its installation there: unpacked into a
 * temporary folder inside the product folder, checked against the plant's
 * trusted signing keys and the artifact's own checksums, then renamed into
 * place like an enrolled version. Nothing is kept of a refused bundle.
 *
 * Format (written here rather than tar: `tar` is only an indirect
 * dependency of the build tools, and a version is a handful of flat files,
 * so a length-prefixed format leaves no room for links, paths or devices):
 *
 *   LSBUNDLE1\n
 *   {"files":[{"name":"manifest.json","size":812}, ...]}\n
 *   <the files' bytes, concatenated in that order>
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { productIdSchema } from '../config/names.ts';
import { syncDir, writeDurable } from '../models/durable-file.ts';
import { ArtifactError, MANIFEST_FILE, listVersions, loadArtifactDir, productDir } from './artifact.ts';
import { SIGNATURE_FILE, privateKeyFromPem, sha256Of, signatureProblem, signVersionFiles, type SignatureFile, type TrustedKey } from './signing.ts';

const MAGIC = 'LSBUNDLE1\n';

export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

const bundleIndexSchema = z
  .object({ files: z.array(z.object({ name: z.string(), size: z.number().int().min(0) }).strict()).min(1) })
  .strict();

/** A name a bundle may hold: one plain file name, not hidden (pure). */
export function isBundleFileName(name: string): boolean {
  return name.length > 0 && name.length <= 128 && name === basename(name) && !name.startsWith('.') && !/[\\/\0]/.test(name);
}

/** Packs files into one bundle (pure). */
export function encodeBundle(files: ReadonlyMap<string, Uint8Array>): Buffer {
  const names = [...files.keys()].sort();
  for (const name of names) if (!isBundleFileName(name)) throw new BundleError(`"${name}" cannot go into a bundle (plain file names only)`);
  const index = { files: names.map((name) => ({ name, size: files.get(name)!.byteLength })) };
  return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(index)}\n`, 'utf8'), ...names.map((n) => files.get(n)!)]);
}

/** Unpacks a bundle; anything malformed (names, sizes, trailing bytes) is a BundleError (pure). */
export function decodeBundle(bytes: Uint8Array): Map<string, Uint8Array> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new BundleError('not a linesight version bundle (bad header)');
  const end = buf.indexOf(0x0a, MAGIC.length);
  if (end < 0) throw new BundleError('the bundle index is cut off');
  let index: z.output<typeof bundleIndexSchema>;
  try {
    index = bundleIndexSchema.parse(JSON.parse(buf.subarray(MAGIC.length, end).toString('utf8')));
  } catch {
    throw new BundleError('the bundle index is malformed');
  }
  const files = new Map<string, Uint8Array>();
  let offset = end + 1;
  for (const { name, size } of index.files) {
    if (!isBundleFileName(name) || files.has(name)) throw new BundleError(`the bundle holds a bad or repeated file name "${name}"`);
    if (offset + size > buf.length) throw new BundleError(`the bundle is cut off inside ${name}`);
    files.set(name, buf.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== buf.length) throw new BundleError(`the bundle has ${buf.length - offset} bytes after its last file`);
  return files;
}

/** The folder of a stored version; ArtifactError naming the versions there are when it does not exist. */
async function storedVersionDir(dataDir: string, productId: string, version: string): Promise<string> {
  const versions = await listVersions(dataDir, productId);
  if (!versions.includes(version)) throw new ArtifactError(`product "${productId}" has no version ${version} in ${dataDir}${versions.length ? `; its versions are ${versions.join(', ')}` : ''}`);
  return join(productDir(dataDir, productId), version);
}

/** The files of a stored version (plain files only, temporaries skipped). */
export async function readVersionFiles(dataDir: string, productId: string, version: string): Promise<Map<string, Uint8Array>> {
  const dir = await storedVersionDir(dataDir, productId, version);
  const files = new Map<string, Uint8Array>();
  for (const name of (await readdir(dir)).sort()) {
    if (!isBundleFileName(name) || !(await stat(join(dir, name))).isFile()) continue;
    files.set(name, await readFile(join(dir, name)));
  }
  return files;
}

/** A stored version as a bundle, verified first so a damaged version is never sent. */
export async function readVersionBundle(dataDir: string, productId: string, version: string): Promise<Buffer> {
  await loadArtifactDir(await storedVersionDir(dataDir, productId, version), productId, version);
  return encodeBundle(await readVersionFiles(dataDir, productId, version));
}

/** Signs a stored, verified version in place (signature.json written beside the manifest, temp + rename). */
export async function signStoredVersion(dataDir: string, productId: string, version: string, privatePem: string, keySource: string): Promise<SignatureFile> {
  const key = privateKeyFromPem(privatePem, keySource);
  const dir = await storedVersionDir(dataDir, productId, version);
  await loadArtifactDir(dir, productId, version);
  const signature = signVersionFiles(await readVersionFiles(dataDir, productId, version), key);
  const tmp = join(dir, `.signature-${randomBytes(4).toString('hex')}`);
  await writeDurable(tmp, `${JSON.stringify(signature, null, 2)}\n`);
  await rename(tmp, join(dir, SIGNATURE_FILE));
  await syncDir(dir);
  return signature;
}

export interface TrustPolicy {
  trustKeys: readonly TrustedKey[];
  /** Without trust keys, accept versions whose signature cannot be checked. */
  allowUnsigned: boolean;
}

/** Why a bundle's files may not be installed under this trust policy, or undefined (pure). */
export function trustProblem(files: ReadonlyMap<string, Uint8Array>, policy: TrustPolicy): string | undefined {
  if (policy.trustKeys.length > 0) return signatureProblem(files, policy.trustKeys);
  if (policy.allowUnsigned) return undefined;
  return 'no trust key is configured (fleet.trustKeys) and fleet.allowUnsigned is false';
}

export interface InstalledVersion {
  product: string;
  version: string;
  /** The same version (same manifest) was already here; nothing was written. */
  alreadyPresent: boolean;
  manifestSha256: string;
}

function manifestIdentity(files: ReadonlyMap<string, Uint8Array>): { product: string; version: string } {
  const bytes = files.get(MANIFEST_FILE);
  if (!bytes) throw new BundleError('the bundle has no manifest.json');
  let m: { productId?: unknown; version?: unknown };
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof m;
  } catch {
    throw new BundleError('the bundle manifest.json is not valid JSON');
  }
  if (typeof m.productId !== 'string' || !productIdSchema.safeParse(m.productId).success) throw new BundleError('the bundle manifest names no valid productId');
  if (typeof m.version !== 'string' || !/^v\d+$/.test(m.version)) throw new BundleError('the bundle manifest names no valid version');
  return { product: m.productId, version: m.version };
}

/**
 * Installs a received bundle: trust checked first (nothing is written for a
 * refused one), then unpacked into `.tmp-fleet-*` in the product folder
 * (removed by the next enrollment should the device stop half-way),
 * verified by the artifact's own checksums and renamed into place. A
 * different version stored under the same name is a conflict, never
 * overwritten. Does not activate: the device's policy decides.
 */
export async function installVersionBundle(dataDir: string, bundle: Uint8Array, policy: TrustPolicy, expectedProduct?: string): Promise<InstalledVersion> {
  const files = decodeBundle(bundle);
  const { product, version } = manifestIdentity(files);
  if (expectedProduct !== undefined && product !== expectedProduct) throw new BundleError(`the bundle holds product "${product}", not "${expectedProduct}"`);
  const refused = trustProblem(files, policy);
  if (refused) throw new BundleError(`${product} ${version} refused: ${refused}`);
  const manifestSha256 = sha256Of(files.get(MANIFEST_FILE)!);
  const pdir = productDir(dataDir, product);
  const target = join(pdir, version);
  if ((await listVersions(dataDir, product)).includes(version)) {
    const here = await readFile(join(target, MANIFEST_FILE)).catch(() => undefined);
    if (here && sha256Of(here) === manifestSha256) return { product, version, alreadyPresent: true, manifestSha256 };
    throw new BundleError(`${product} ${version} refused: this device already has a different ${version} of ${product}; enroll the product on one device only`);
  }
  await mkdir(pdir, { recursive: true });
  const tmp = join(pdir, `.tmp-fleet-${version}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    for (const [name, bytes] of files) await writeDurable(join(tmp, name), bytes);
    await syncDir(tmp);
    await loadArtifactDir(tmp, product, version);
    await rename(tmp, target);
    await syncDir(pdir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof ArtifactError) throw new BundleError(`${product} ${version} refused: ${err.message}`);
    throw err;
  }
  return { product, version, alreadyPresent: false, manifestSha256 };
}
