/**
 * Three devices of one plant on loopback, each its own data folder, one
 * mosquitto between them: device A enrolls a product, signs and announces
 * it with the CLI and serves the bundle from its web app (behind a token);
 * devices B and C (policy auto) fetch, verify, install and activate it,
 * device D (policy manual) keeps it until a technician activates it. A
 * bundle changed by one byte and a version signed by a foreign key,
 * announced by an impostor, are refused by both and leave nothing behind.
 */
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deviceConfigSchema } from '../../config/device.ts';
import { fleetConfigSchema } from '../../config/fleet.ts';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { loadProductArtifact, readActiveVersion, writeProductArtifact } from '../../product/artifact.ts';
import { readVersionBundle, signStoredVersion } from '../../product/bundle.ts';
import { generateSigningKeyPair, sha256Of } from '../../product/signing.ts';
import { activateProductVersion } from '../../product/versions.ts';
import { startFleetSync, type FleetSync } from '../../runtime/fleet/fleet-sync.ts';
import { announceVersion } from '../../runtime/fleet/publish-version.ts';
import type { DeviceHealth } from '../../runtime/health.ts';
import { startHealthServer } from '../../runtime/health-server.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';
import { createWebApp } from '../../runtime/web/web-app.ts';
import { linesight } from '../helpers/cli.ts';
import { tinyManifestDraft, TINY_BANK } from '../helpers/manifest-draft.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { until } from '../helpers/until.ts';

const TOKEN = 'token-of-the-plant-devices';
const root = t.testdir();
const dirs = { a: join(root, 'a'), b: join(root, 'b'), c: join(root, 'c'), d: join(root, 'd'), foreign: join(root, 'foreign'), keys: join(root, 'keys') };
const broker = await startMosquitto();
t.teardown(() => broker.dispose());

const health = (): DeviceHealth => ({
  status: 'ok',
  problems: [],
  device: 'cam-a',
  version: 'test',
  uptimeS: 1,
  mqtt: { state: 'online', pendingRejects: 0, sentRejects: 0, refusedRejects: 0, quarantinedRejects: 0, reconnects: 0 },
  products: {},
  cameras: [],
});

/** Device A's web app (bundle route included) on 127.0.0.1, port 0, behind a token. */
async function serveDeviceA(): Promise<string> {
  const config = deviceConfigSchema.parse({ dataDir: dirs.a, mqtt: { url: broker.url, deviceId: 'cam-a' }, http: { port: 0, auth: { token: TOKEN } } });
  const web = createWebApp({ config, health, cameras: [] }, { host: '127.0.0.1' });
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle });
  t.teardown(async () => {
    await server.close();
    await web.close();
  });
  return server.url;
}

/** A plain HTTP server handing out fixed bytes: "any URL" an announcement may name. */
async function serveBytes(bytes: Buffer): Promise<string> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`;
}

function startDevice(deviceId: string, dataDir: string, trustKey: string, policy: 'auto' | 'manual' = 'auto'): Promise<FleetSync> {
  return startFleetSync({
    config: { mqtt: mqttConfigSchema.parse({ url: broker.url, deviceId }), cameras: [{ product: 'bracket' }], dataDir },
    fleet: fleetConfigSchema.parse({ enabled: true, policy, trustKeys: [trustKey], fetchToken: TOKEN, fetchTimeoutMs: 5000, retryMs: 300 }),
    activate: (product, version) => activateProductVersion(dataDir, product, version),
  });
}

const outcome = (sync: FleetSync, version: string) => sync.outcomes().find((o) => o.product === 'bracket' && o.version === version);
const bracketEntries = async (dataDir: string) => (await readdir(join(dataDir, 'products', 'bracket')).catch(() => [] as string[])).sort();

const trustKey = join(dirs.keys, 'fleet-signing.pub');
const configA = join(root, 'a.json');
let keyId = '';
let webA = '';
let deviceB: FleetSync;
let deviceC: FleetSync;
let deviceD: FleetSync;
t.teardown(async () => {
  await deviceB?.close();
  await deviceC?.close();
  await deviceD?.close();
});

// Inside a test: the root test would end itself while the CLI runs, taking the folders with it.
t.test('device A: a plant key, an enrolled version and a web server; devices B and C listen', async (t) => {
  const keys = await linesight(['keys', 'generate', '--out', dirs.keys]);
  t.equal(keys.code, 0, keys.stderr);
  keyId = /key ([0-9a-f]{16})/.exec(keys.stdout)?.[1] ?? '';
  t.ok(keyId, 'keys generate prints the key id');
  t.equal((await stat(join(dirs.keys, 'fleet-signing.key'))).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  const shown = await linesight(['keys', 'show', join(dirs.keys, 'fleet-signing.key')]);
  t.match(shown.stdout, new RegExp(`key ${keyId}\\n-----BEGIN PUBLIC KEY-----`), 'keys show prints the public half of the private key');
  const again = await linesight(['keys', 'generate', '--out', dirs.keys]);
  t.match(again, { code: 1, stderr: /already holds a signing key/ }, 'an existing key is never overwritten');
  await writeProductArtifact(dirs.a, tinyManifestDraft('bracket'), TINY_BANK);
  webA = await serveDeviceA();
  await writeFile(configA, JSON.stringify({ dataDir: dirs.a, mqtt: { url: broker.url, deviceId: 'cam-a' } }));
  deviceB = await startDevice('cam-b', dirs.b, trustKey);
  deviceC = await startDevice('cam-c', dirs.c, trustKey);
  deviceD = await startDevice('cam-d', dirs.d, trustKey, 'manual');
});

t.test('a version signed and announced on A is installed and activated on B and C', async (t) => {
  const published = await linesight(['publish', '--product', 'bracket', '--version', 'v1', '--key', join(dirs.keys, 'fleet-signing.key'), '--config', configA, '--url', webA]);
  t.equal(published.code, 0, published.stderr);
  t.match(published.stdout, new RegExp(`bracket v1 signed with key ${keyId}`));
  t.match(published.stdout, /announced on linesight\/cam-a\/versions\/bracket/);
  for (const [name, sync, dataDir] of [['B', deviceB, dirs.b], ['C', deviceC, dirs.c]] as const) {
    const done = await until(() => outcome(sync, 'v1'), 15_000, `device ${name} to handle bracket v1`);
    t.match(done, { from: 'cam-a', state: 'activated' }, `device ${name}: ${done.detail}`);
    t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
    const artifact = await loadProductArtifact(dataDir, 'bracket');
    t.same([...artifact.bank], [...TINY_BANK], `device ${name} scores with A's memory bank`);
    t.same(await readFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json')), await readFile(join(dirs.a, 'products', 'bracket', 'v1', 'manifest.json')));
  }
  const manual = await until(() => outcome(deviceD, 'v1'), 15_000, 'device D (manual) to handle bracket v1');
  t.match(manual, { state: 'installed', detail: 'activate with: linesight activate --product bracket --version v1' });
  t.same(await bracketEntries(dirs.d), ['v1'], 'device D keeps v1 without making it active');
  const activated = await linesight(['activate', '--product', 'bracket', '--version', 'v1', '--data-dir', dirs.d]);
  t.equal(activated.code, 0, activated.stderr);
  t.equal(await readActiveVersion(dirs.d, 'bracket'), 'v1');
});

t.test('a bundle changed by one byte is refused by both, nothing kept', async (t) => {
  await writeProductArtifact(dirs.a, tinyManifestDraft('bracket', { thresholds: { image: 2, pixel: 1 } }), TINY_BANK, { activate: false });
  await signStoredVersion(dirs.a, 'bracket', 'v2', await readFile(join(dirs.keys, 'fleet-signing.key'), 'utf8'), 'plant key');
  const bundle = await readVersionBundle(dirs.a, 'bracket', 'v2');
  const bank = await readFile(join(dirs.a, 'products', 'bracket', 'v2', 'memory-bank.safetensors'));
  const tampered = Buffer.from(bundle);
  tampered[bundle.indexOf(bank) + bank.length - 2]! ^= 0x40;
  const url = await serveBytes(tampered);
  // The impostor announces the tampered bytes' own sha256, so only the signature can catch it.
  await announceVersion(mqttConfigSchema.parse({ url: broker.url, deviceId: 'impostor' }), { product: 'bracket', version: 'v2', keyId: keyId!, url, sha256: sha256Of(tampered), publishedAt: new Date().toISOString() });
  for (const [name, sync, dataDir] of [['B', deviceB, dirs.b], ['C', deviceC, dirs.c]] as const) {
    const done = await until(() => outcome(sync, 'v2'), 15_000, `device ${name} to handle the tampered v2`);
    t.match(done, { from: 'impostor', state: 'refused', detail: /its files are not the ones signed \(memory-bank.safetensors changed\)/ }, `device ${name}`);
    t.same(await bracketEntries(dataDir), ['active', 'v1'], `device ${name} kept nothing of it`);
    t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  }
});

t.test('a version signed by a foreign key is refused by both', async (t) => {
  const foreign = generateSigningKeyPair();
  await writeProductArtifact(dirs.foreign, tinyManifestDraft('bracket'), TINY_BANK);
  await writeProductArtifact(dirs.foreign, tinyManifestDraft('bracket'), TINY_BANK);
  await writeProductArtifact(dirs.foreign, tinyManifestDraft('bracket'), TINY_BANK);
  await signStoredVersion(dirs.foreign, 'bracket', 'v3', foreign.privatePem, 'foreign key');
  const bundle = await readVersionBundle(dirs.foreign, 'bracket', 'v3');
  const url = await serveBytes(bundle);
  await announceVersion(mqttConfigSchema.parse({ url: broker.url, deviceId: 'impostor2' }), { product: 'bracket', version: 'v3', keyId: foreign.keyId, url, sha256: sha256Of(bundle), publishedAt: new Date().toISOString() });
  for (const [name, sync, dataDir] of [['B', deviceB, dirs.b], ['C', deviceC, dirs.c]] as const) {
    const done = await until(() => outcome(sync, 'v3'), 15_000, `device ${name} to handle the foreign v3`);
    t.match(done, { state: 'refused', detail: new RegExp(`signed by key ${foreign.keyId}, which is not in fleet.trustKeys`) }, `device ${name}`);
    t.same(await bracketEntries(dataDir), ['active', 'v1']);
    t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  }
});

t.test('the next version published by A replaces the refused one and becomes active', async (t) => {
  const published = await linesight(['publish', '--product', 'bracket', '--version', 'v2', '--key', join(dirs.keys, 'fleet-signing.key'), '--config', configA, '--url', webA]);
  t.equal(published.code, 0, published.stderr);
  for (const [name, sync, dataDir] of [['B', deviceB, dirs.b], ['C', deviceC, dirs.c]] as const) {
    const done = await until(() => (outcome(sync, 'v2')?.from === 'cam-a' ? outcome(sync, 'v2') : undefined), 15_000, `device ${name} to take v2 from A`);
    t.match(done, { state: 'activated', detail: 'was v1' });
    t.equal(await readActiveVersion(dataDir, 'bracket'), 'v2');
  }
});

t.test('a fetch that fails is tried again until the version is installed', async (t) => {
  await writeProductArtifact(dirs.a, tinyManifestDraft('bracket', { thresholds: { image: 3, pixel: 1 } }), TINY_BANK, { activate: false });
  await signStoredVersion(dirs.a, 'bracket', 'v3', await readFile(join(dirs.keys, 'fleet-signing.key'), 'utf8'), 'plant key');
  const bundle = await readVersionBundle(dirs.a, 'bracket', 'v3');
  const answers: number[] = [];
  const server = createServer((_req, res) => {
    const status = answers.length < 2 ? 503 : 200;
    answers.push(status);
    res.writeHead(status).end(status === 200 ? bundle : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`;
  await announceVersion(mqttConfigSchema.parse({ url: broker.url, deviceId: 'mirror' }), { product: 'bracket', version: 'v3', keyId, url, sha256: sha256Of(bundle), publishedAt: new Date().toISOString() });
  for (const [name, sync, dataDir] of [['B', deviceB, dirs.b], ['C', deviceC, dirs.c]] as const) {
    const done = await until(() => (outcome(sync, 'v3')?.state === 'activated' ? outcome(sync, 'v3') : undefined), 15_000, `device ${name} to take v3 after a failed fetch`);
    t.match(done, { from: 'mirror', detail: 'was v2' });
    t.equal(await readActiveVersion(dataDir, 'bracket'), 'v3');
  }
  await until(() => outcome(deviceD, 'v3')?.state === 'installed', 15_000, 'device D (manual) to keep v3');
  t.same(answers, [503, 503, 200, 200, 200], 'two fetches were answered 503 and tried again; every device got the bundle once');
});

t.test('the bundle route needs the token like the rest of the API', async (t) => {
  const res = await fetch(`${webA}/api/products/bracket/versions/v1/bundle`);
  t.equal(res.status, 401);
  const missing = await fetch(`${webA}/api/products/bracket/versions/v9/bundle`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(missing.status, 404);
});
