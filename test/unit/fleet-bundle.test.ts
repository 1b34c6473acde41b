import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readActiveVersion, writeProductArtifact } from '../../product/artifact.ts';
import { BundleError, decodeBundle, encodeBundle, installVersionBundle, readVersionBundle, signStoredVersion, trustProblem } from '../../product/bundle.ts';
import { generateSigningKeyPair, publicKeyFromPem, SIGNATURE_FILE } from '../../product/signing.ts';
import { listProductVersions } from '../../product/versions.ts';
import { fleetConfigSchema } from '../../config/fleet.ts';
import { activatesForward } from '../../runtime/fleet/fleet-sync.ts';
import { parseAnnouncement, parseVersionTopic } from '../../runtime/fleet/announcement.ts';
import { versionTopic } from '../../runtime/mqtt/topics.ts';
import { tinyManifestDraft, TINY_BANK } from '../helpers/manifest-draft.ts';

const plant = generateSigningKeyPair();
const trustPlant = { trustKeys: [{ keyId: plant.keyId, key: publicKeyFromPem(plant.publicPem, 'plant') }], allowUnsigned: false };

/** A device with bracket v1 (with a contact sheet), signed by the plant key; returns its bundle. */
async function signedBundle(dataDir: string): Promise<Buffer> {
  await writeProductArtifact(dataDir, tinyManifestDraft('bracket'), TINY_BANK, { attachments: { 'sheet.png': Uint8Array.from([7, 7]) } });
  await signStoredVersion(dataDir, 'bracket', 'v1', plant.privatePem, 'plant key');
  return readVersionBundle(dataDir, 'bracket', 'v1');
}

const productEntries = (dataDir: string) => readdir(join(dataDir, 'products', 'bracket')).catch(() => [] as string[]);

t.test('a bundle round-trips its files; malformed bundles are refused', async (t) => {
  const files = new Map<string, Uint8Array>([['b.bin', Uint8Array.from([1, 2, 3])], ['a.json', Buffer.from('{}')]]);
  const bundle = encodeBundle(files);
  t.equal(bundle.subarray(0, 10).toString(), 'LSBUNDLE1\n');
  t.same([...decodeBundle(bundle)].map(([n, b]) => [n, [...b]]), [['a.json', [123, 125]], ['b.bin', [1, 2, 3]]]);
  t.throws(() => decodeBundle(bundle.subarray(0, bundle.length - 1)), /cut off inside b.bin/);
  t.throws(() => decodeBundle(Buffer.concat([bundle, Buffer.from([0])])), /1 bytes after its last file/);
  t.throws(() => decodeBundle(Buffer.from('LSBUNDLE1\n{"files":[{"name":"../x","size":0}]}\n')), /bad or repeated file name/);
  t.throws(() => encodeBundle(new Map([['.hidden', Uint8Array.from([])]])), BundleError);
  t.throws(() => decodeBundle(Buffer.from('PK\u0003\u0004')), /bad header/);
});

t.test('signing in place keeps the artifact loadable and the signature out of the attachments', async (t) => {
  const dataDir = t.testdir();
  await signedBundle(dataDir);
  const [v1] = await listProductVersions(dataDir, 'bracket');
  t.equal(v1!.error, undefined);
  t.same(v1!.attachments, ['sheet.png']);
  const signature = JSON.parse(await readFile(join(dataDir, 'products', 'bracket', 'v1', SIGNATURE_FILE), 'utf8')) as { statement: { keyId: string; files: object } };
  t.equal(signature.statement.keyId, plant.keyId);
  t.same(Object.keys(signature.statement.files), ['memory-bank.safetensors', 'sheet.png']);
});

t.test('a signed bundle installs on another device, not activated; again is a no-op', async (t) => {
  const bundle = await signedBundle(t.testdir());
  const other = t.testdir();
  const installed = await installVersionBundle(other, bundle, trustPlant, 'bracket');
  t.match(installed, { product: 'bracket', version: 'v1', alreadyPresent: false });
  t.equal(await readActiveVersion(other, 'bracket'), undefined);
  t.same(await productEntries(other), ['v1']);
  t.equal((await listProductVersions(other, 'bracket'))[0]!.error, undefined);
  t.match(await installVersionBundle(other, bundle, trustPlant), { alreadyPresent: true });
});

t.test('a tampered bundle is refused and nothing of it is kept', async (t) => {
  const source = t.testdir();
  const bundle = await signedBundle(source);
  const bank = await readFile(join(source, 'products', 'bracket', 'v1', 'memory-bank.safetensors'));
  const tampered = Buffer.from(bundle);
  tampered[bundle.indexOf(bank) + bank.length - 1]! ^= 0x01;
  const other = t.testdir();
  await t.rejects(installVersionBundle(other, tampered, trustPlant), /bracket v1 refused: its files are not the ones signed \(memory-bank.safetensors changed\)/);
  t.same(await productEntries(other), []);
});

t.test('without the signature check, the artifact checksums still refuse a changed memory bank', async (t) => {
  const source = t.testdir();
  await writeProductArtifact(source, tinyManifestDraft('bracket'), TINY_BANK);
  const file = join(source, 'products', 'bracket', 'v1', 'memory-bank.safetensors');
  const bytes = await readFile(file);
  bytes[bytes.length - 1]! ^= 0x01;
  const files = new Map<string, Uint8Array>([['manifest.json', await readFile(join(source, 'products', 'bracket', 'v1', 'manifest.json'))], ['memory-bank.safetensors', bytes]]);
  const other = t.testdir();
  await t.rejects(installVersionBundle(other, encodeBundle(files), { trustKeys: [], allowUnsigned: true }), /checksum mismatch/);
  t.same((await productEntries(other)).filter((e) => !e.startsWith('.')), []);
  t.same(await productEntries(other), [], 'the temporary folder is removed too');
});

t.test('foreign-signed and unsigned bundles are refused with trust keys', async (t) => {
  const foreign = generateSigningKeyPair();
  const source = t.testdir();
  await writeProductArtifact(source, tinyManifestDraft('bracket'), TINY_BANK);
  const unsigned = await readVersionBundle(source, 'bracket', 'v1');
  await signStoredVersion(source, 'bracket', 'v1', foreign.privatePem, 'foreign key');
  const foreignSigned = await readVersionBundle(source, 'bracket', 'v1');
  const other = t.testdir();
  await t.rejects(installVersionBundle(other, foreignSigned, trustPlant), new RegExp(`signed by key ${foreign.keyId}, which is not in fleet.trustKeys`));
  await t.rejects(installVersionBundle(other, unsigned, trustPlant), /not signed/);
  t.same(await productEntries(other), []);
});

t.test('without trust keys only allowUnsigned admits a version', async (t) => {
  const files = new Map<string, Uint8Array>([['manifest.json', Buffer.from('{}')]]);
  t.match(trustProblem(files, { trustKeys: [], allowUnsigned: false }), /no trust key is configured/);
  t.equal(trustProblem(files, { trustKeys: [], allowUnsigned: true }), undefined);
});

t.test('a different version under the same name is a conflict, never overwritten', async (t) => {
  const bundle = await signedBundle(t.testdir());
  const other = t.testdir();
  await writeProductArtifact(other, tinyManifestDraft('bracket', { thresholds: { image: 9, pixel: 9 } }), TINY_BANK);
  const before = await readFile(join(other, 'products', 'bracket', 'v1', 'manifest.json'));
  await t.rejects(installVersionBundle(other, bundle, trustPlant), /already has a different v1/);
  t.same(await readFile(join(other, 'products', 'bracket', 'v1', 'manifest.json')), before);
});

t.test('a bundle for another product than announced is refused', async (t) => {
  const bundle = await signedBundle(t.testdir());
  await t.rejects(installVersionBundle(t.testdir(), bundle, trustPlant, 'washer'), /holds product "bracket", not "washer"/);
});

t.test('auto activation only moves forward', async (t) => {
  t.equal(activatesForward(undefined, 'v1'), true);
  t.equal(activatesForward('v2', 'v3'), true);
  t.equal(activatesForward('v3', 'v3'), false);
  t.equal(activatesForward('v10', 'v9'), false);
});

t.test('announcement topics and payloads', async (t) => {
  t.equal(versionTopic('plant2/linesight', 'cam-3', 'bracket'), 'plant2/linesight/cam-3/versions/bracket');
  t.same(parseVersionTopic('plant2/linesight', 'plant2/linesight/cam-3/versions/bracket'), { device: 'cam-3', product: 'bracket' });
  t.equal(parseVersionTopic('plant2/linesight', 'plant2/linesight/cam-3/cam1/result'), undefined);
  const good = { product: 'bracket', version: 'v2', keyId: plant.keyId, url: 'http://cam-3:9464/x', sha256: 'a'.repeat(64), publishedAt: 'now' };
  t.same(parseAnnouncement('bracket', Buffer.from(JSON.stringify(good))), { announcement: good });
  t.match(parseAnnouncement('washer', Buffer.from(JSON.stringify(good))), { problem: /announces bracket on the topic of washer/ });
  t.match(parseAnnouncement('bracket', Buffer.from(JSON.stringify({ ...good, url: 'file:///etc/passwd' }))), { problem: /url/ });
  t.match(parseAnnouncement('bracket', Buffer.from('{"score":1}')), { problem: /not a version announcement/ });
});

t.test('fleet config: strict, manual by default, enabled needs trust keys or allowUnsigned', async (t) => {
  t.match(fleetConfigSchema.parse({}), { enabled: false, policy: 'manual', trustKeys: [], allowUnsigned: false });
  t.equal(fleetConfigSchema.safeParse({ enabled: true }).success, false);
  t.equal(fleetConfigSchema.safeParse({ enabled: true, trustKeys: ['/etc/linesight/plant.pub'] }).success, true);
  t.equal(fleetConfigSchema.safeParse({ polcy: 'auto' }).success, false);
});

t.test('a file written next to a version after signing makes it refused', async (t) => {
  const source = t.testdir();
  await signedBundle(source);
  await writeFile(join(source, 'products', 'bracket', 'v1', 'notes.txt'), 'added later');
  const bundle = await readVersionBundle(source, 'bracket', 'v1');
  await t.rejects(installVersionBundle(t.testdir(), bundle, trustPlant), /notes.txt not signed/);
});

t.test('signing or bundling a version that does not exist names the versions there are', async (t) => {
  const dataDir = t.testdir();
  await writeProductArtifact(dataDir, tinyManifestDraft('bracket'), TINY_BANK);
  await t.rejects(signStoredVersion(dataDir, 'bracket', 'v7', plant.privatePem, 'plant key'), /has no version v7 in .*; its versions are v1/);
  await t.rejects(readVersionBundle(dataDir, 'bracket', 'v7'), /has no version v7/);
});
