import t from 'tap';
import { createHash, createPublicKey } from 'node:crypto';
import {
  SIGNATURE_FILE,
  canonicalJson,
  generateSigningKeyPair,
  keyIdOf,
  loadTrustKeys,
  privateKeyFromPem,
  publicKeyFromPem,
  signatureProblem,
  signVersionFiles,
  statementFor,
  type TrustedKey,
} from '../../product/signing.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const manifest = Buffer.from(JSON.stringify({ productId: 'bracket', version: 'v2', createdAt: '2026-01-02T03:04:05.000Z', files: {} }));
const bank = Buffer.from([1, 2, 3, 4]);
const versionFiles = () => new Map<string, Uint8Array>([['manifest.json', manifest], ['memory-bank.safetensors', bank]]);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const plant = generateSigningKeyPair();
const foreign = generateSigningKeyPair();
const trusted = (pair: typeof plant): TrustedKey => ({ keyId: pair.keyId, key: publicKeyFromPem(pair.publicPem, 'test') });

function signed(pair = plant): Map<string, Uint8Array> {
  const files = versionFiles();
  files.set(SIGNATURE_FILE, Buffer.from(JSON.stringify(signVersionFiles(files, privateKeyFromPem(pair.privatePem, 'test')))));
  return files;
}

t.test('canonical JSON sorts keys at every level and has no whitespace', async (t) => {
  t.equal(canonicalJson({ b: 1, a: { d: [1, 'x', null], c: true } }), '{"a":{"c":true,"d":[1,"x",null]},"b":1}');
  t.equal(canonicalJson({ z: 'é', y: '"' }), '{"y":"\\"","z":"é"}');
});

t.test('the statement names the product, version, manifest hash and the other files', async (t) => {
  const files = versionFiles();
  files.set(SIGNATURE_FILE, Buffer.from('{}'));
  t.same(statementFor(files, '0123456789abcdef'), {
    product: 'bracket',
    version: 'v2',
    manifestSha256: sha(manifest),
    files: { 'memory-bank.safetensors': sha(bank) },
    createdAt: '2026-01-02T03:04:05.000Z',
    keyId: '0123456789abcdef',
  });
});

t.test('the key id is the first 16 hex digits of sha256 of the raw public key', async (t) => {
  const der = createPublicKey(plant.publicPem).export({ format: 'der', type: 'spki' });
  // An ed25519 SPKI is a 12-byte header followed by the 32-byte raw key.
  t.equal(der.length, 44);
  t.equal(plant.keyId, sha(der.subarray(12)).slice(0, 16));
  t.equal(keyIdOf(privateKeyFromPem(plant.privatePem, 'p')), plant.keyId);
  t.not(foreign.keyId, plant.keyId);
});

t.test('a version signed by a trusted key is accepted', async (t) => {
  t.equal(signatureProblem(signed(), [trusted(foreign), trusted(plant)]), undefined);
});

t.test('one changed byte of a file is refused, naming the file', async (t) => {
  const files = signed();
  const tampered = Buffer.from(bank);
  tampered[0]! ^= 1;
  files.set('memory-bank.safetensors', tampered);
  t.match(signatureProblem(files, [trusted(plant)]), /memory-bank.safetensors changed/);
  const edited = signed();
  edited.set('manifest.json', Buffer.from(manifest.toString().replace('v2', 'v9')));
  t.match(signatureProblem(edited, [trusted(plant)]), /manifest.json changed/);
});

t.test('an added or removed file is refused', async (t) => {
  const added = signed();
  added.set('extra.png', Buffer.from([9]));
  t.match(signatureProblem(added, [trusted(plant)]), /extra.png not signed/);
  const removed = signed();
  removed.delete('memory-bank.safetensors');
  t.match(signatureProblem(removed, [trusted(plant)]), /memory-bank.safetensors missing/);
});

t.test('a version signed by a foreign key is refused', async (t) => {
  t.match(signatureProblem(signed(foreign), [trusted(plant)]), new RegExp(`signed by key ${foreign.keyId}, which is not in fleet.trustKeys`));
});

t.test('a foreign key claiming the trusted key id is refused', async (t) => {
  const files = signed(foreign);
  const sig = JSON.parse(Buffer.from(files.get(SIGNATURE_FILE)!).toString()) as { statement: { keyId: string } };
  sig.statement.keyId = plant.keyId;
  files.set(SIGNATURE_FILE, Buffer.from(JSON.stringify(sig)));
  t.match(signatureProblem(files, [trusted(plant)]), /signature does not match key/);
});

t.test('an unsigned version is refused when trust keys are configured', async (t) => {
  t.match(signatureProblem(versionFiles(), [trusted(plant)]), /not signed/);
  const garbage = versionFiles();
  garbage.set(SIGNATURE_FILE, Buffer.from('not json'));
  t.match(signatureProblem(garbage, [trusted(plant)]), /not valid JSON/);
});

t.test('trust keys load from inline PEM and from files; a bad one names its source', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'plant.pub');
  await writeFile(path, plant.publicPem);
  const keys = await loadTrustKeys([path, foreign.publicPem]);
  t.same(keys.map((k) => k.keyId), [plant.keyId, foreign.keyId]);
  await t.rejects(loadTrustKeys([join(dir, 'missing.pub')]), /cannot read .*missing.pub: ENOENT/);
  await writeFile(join(dir, 'rsa.txt'), 'hello');
  await t.rejects(loadTrustKeys([join(dir, 'rsa.txt')]), /rsa.txt is not an ed25519 key/);
});
