/**
 * The web app under hostile requests, served on a free loopback port as the
 * runtime serves it (health server in front, HTTP and HTTPS): forged
 * cross-site posts, a DNS-rebinding Host, guessed sign-ins, bad
 * percent-encoding, uploads aimed at symbolic links or existing files, a
 * decompression bomb, and more event streams than the device keeps open.
 */
import { okHealth } from '../helpers/device-health.ts';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { startHealthServer, type TlsFiles } from '../../runtime/health-server.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';
import { createWebApp, type WebAppOptions } from '../../runtime/web/web-app.ts';

const TOKEN = 'token-of-line-nine-web';
const dir = t.testdir();
const dataDir = join(dir, 'device');
const outside = join(dir, 'outside');
await mkdir(outside, { recursive: true });

const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });

const health = okHealth;

/** Starts the web app behind the health server on 127.0.0.1, port 0. */
async function serve(opts: { token?: string; tls?: TlsFiles; web?: WebAppOptions } = {}): Promise<string> {
  const config = deviceConfigSchema.parse({
    dataDir,
    mqtt: { deviceId: 'line9' },
    http: { port: 0, ...(opts.token ? { auth: { token: opts.token } } : {}) },
    cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product: 'washer' }],
  });
  const web = createWebApp({ config, health, cameras: [{ id: 'cam1', product: 'washer', source: new EventEmitter(), pipeline: new EventEmitter() }] }, { logger, host: '127.0.0.1', tls: opts.tls, ...opts.web });
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle, tls: opts.tls });
  t.teardown(async () => {
    await server.close();
    await web.close();
  });
  return server.url;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request with headers exactly as given (Host, Origin and Cookie included). */
function send(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  const url = new URL(base);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', headers: opts.headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: Reply) => JSON.parse(r.text) as Record<string, unknown>;
const own = (base: string) => ({ origin: base });
const asJson = { 'content-type': 'application/json' };

const open = await serve();
const smallPng = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#808080' } }).png().toBuffer();
const bomb = await sharp({ create: { width: 12000, height: 12000, channels: 3, background: '#000' } }).png().toBuffer();

t.test('a cross-site post is refused; the device\'s own pages and programs without a browser still work', async (t) => {
  // The forged capture a page on another site could send with a plain form.
  const forged = await send(open, '/api/capture', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: '{"camera":"cam1","count":500}' });
  t.equal(forged.status, 403);
  t.match(json(forged), { error: /requests from http:\/\/evil\.example may not change the device/ });
  t.equal(forged.headers['content-type'], 'application/json; charset=utf-8');
  t.same(json(await send(open, '/api/capture')), { capture: null }, 'no capture was started');

  const textPlain = await send(open, '/api/capture', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"camera":"cam1","count":500}' });
  t.equal(textPlain.status, 403, 'text/plain without an Origin');
  t.match(json(textPlain), { error: /Content-Type: application\/json/ });
  t.equal((await send(open, '/api/capture/cancel', { method: 'POST', headers: { referer: 'http://evil.example/page.html', ...asJson }, body: '{}' })).status, 403, 'a foreign Referer');
  t.equal((await send(open, '/api/capture/cancel', { method: 'POST', headers: { origin: 'null', ...asJson }, body: '{}' })).status, 403, 'an opaque origin');
  const upload = await send(open, '/api/products/washer/golden/20260101-000000/x.png', { method: 'PUT', headers: { origin: 'http://evil.example', 'content-type': 'image/png' }, body: smallPng });
  t.equal(upload.status, 403, 'uploads too');

  const created = await send(open, '/api/products/washer/golden', { method: 'POST', headers: { ...own(open), ...asJson }, body: '{}' });
  t.equal(created.status, 201, 'the UI\'s own post');
  const program = await send(open, '/api/products/washer/golden', { method: 'POST', headers: asJson, body: '{}' });
  t.equal(program.status, 201, 'a program without Origin, with a JSON body');
});

t.test('a DNS-rebinding Host is refused; loopback names are served', async (t) => {
  const port = new URL(open).port;
  for (const path of ['/api/cameras', '/', '/ui/app.js', '/login']) {
    const rebound = await send(open, path, { headers: { host: `evil.example:${port}` } });
    t.equal(rebound.status, 403, `${path} under a foreign name`);
    t.match(json(rebound), { error: /linesight is not served as "evil\.example"/ });
  }
  t.equal((await send(open, '/api/cameras', { headers: { host: `localhost:${port}` } })).status, 200);
  t.equal((await send(open, '/api/cameras', { headers: { host: `[::1]:${port}` } })).status, 200);
  const configured = await serve({ web: { host: '0.0.0.0', allowedHosts: ['cam9.plant.example'] } });
  t.equal((await send(configured, '/api/cameras', { headers: { host: `cam9.plant.example:${new URL(configured).port}` } })).status, 200, 'a name from allowedHosts');
  t.equal((await send(configured, '/api/cameras', { headers: { host: 'evil.example' } })).status, 403);
});

t.test('security headers on every response; the policy allows only the device\'s own scripts and styles', async (t) => {
  for (const path of ['/', '/login', '/ui/app.js', '/api/cameras', '/api/nothing', '/nothing']) {
    const r = await send(open, path);
    t.equal(r.headers['x-frame-options'], 'DENY', path);
    t.equal(r.headers['x-content-type-options'], 'nosniff', path);
    t.match(r.headers['content-security-policy'], /default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'.*frame-ancestors 'none'/, path);
    t.equal(r.headers['referrer-policy'], path === '/login' ? 'same-origin' : 'no-referrer', path);
  }
  const probe = await send(open, '/health');
  t.equal(probe.headers['x-content-type-options'], 'nosniff');
  t.equal(probe.headers['x-frame-options'], 'DENY');
  const page = await readFile(join(import.meta.dirname, '../../runtime/web/ui/index.html'), 'utf8');
  t.notMatch(page, /<script>|<style>| style=| on[a-z]+=/, 'no inline script, style or handler for the policy to block');
});

t.test('with sign-in: a cookie from another site is refused, a bearer token is not', async (t) => {
  const locked = await serve({ token: TOKEN });
  const login = await send(locked, '/login', { method: 'POST', headers: { ...own(locked), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
  t.equal(login.status, 303);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  t.notMatch(String(login.headers['set-cookie']), /Secure/, 'plain HTTP: no Secure flag');
  const golden = '/api/products/washer/golden';
  t.equal((await send(locked, golden, { method: 'POST', headers: { cookie, origin: 'http://evil.example', ...asJson }, body: '{}' })).status, 403);
  t.equal((await send(locked, golden, { method: 'POST', headers: { cookie, ...own(locked), 'content-type': 'text/plain' }, body: '{}' })).status, 403);
  t.equal((await send(locked, golden, { method: 'POST', headers: { cookie, ...own(locked), ...asJson }, body: '{}' })).status, 201);
  t.equal((await send(locked, golden, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, origin: 'http://evil.example' } })).status, 201, 'a program with its token');
  const crossLogin = await send(locked, '/login', { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TOKEN}` });
  t.equal(crossLogin.status, 403, 'sign-in from another site');

  const badCookie = await send(locked, '/api/cameras', { headers: { cookie: 'linesight_session=%E0%A4%A' } });
  t.equal(badCookie.status, 400);
  t.match(json(badCookie), { error: /not valid percent-encoding/ });
  t.equal((await send(locked, '/api/cameras', { headers: { cookie: `other=%E0%A4%A; ${cookie}` } })).status, 200, "another service's cookie on the same host does not lock the UI out");
});

t.test('ten wrong sign-ins: five are answered, then 429 with Retry-After, logged with the address and never the secret', async (t) => {
  const limited = await serve({ token: TOKEN });
  const form = (token: string) => send(limited, '/login', { method: 'POST', headers: { ...own(limited), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
  const statuses: number[] = [];
  let last: Reply | undefined;
  for (let i = 0; i < 10; i++) {
    last = await form(`wrong-guess-${i}`);
    statuses.push(last.status);
  }
  t.same(statuses, [303, 303, 303, 303, 303, 429, 429, 429, 429, 429]);
  const wait = Number(last!.headers['retry-after']);
  t.ok(wait >= 1 && wait <= 60, `Retry-After ${wait} s`);
  t.match(json(last!), { error: /too many failed sign-ins from 127\.0\.0\.1/ });
  t.equal((await form(TOKEN)).status, 429, 'the right token waits too: guessing gets no answer');
  const bearer = await send(limited, '/api/cameras', { headers: { authorization: 'Bearer wrong-guess-10' } });
  t.equal(bearer.status, 429, 'tokens in the Authorization header count against the same address');
  const log = logLines.join('');
  t.match(log, /a sign-in from 127\.0\.0\.1 was refused/);
  t.notMatch(log, /wrong-guess/, 'the tried secrets are not logged');
});

t.test('the session cookie is Secure over HTTPS', async (t) => {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const secure = await serve({ token: TOKEN, tls: { cert, key } });
  t.match(secure, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.equal((await send(secure, '/health')).status, 200);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  t.equal((await send(secure, '/login', { method: 'POST', headers: { origin: secure.replace('https', 'http'), ...form }, body: `token=${TOKEN}` })).status, 403, 'a plain-HTTP page of the same host is another origin');
  const login = await send(secure, '/login', { method: 'POST', headers: { ...own(secure), ...form }, body: `token=${TOKEN}` });
  t.equal(login.status, 303);
  t.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict; Max-Age=\d+; Secure/);
  await t.rejects(startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), tls: { cert: join(dir, 'missing.pem'), key } }), /the TLS certificate .*missing\.pem cannot be read/);
});

t.test('bad percent-encoding is a 400, not an internal error', async (t) => {
  const { set } = json(await send(open, '/api/products/washer/golden', { method: 'POST', headers: asJson, body: '{}' })) as { set: string };
  const name = await send(open, `/api/products/washer/golden/${set}/%E0%A4%A.png`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: smallPng });
  t.equal(name.status, 400);
  t.match(json(name), { error: /file name "%E0%A4%A\.png" is not valid percent-encoding/ });
  t.equal((await send(open, '/api/products/%E0%A4%A/versions')).status, 400);
  t.equal((await send(open, '/ui/%E0%A4%A')).status, 404);
  t.equal((await send(open, '/api/cameras/%E0%A4%A/rejects')).status, 404);
  t.notMatch(logLines.join(''), /"level":50/, 'nothing was logged as a failure');
});

t.test('golden-sample sets only for products the device knows', async (t) => {
  const ghost = await send(open, '/api/products/ghost/golden', { method: 'POST', headers: asJson, body: '{}' });
  t.equal(ghost.status, 404);
  t.match(json(ghost), { error: /product "ghost" is not configured on a camera and has no enrolled version \(configured: washer\)/ });
  await t.rejects(lstat(join(dataDir, 'golden', 'ghost')), { code: 'ENOENT' }, 'no folder was made');
  t.equal((await send(open, '/api/products/Not..An-Id/golden', { method: 'POST', headers: asJson, body: '{}' })).status, 400);
  t.equal((await send(open, '/api/capture', { method: 'POST', headers: asJson, body: '{"camera":"cam1","product":"ghost","count":3}' })).status, 404, 'nor by capture');
  await mkdir(join(dataDir, 'products', 'bracket', 'v1'), { recursive: true });
  t.equal((await send(open, '/api/products/bracket/golden', { method: 'POST', headers: asJson, body: '{}' })).status, 201, 'an enrolled product');
});

t.test('uploads never replace a file and never follow a symbolic link', async (t) => {
  const { set } = json(await send(open, '/api/products/washer/golden', { method: 'POST', headers: asJson, body: '{}' })) as { set: string };
  const setDir = join(dataDir, 'golden', 'washer', set);
  const put = (s: string, file: string, body = smallPng) => send(open, `/api/products/washer/golden/${s}/${file}`, { method: 'PUT', headers: { 'content-type': 'image/png' }, body });
  const first = await put(set, 'part1.png');
  t.equal(first.status, 201);
  t.match(json(first), { file: 'part1.png', width: 32, height: 24, images: 1 });
  const other = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#fff' } }).png().toBuffer();
  const again = await put(set, 'part1.png', other);
  t.equal(again.status, 409);
  t.match(json(again), { error: /already holds a file named "part1\.png".*Nothing was replaced/ });
  t.same(await readFile(join(setDir, 'part1.png')), smallPng, 'the first upload is kept');

  await writeFile(join(outside, 'victim.png'), 'precious');
  await symlink(join(outside, 'victim.png'), join(setDir, 'evil.png'));
  t.equal((await put(set, 'evil.png')).status, 409, 'a link to an existing file');
  t.equal(await readFile(join(outside, 'victim.png'), 'utf8'), 'precious');
  await symlink(join(outside, 'planted.png'), join(setDir, 'dangling.png'));
  t.equal((await put(set, 'dangling.png')).status, 409, 'a link to a file not there yet');
  await t.rejects(lstat(join(outside, 'planted.png')), { code: 'ENOENT' });

  await symlink(outside, join(dataDir, 'golden', 'washer', '20200101-000000'));
  const linkedSet = await put('20200101-000000', 'part2.png');
  t.equal(linkedSet.status, 409, 'a set folder that is a link');
  t.match(json(linkedSet), { error: /golden\/washer\/20200101-000000 is not a plain folder/ });
  t.same((await readdir(outside)).sort(), ['victim.png'], 'nothing was written outside');
  t.same((await readdir(setDir)).filter((f) => f.startsWith('.')), [], 'no temporary file is left');
});

t.test('a decompression bomb is refused from its header; uploads are checked two at a time', async (t) => {
  t.ok(bomb.length < 1_000_000, `a ${(bomb.length / 1024).toFixed(0)} KB PNG of 12000 x 12000`);
  const { set } = json(await send(open, '/api/products/washer/golden', { method: 'POST', headers: asJson, body: '{}' })) as { set: string };
  const path = (i: number) => `/api/products/washer/golden/${set}/bomb${i}.png`;
  const before = process.memoryUsage().rss;
  const replies = await Promise.all([0, 1, 2, 3].map((i) => send(open, path(i), { method: 'PUT', headers: { 'content-type': 'image/png' }, body: bomb })));
  const grownMb = (process.memoryUsage().rss - before) / 1e6;
  t.comment(`rss grew ${grownMb.toFixed(0)} MB for four bombs at once`);
  t.ok(grownMb < 150, `memory stays bounded (${grownMb.toFixed(0)} MB)`);
  for (const r of replies) {
    t.ok(r.status === 413 || r.status === 503, `refused (${r.status})`);
    if (r.status === 413) t.match(json(r), { error: /12000 x 12000 = 144\.0 megapixels; linesight decodes images of up to 40 megapixels; nothing was saved/ });
  }
  t.same(await readdir(join(dataDir, 'golden', 'washer', set)), [], 'nothing was kept');

  // Two uploads still sending their bytes hold both places; a third is turned away at once.
  const url = new URL(open);
  const slow = [0, 1].map((i) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: path(10 + i), method: 'PUT', headers: { 'content-type': 'image/png', 'content-length': String(smallPng.length) } });
    const reply = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    req.write(smallPng.subarray(0, 10));
    return { req, reply };
  });
  await new Promise((r) => setTimeout(r, 300));
  const third = await send(open, path(12), { method: 'PUT', headers: { 'content-type': 'image/png' }, body: smallPng });
  t.equal(third.status, 503);
  t.equal(third.headers['retry-after'], '1');
  t.match(json(third), { error: /2 uploads are being checked/ });
  for (const s of slow) s.req.end(smallPng.subarray(10));
  t.same((await Promise.all(slow.map((s) => s.reply))).map((r) => r.statusCode), [201, 201], 'the two finish');
  t.equal((await send(open, path(13), { method: 'PUT', headers: { 'content-type': 'image/png' }, body: smallPng })).status, 201, 'places are given back');
});

t.test('twenty event streams: sixteen are served, the rest get 503, no listener warnings', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const url = new URL(open);
  const streams = Array.from({ length: 20 }, () => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: '/api/events' });
    const reply = new Promise<IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
    req.end();
    return { req, reply };
  });
  const statuses = await Promise.all(streams.map((s) => s.reply.then((r) => r.statusCode)));
  t.equal(statuses.filter((s) => s === 200).length, 16);
  t.equal(statuses.filter((s) => s === 503).length, 4);
  await new Promise((r) => setTimeout(r, 200));
  t.same(warnings.filter((w) => /MaxListeners/.test(w)), [], 'no MaxListeners warning');
  for (const s of streams) s.req.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const again = await new Promise<IncomingMessage>((resolve) => httpRequest({ host: url.hostname, port: url.port, path: '/api/events' }, resolve).end());
  t.equal(again.statusCode, 200, 'closed streams give their places back');
  again.destroy();
});
