/**
 * Signed product versions: a version enrolled on one device is installed on
 * the other devices of the plant only when it carries a signature by a key
 * the plant trusts. The signature covers a canonical statement naming the
 * product, the version, the manifest's sha256 and the sha256 of every other
 * file of the version folder, so any changed, added or removed byte is seen.
 *
 * The signature lives in `signature.json` next to the manifest. It is not in
 * the manifest's checksummed files (signing happens after enrollment and
 * must not change the manifest), so the artifact's own verify is unaffected.
 *
 * Keys are ed25519 (node:crypto); a key id is the first 16 hex digits of the
 * sha256 of the raw 32-byte public key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const SIGNATURE_FILE = 'signature.json';

export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

/** What a signature vouches for. */
export interface SignedStatement {
  product: string;
  version: string;
  /** sha256 of manifest.json as stored. */
  manifestSha256: string;
  /** sha256 of every other file of the version folder (tensors, attachments), by name. */
  files: Record<string, string>;
  /** The manifest's createdAt (when the version was enrolled). */
  createdAt: string;
  keyId: string;
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');

export const signedStatementSchema = z
  .object({
    product: z.string().min(1),
    version: z.string().regex(/^v\d+$/),
    manifestSha256: sha256Hex,
    files: z.record(z.string(), sha256Hex),
    createdAt: z.string(),
    keyId: z.string().regex(/^[0-9a-f]{16}$/),
  })
  .strict();

export const signatureFileSchema = z
  .object({
    statement: signedStatementSchema,
    /** ed25519 signature of canonicalJson(statement), base64. */
    signature: z.string().min(1),
    signedAt: z.string(),
  })
  .strict();

export type SignatureFile = z.output<typeof signatureFileSchema>;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** JSON with object keys sorted at every level and no whitespace: the same value always gives the same bytes (pure). */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
}

export const sha256Of = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The statement for a version's files: manifest.json plus every other file but the signature (pure). */
export function statementFor(files: ReadonlyMap<string, Uint8Array>, keyId: string): SignedStatement {
  const manifestBytes = files.get('manifest.json');
  if (!manifestBytes) throw new SigningError('the version has no manifest.json');
  let manifest: { productId?: unknown; version?: unknown; createdAt?: unknown };
  try {
    manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as typeof manifest;
  } catch {
    throw new SigningError('manifest.json is not valid JSON');
  }
  if (typeof manifest.productId !== 'string' || typeof manifest.version !== 'string') throw new SigningError('manifest.json names no productId and version');
  const others: Record<string, string> = {};
  for (const name of [...files.keys()].sort()) {
    if (name !== 'manifest.json' && name !== SIGNATURE_FILE) others[name] = sha256Of(files.get(name)!);
  }
  return {
    product: manifest.productId,
    version: manifest.version,
    manifestSha256: sha256Of(manifestBytes),
    files: others,
    createdAt: typeof manifest.createdAt === 'string' ? manifest.createdAt : '',
    keyId,
  };
}

const statementBytes = (statement: SignedStatement): Buffer => Buffer.from(canonicalJson({ ...statement }), 'utf8');

/** The key id of a public (or private) key: first 16 hex of sha256 of the raw 32-byte public key. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new SigningError(`the key is ${pub.asymmetricKeyType ?? 'not asymmetric'}; fleet signing uses ed25519`);
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new SigningError('the ed25519 public key has no raw value');
  return sha256Of(Buffer.from(jwk.x, 'base64url')).slice(0, 16);
}

export interface SigningKeyPair {
  privatePem: string;
  publicPem: string;
  keyId: string;
}

export function generateSigningKeyPair(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

export function privateKeyFromPem(pem: string, source: string): KeyObject {
  try {
    const key = createPrivateKey(pem);
    keyIdOf(key);
    return key;
  } catch (err) {
    throw new SigningError(`${source} is not an ed25519 private key in PEM: ${(err as Error).message}`);
  }
}

/** A public key from PEM; a private key PEM gives its public half. */
export function publicKeyFromPem(pem: string, source: string): KeyObject {
  try {
    const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem);
    keyIdOf(key);
    return key;
  } catch (err) {
    throw new SigningError(`${source} is not an ed25519 key in PEM: ${(err as Error).message}`);
  }
}

/** Signs a version's files (pure apart from the clock); returns the content of signature.json. */
export function signVersionFiles(files: ReadonlyMap<string, Uint8Array>, privateKey: KeyObject, now = new Date()): SignatureFile {
  const statement = statementFor(files, keyIdOf(privateKey));
  return { statement, signature: sign(null, statementBytes(statement), privateKey).toString('base64'), signedAt: now.toISOString() };
}

export interface TrustedKey {
  keyId: string;
  key: KeyObject;
}

/** Keys from `fleet.trustKeys`: each a public key PEM written inline or the path of a PEM file. */
export async function loadTrustKeys(entries: readonly string[]): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const entry of entries) {
    const inline = entry.includes('-----BEGIN');
    let pem = entry;
    if (!inline) {
      try {
        pem = await readFile(entry, 'utf8');
      } catch (err) {
        throw new SigningError(`fleet.trustKeys: cannot read ${entry}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    const key = publicKeyFromPem(pem, inline ? 'a key in fleet.trustKeys' : `fleet.trustKeys ${entry}`);
    keys.push({ keyId: keyIdOf(key), key });
  }
  return keys;
}

/** Why a version's files are not what a trusted key signed, or undefined when they are (pure). */
export function signatureProblem(files: ReadonlyMap<string, Uint8Array>, trustKeys: readonly TrustedKey[]): string | undefined {
  const raw = files.get(SIGNATURE_FILE);
  if (!raw) return 'it is not signed (no signature.json)';
  let parsed: SignatureFile;
  try {
    const result = signatureFileSchema.safeParse(JSON.parse(Buffer.from(raw).toString('utf8')));
    if (!result.success) return 'its signature.json is malformed';
    parsed = result.data;
  } catch {
    return 'its signature.json is not valid JSON';
  }
  const { statement } = parsed;
  const trusted = trustKeys.find((k) => k.keyId === statement.keyId);
  if (!trusted) return `it is signed by key ${statement.keyId}, which is not in fleet.trustKeys (trusted: ${trustKeys.map((k) => k.keyId).join(', ') || 'none'})`;
  if (!verify(null, statementBytes(statement), trusted.key, Buffer.from(parsed.signature, 'base64'))) return `its signature does not match key ${statement.keyId}`;
  let actual: SignedStatement;
  try {
    actual = statementFor(files, statement.keyId);
  } catch (err) {
    return (err as Error).message;
  }
  if (canonicalJson({ ...actual }) !== canonicalJson({ ...statement })) return `its files are not the ones signed (${differences(statement, actual).join(', ')})`;
  return undefined;
}

/** Names what differs between a signed statement and the files at hand (pure). */
function differences(signed: SignedStatement, actual: SignedStatement): string[] {
  const out: string[] = [];
  for (const key of ['product', 'version', 'createdAt'] as const) if (signed[key] !== actual[key]) out.push(`${key} ${actual[key]} != signed ${signed[key]}`);
  if (signed.manifestSha256 !== actual.manifestSha256) out.push('manifest.json changed');
  for (const name of new Set([...Object.keys(signed.files), ...Object.keys(actual.files)])) {
    if (!(name in actual.files)) out.push(`${name} missing`);
    else if (!(name in signed.files)) out.push(`${name} not signed`);
    else if (signed.files[name] !== actual.files[name]) out.push(`${name} changed`);
  }
  return out;
}
