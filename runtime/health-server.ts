/**
 * The device's HTTP endpoint: `GET /health` (JSON; 200 when ok, 503 when
 * degraded, so a load balancer or a monitoring probe can read the status
 * code alone) and `GET /metrics` (Prometheus text), both open to monitoring
 * probes; every other request goes to `handle` (the web UI and its API, see
 * runtime/web/) when given. Bound to 127.0.0.1 by default: exposing it on the
 * plant network is a deliberate config change. With `tls` (a PEM certificate
 * and key file) it serves HTTPS instead of HTTP.
 *
 * `/health` is open without auth, so every string in it is scrubbed of URL
 * passwords and of the known secrets (camera and broker passwords, tokens)
 * before it is served.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { redactDeep, secretRedactor } from '../config/secrets.ts';
import type { DeviceHealth } from './health.ts';
import type { RuntimeMetrics } from './metrics.ts';

export interface HealthServer {
  url: string;
  close(): Promise<void>;
}

export class HealthServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HealthServerError';
  }
}

/** Handles a request other than /health and /metrics. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** PEM files of the server's certificate (with its chain) and private key. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** Headers of the probes' own answers (the web UI sets its own). */
const PROBE_HEADERS = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" };

async function readTls(tls: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  const read = (path: string, what: string) =>
    readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new HealthServerError(`the TLS ${what} ${path} cannot be read (${err.code ?? err.message}); check http.tls`);
    });
  return { cert: await read(tls.cert, 'certificate'), key: await read(tls.key, 'key') };
}

export interface HealthServerOptions {
  host: string;
  port: number;
  health: () => DeviceHealth;
  metrics: RuntimeMetrics;
  handle?: RequestHandler;
  /** Serve HTTPS with this certificate and key instead of HTTP. */
  tls?: TlsFiles;
  /** Passwords and tokens from the config that must never appear in /health (URLs with credentials are scrubbed anyway). */
  secrets?: readonly (string | undefined)[];
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const redact = secretRedactor(opts.secrets ?? []);
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = path === '/health' || path === '/metrics';
    if (!probe && opts.handle) {
      opts.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `internal error: ${err.message}` }));
      });
      return;
    }
    for (const [name, value] of Object.entries(PROBE_HEADERS)) res.setHeader(name, value);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/health') {
      const health = redactDeep(opts.health(), redact);
      res.writeHead(health.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(health)}\n`);
    } else if (path === '/metrics') {
      opts.metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('linesight: try /health or /metrics\n');
    }
  };
  let server: Server;
  try {
    server = opts.tls ? createHttpsServer(await readTls(opts.tls), listener) : createServer(listener);
  } catch (err) {
    if (err instanceof HealthServerError) throw err;
    throw new HealthServerError(`the TLS certificate or key in http.tls is not usable: ${(err as Error).message}`);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new HealthServerError(
          err.code === 'EADDRINUSE'
            ? `the health endpoint cannot listen on ${opts.host}:${opts.port}: the port is in use (set http.port in the config, or http.enabled: false)`
            : `the health endpoint cannot listen on ${opts.host}:${opts.port}: ${err.message}`,
        ),
      );
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
