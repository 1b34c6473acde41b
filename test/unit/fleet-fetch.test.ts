import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchBundle } from '../../runtime/fleet/fetch-bundle.ts';

/** A loopback server answering each request with `answer`; returns its URL. */
async function serve(t: Test, answer: (res: ServerResponse, auth: string | undefined) => void): Promise<string> {
  const server = createServer((req, res) => answer(res, req.headers.authorization));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`;
}

const body = Buffer.alloc(4096, 7);
const sha = createHash('sha256').update(body).digest('hex');

t.test('fetches the body with the bearer token and checks its sha256', async (t) => {
  const url = await serve(t, (res, auth) => (auth === 'Bearer secret-token-of-plant' ? res.end(body) : res.writeHead(401).end()));
  t.same(await fetchBundle(url, { timeoutMs: 2000, maxBytes: 10_000, token: 'secret-token-of-plant', sha256: sha }), body);
  await t.rejects(fetchBundle(url, { timeoutMs: 2000, maxBytes: 10_000 }), /HTTP 401/);
  await t.rejects(fetchBundle(url, { timeoutMs: 2000, maxBytes: 10_000, token: 'secret-token-of-plant', sha256: 'b'.repeat(64) }), /is not the announced/);
});

t.test('a body over the limit is refused, declared or streamed', async (t) => {
  const declared = await serve(t, (res) => res.end(body));
  await t.rejects(fetchBundle(declared, { timeoutMs: 2000, maxBytes: 1000 }), /4096 bytes, more than fleet.maxBundleBytes \(1000\)/);
  const chunked = await serve(t, (res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.write(body);
    res.end(body);
  });
  await t.rejects(fetchBundle(chunked, { timeoutMs: 2000, maxBytes: 5000 }), /sent more than fleet.maxBundleBytes \(5000\)/);
});

t.test('a peer that stalls is given up after the deadline', async (t) => {
  const stalled = await serve(t, (res) => {
    res.writeHead(200, { 'content-length': 10_000 });
    res.write(body);
  });
  const started = Date.now();
  await t.rejects(fetchBundle(stalled, { timeoutMs: 300, maxBytes: 100_000 }), /not complete within 300 ms/);
  t.ok(Date.now() - started < 2000);
});
