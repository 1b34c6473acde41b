/**
 * The web UI's guards, in Debian's headless Chromium and over plain HTTP:
 * sign-in when http.auth is set, a damaged version refused with the reason
 * shown, an upload that is not an image refused, roll back, and file names
 * that try to leave their folder. The runtime runs in-process with a real
 * RTSP camera (test pattern) and the embedded broker.
 */
import { request } from 'node:http';
import { readFile, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../../config/enroll.ts';
import { BANK_FILE, activateVersion, readActiveVersion } from '../../product/artifact.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { generateDevset } from '../../fixtures/devset.ts';
import { enrollProduct } from '../../trainer/enroll.ts';
import { launchChromium, screenshot } from '../helpers/browser.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';

const TOKEN = 'token-of-line-seven-ui';
const dir = t.testdir();
const dataDir = join(dir, 'device');
await generateDevset({ out: join(dir, 'devset'), train: 10, testGood: 1, testPerDefect: 1, size: 64, seed: 4, categories: ['washer'] });
const images = join(dir, 'devset', 'washer', 'train', 'good');
const enroll = () =>
  enrollProduct({ productId: 'bracket', imagesDir: images, dataDir, settings: enrollSettingsSchema.parse({ inputSize: 64 }), inference: inferenceSettingsSchema.parse({}), activate: false });
// bracket: v1 good and active, v2 damaged (a bad copy), v3 good.
const v1 = await enroll();
const v2 = await enroll();
await truncate(join(v2.dir, BANK_FILE), (await stat(join(v2.dir, BANK_FILE))).size - 100);
await enroll();
await activateVersion(dataDir, 'bracket', v1.version);

const camera = await startRtspCamera({ size: '64x64' });
t.teardown(() => camera.stop());
const runtime = await DeviceRuntime.start(
  deviceConfigSchema.parse({
    dataDir,
    mqtt: { deviceId: 'line8', embeddedBroker: { port: 0 }, outboxDir: join(dir, 'outbox') },
    http: { port: 0, auth: { token: TOKEN } },
    cameras: [{ id: 'cam1', url: camera.url, product: 'washer' }],
  }),
  { logger: pino({ level: 'silent' }) },
);
t.teardown(() => runtime.stop());
const base = runtime.healthUrl!;
const bearer = { authorization: `Bearer ${TOKEN}` };

const browser = await launchChromium();
t.teardown(() => browser.close());

/** A request with the path sent exactly as written (fetch would normalise `..`). */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    request({ host: url.hostname, port: url.port, path, headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    })
      .on('error', reject)
      .end();
  });
}

t.test('with http.auth set, the UI and API need the token; health and metrics stay open', async (t) => {
  const api = await fetch(`${base}/api/cameras`);
  t.equal(api.status, 401);
  t.match(api.headers.get('www-authenticate'), /Bearer/);
  t.match(await api.json(), { error: /sign in first/ });
  t.equal((await fetch(`${base}/api/cameras`, { headers: { authorization: 'Bearer wrong-token-for-line' } })).status, 401);
  t.equal((await fetch(`${base}/api/products`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401, 'actions too');
  const withToken = await fetch(`${base}/api/cameras`, { headers: bearer });
  t.equal(withToken.status, 200);
  t.match(await withToken.json(), { cameras: [{ id: 'cam1', product: 'washer', enrolled: false }] });
  const page = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(page.status, 303);
  t.equal(page.headers.get('location'), '/login');
  t.equal((await fetch(`${base}/health`)).status, 503, 'health answers without a token (degraded: washer is not enrolled)');
  t.equal((await fetch(`${base}/metrics`)).status, 200);

  const context = await browser.newContext();
  t.teardown(() => context.close());
  const tab = await context.newPage();
  await tab.goto(base);
  t.match(tab.url(), /\/login$/, 'the browser is sent to the sign-in page');
  await tab.getByTestId('login-token').fill('not-the-token-at-all');
  await tab.getByTestId('login-submit').click();
  await tab.getByTestId('login-error').waitFor();
  t.match(await tab.getByTestId('login-error').textContent(), /wrong/);
  await tab.getByTestId('login-token').fill(TOKEN);
  await tab.getByTestId('login-submit').click();
  await tab.getByTestId('camera-cam1').waitFor();
  t.match(await tab.getByTestId('problems-cam1').textContent(), /product "washer" is not enrolled yet/);
  await screenshot(tab, 'ui-login-live.png');
});

t.test('Products: a damaged version is refused with the reason; activate and roll back work', async (t) => {
  const context = await browser.newContext({ extraHTTPHeaders: bearer });
  t.teardown(() => context.close());
  const tab = await context.newPage();
  await tab.goto(`${base}/#products`);
  await tab.getByTestId('product-bracket').getByRole('link').click();
  await tab.getByTestId('version-v2').waitFor();
  t.match(await tab.getByTestId('version-v2').textContent(), /bracket|memory-bank|checksum|size|bytes/i, 'the damaged version says what is wrong');
  await tab.getByTestId('activate-v2').click();
  const error = tab.getByTestId('products-error');
  await error.waitFor();
  t.match(await error.textContent(), /activating v2 failed: .*The active version was not changed/);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1', 'v1 stays active');
  await screenshot(tab, 'ui-products-damaged.png');

  await tab.getByTestId('activate-v3').click();
  await tab.getByTestId('products-message').filter({ hasText: 'v3 is now active' }).waitFor();
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v3');
  await tab.getByTestId('version-v3').getByTestId('active-badge').waitFor();
  t.match(await tab.getByTestId('rollback-hint').textContent(), /activates v1/, 'roll back skips the damaged v2');
  await tab.getByTestId('rollback').click();
  await tab.getByTestId('products-message').filter({ hasText: 'v1 is now active' }).waitFor();
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  await tab.getByTestId('version-v1').getByTestId('active-badge').waitFor();
  t.ok(await tab.getByTestId('rollback').isDisabled(), 'nothing older than v1 to roll back to');
});

t.test('Enroll: an upload that is not an image is refused and nothing is saved', async (t) => {
  const context = await browser.newContext({ extraHTTPHeaders: bearer });
  t.teardown(() => context.close());
  const tab = await context.newPage();
  await tab.goto(`${base}/#enroll`);
  await tab.getByTestId('enroll-product').fill('bracket');
  await tab.getByTestId('upload-files').setInputFiles([{ name: 'part1.png', mimeType: 'image/png', buffer: Buffer.from('these are not the pixels of a part') }]);
  await tab.getByTestId('upload-start').click();
  const error = tab.getByTestId('enroll-error');
  await error.waitFor();
  t.match(await error.textContent(), /"part1\.png" is not an image linesight can read .*nothing was saved/);
  await screenshot(tab, 'ui-enroll-upload-error.png');

  await tab.getByTestId('upload-files').setInputFiles([{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('shift notes') }]);
  await tab.getByTestId('upload-start').click();
  await error.filter({ hasText: '"notes.txt" is not an image file' }).waitFor();

  const goldenRoot = join(dataDir, 'golden', 'bracket');
  for (const set of await readdir(goldenRoot)) t.same(await readdir(join(goldenRoot, set)), [], `set ${set} holds no refused file`);

  // Real images are kept; training refuses a set with too few of them.
  const two = (await readdir(images)).slice(0, 2).map((f) => join(images, f));
  await tab.getByTestId('upload-files').setInputFiles(two);
  await tab.getByTestId('upload-start').click();
  await tab.getByTestId('golden-set').filter({ hasText: '2 image(s)' }).waitFor();
  await tab.getByTestId('train-start').click();
  await error.filter({ hasText: 'enrollment needs at least 10 golden samples' }).waitFor();
  t.pass('too few golden samples are refused before training starts');
});

t.test('file names that leave their folder are refused', async (t) => {
  const get = (path: string) => fetch(`${base}${path}`, { headers: bearer });
  const sheet = await get('/api/products/bracket/versions/v1/files/synthetic-negatives.png');
  t.equal(sheet.status, 200, 'a listed contact sheet is served');
  t.equal(sheet.headers.get('content-type'), 'image/png');
  t.equal((await get('/api/products/bracket/versions/v1/files/manifest.json')).status, 404, 'only attachments, not the manifest');
  t.equal((await get('/api/products/bracket/versions/v1/files/..%2Fv3%2Fmanifest.json')).status, 404);
  t.equal((await get('/api/products/bracket/versions/v1/files/%2E%2E%2F%2E%2E%2Factive')).status, 404);
  t.equal((await get('/api/products/bracket/versions/..%2Fv1/files/synthetic-negatives.png')).status, 400);
  const badProduct = await get('/api/products/..%2F..%2Fetc/versions');
  t.equal(badProduct.status, 400);
  t.match(await badProduct.json(), { error: /product id/ });
  t.equal(await rawGet('/ui/../web-app.ts'), 404, 'a literal ../ out of the UI folder');
  t.equal(await rawGet('/ui/..%2Fweb-app.ts'), 404);
  t.equal(await rawGet('/api/products/bracket/versions/v1/files/../../v3/manifest.json', bearer), 404);
  const put = await fetch(`${base}/api/products/bracket/golden/..%2F..%2Fproducts/x.png`, { method: 'PUT', headers: bearer, body: Buffer.from('x') });
  t.equal(put.status, 400);
  t.match(await put.json(), { error: /not a golden-sample set name/ });
});

t.test('capture and training run one at a time and can be cancelled', async (t) => {
  const post = (path: string, body: unknown = {}) => fetch(`${base}${path}`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const state = async (path: string) => ((await (await fetch(`${base}${path}`, { headers: bearer })).json()) as Record<string, { state: string; finishedAt: number | null }>);

  const started = await post('/api/capture', { camera: 'cam1', product: 'bracket', count: 500 });
  t.equal(started.status, 202);
  const again = await post('/api/capture', { camera: 'cam1', product: 'bracket', count: 5 });
  t.equal(again.status, 409);
  t.match(await again.json(), { error: /a capture from camera cam1 is running/ });
  t.match(await (await post('/api/capture', { camera: 'cam9', count: 5 })).json(), { error: /there is no camera "cam9"/ });
  t.equal((await post('/api/capture/cancel')).status, 200);
  for (let i = 0; i < 50 && (await state('/api/capture')).capture!.state === 'running'; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal((await state('/api/capture')).capture!.state, 'cancelled');

  // A set of ten real images, then a training cancelled at once: no version is written.
  const { set } = (await (await post('/api/products/bracket/golden')).json()) as { set: string };
  for (const f of await readdir(images)) {
    const body = await readFile(join(images, f));
    t.equal((await fetch(`${base}/api/products/bracket/golden/${set}/${f}`, { method: 'PUT', headers: bearer, body })).status, 201);
  }
  const versionsBefore = await readdir(join(dataDir, 'products', 'bracket'));
  t.equal((await post('/api/enrollment', { product: 'bracket', set })).status, 202);
  t.match(await (await post('/api/enrollment', { product: 'bracket', set })).json(), { error: /an enrollment of "bracket" is running/ });
  const cancelled = await post('/api/enrollment/cancel');
  t.match(await cancelled.json(), { enrollment: { state: 'cancelled' } });
  for (let i = 0; i < 100 && (await state('/api/enrollment')).enrollment!.finishedAt === null; i++) await new Promise((r) => setTimeout(r, 100));
  t.match((await state('/api/enrollment')).enrollment, { state: 'cancelled', error: 'cancelled by the user' });
  t.same(await readdir(join(dataDir, 'products', 'bracket')), versionsBefore, 'no version was written');
  t.match(await (await post('/api/enrollment/cancel')).json(), { error: 'no enrollment is running' });
});
