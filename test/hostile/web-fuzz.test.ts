/**
 * Every route of the web app under random requests (fast-check): random
 * methods, paths built from the route table with random parameters, headers,
 * content types and bodies, with and without the device's own Host and
 * Origin. Each request must be answered — never a 5xx, never a hang, never a
 * stack trace — and an API error must be JSON with an `error`.
 */
import { okHealth } from '../helpers/device-health.ts';
import { EventEmitter } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { startHealthServer } from '../../runtime/health-server.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';
import { createWebApp, WEB_ROUTES } from '../../runtime/web/web-app.ts';
import { runs, STACK_TRACE } from './budget.ts';

const dir = t.testdir();
const logLines: string[] = [];
const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
const health = okHealth;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One raw request; an event stream is closed once its headers arrive. Rejects after `timeoutMs` (a hang). */
function send(port: number, r: { method: string; path: string; headers: Record<string, string>; body?: Buffer }, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: r.path, method: r.method, headers: r.headers, agent: false }, (res) => {
      if (String(res.headers['content-type']).startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, text: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: ${r.method} ${r.path}`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

const config = deviceConfigSchema.parse({
  dataDir: join(dir, 'device'),
  mqtt: { deviceId: 'line9' },
  http: { port: 0 },
  cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product: 'washer' }],
});
const web = createWebApp({ config, health, cameras: [{ id: 'cam1', product: 'washer', source: new EventEmitter(), pipeline: new EventEmitter() }] }, { logger, host: '127.0.0.1' });
const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle });
const port = Number(new URL(server.url).port);
t.teardown(async () => {
  await server.close();
  await web.close();
});

/** A value for a path parameter: plausible ids, traversal, bad percent-encoding, long and odd text. */
const paramValue = fc.oneof(
  fc.constantFrom('washer', 'cam1', 'v1', 'v999', 'good', '000.png', '0', '..', '%2e%2e', '%2F', '%', '%zz', '%E0%A4%A', '..%2f..%2fetc%2fpasswd', 'a'.repeat(300), '%00', 'con', '-1', 'NaN'),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.stringMatching(/^[a-z0-9%._-]{1,16}$/),
);
const routePath = fc.constantFrom(...WEB_ROUTES.map((r) => r.path)).chain((pattern) =>
  fc.tuple(...pattern.split('/').map((seg) => (seg.startsWith(':') ? paramValue : fc.constant(seg)))).map((segs) => segs.join('/') || '/'),
);
const anyPath = fc.oneof(
  { weight: 6, arbitrary: routePath },
  { weight: 1, arbitrary: fc.webPath().map((p) => p || '/') },
  { weight: 1, arbitrary: fc.constantFrom('/health', '/metrics', '//', '/api', '/api/', '/%', '/ui/../../etc/passwd', '/api/products/washer/versions?x=%zz') },
).chain((p) => fc.oneof(fc.constant(p), fc.webQueryParameters().map((q) => `${p}?${q}`)));

const contentType = fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'image/png', 'application/octet-stream', 'application/json; charset=utf-16', '', '\u00e9');
const jsonBody = fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v)));
const body = fc.oneof(
  jsonBody,
  fc.record({ camera: fc.constantFrom('cam1', 'x'), count: fc.integer({ min: -5, max: 5000 }), product: fc.constantFrom('washer', '../x'), set: fc.string({ maxLength: 10 }) }, { requiredKeys: [] }).map((v) => Buffer.from(JSON.stringify(v))),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.constant(Buffer.from('{"a":')),
);

const request$ = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'),
  path: anyPath,
  ownOrigin: fc.boolean(),
  host: fc.constantFrom('own', 'own', 'evil.example', '127.0.0.1:1', 'localhost'),
  contentType,
  body: fc.option(body, { nil: undefined }),
  cookie: fc.option(fc.constantFrom('linesight_session=%zz', 'linesight_session=abc', 'a=%E0%A4%A', '=;;=', 'x'.repeat(600)), { nil: undefined }),
  extra: fc.dictionary(fc.constantFrom('accept', 'x-forwarded-for', 'range', 'if-none-match', 'accept-encoding', 'referer'), fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), { maxKeys: 3 }),
});

t.test('random requests to every route end in an answer: no 5xx, no hang, no stack trace', async (t) => {
  let tried = 0;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(request$, async (r) => {
      tried++;
      const headers: Record<string, string> = { ...r.extra, host: r.host === 'own' ? `127.0.0.1:${port}` : r.host };
      if (r.ownOrigin) headers.origin = `http://127.0.0.1:${port}`;
      if (r.contentType) headers['content-type'] = r.contentType;
      if (r.cookie) headers.cookie = r.cookie;
      const method = r.method;
      const reply = await send(port, { method, path: r.path, headers, body: method === 'GET' || method === 'HEAD' ? undefined : r.body });
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.status >= 500) throw new Error(`${reply.status} for ${r.method} ${r.path}: ${reply.text.slice(0, 300)}`);
      if (STACK_TRACE.test(reply.text)) throw new Error(`stack trace in the reply to ${r.method} ${r.path}: ${reply.text.slice(0, 300)}`);
      const isJson = String(reply.headers['content-type'] ?? '').startsWith('application/json');
      if (reply.status >= 400 && isJson && method !== 'HEAD') {
        const parsed = JSON.parse(reply.text) as { error?: unknown };
        if (typeof parsed.error !== 'string' || !parsed.error) throw new Error(`JSON error without a message for ${r.method} ${r.path}: ${reply.text}`);
      }
      if (reply.status >= 400 && r.path.startsWith('/api/') && method !== 'HEAD' && !isJson) throw new Error(`API error not in JSON: ${reply.status} ${r.method} ${r.path}`);
    }),
    { numRuns: runs(400, 4000), seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31), endOnFailure: true },
  );
  const errors = logLines.filter((l) => /"level":50/.test(l));
  t.same(errors.map((l) => JSON.parse(l).msg), [], 'no request failed inside the app (logged as an error)');
  t.comment(`web routes: ${tried} inputs tried, 0 crashes, 0 hangs; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
});
