/**
 * The technician's web UI and its JSON API, served by the runtime next to
 * /health and /metrics: Live (cameras, verdicts, overlays, recent rejects),
 * Products (versions, contact sheets, activate, roll back), Enroll
 * (capture or upload golden samples, train, activate) and Review (label
 * kept records, update the product from them, activate or discard). The routes live in
 * routes/; this module puts them in one table and guards every request
 * (request-guard.ts): the Host must be a name the device is served as, a
 * state-changing request must come from the device's own pages (or carry a
 * bearer token), and every response carries the security headers.
 *
 * API (JSON; errors are `{error}` in words for the technician):
 *   GET  /api/cameras                               cameras with health and last result
 *   GET  /api/cameras/:id/frame                     newest frame (PNG with overlay when scored, else JPEG)
 *   GET  /api/cameras/:id/rejects                   recent rejects, newest first
 *   GET  /api/cameras/:id/rejects/:seq/overlay.png  (and mask.png)
 *   GET  /api/events                                Server-Sent Events: cameras, capture, enrollment and update snapshots
 *   GET  /api/products                              products with their active version
 *   GET  /api/products/:id/versions                 versions with metrics, oldest first
 *   GET  /api/products/:id/versions/:v/files/:name  contact sheets of a version
 *   GET  /api/products/:id/versions/:v/bundle       the version as one signed bundle, for the other devices
 *   POST /api/products/:id/activate {version}       POST /api/products/:id/rollback
 *   GET  /api/products/:id/golden                   golden-sample sets; POST creates one
 *   PUT  /api/products/:id/golden/:set/:file        upload one image (raw body, Content-Type image/* or application/octet-stream)
 *   GET|POST /api/capture {camera, product, count}  POST /api/capture/cancel
 *   GET|POST /api/enrollment {product, set}         POST /api/enrollment/cancel
 *   GET  /api/records?...  GET /api/records/:id/image|map|mask  POST /api/records/:id/review {label, type}
 *   GET|POST /api/products/:id/defect-types         GET /api/statistics?format=json|csv (routes/records.ts)
 *   POST /api/products/:id/update {}                 a new version from the reviewed records, replayed on both (routes/update.ts)
 *   GET  /api/update                                 POST /api/update/cancel, POST /api/update/discard
 * POST bodies are `Content-Type: application/json`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { RequestHandler } from '../health-server.ts';
import { ApiError, sendError } from './http-util.ts';
import { allowedHostNames, crossSiteProblem, hostProblem, SECURITY_HEADERS } from './request-guard.ts';
import { matchRoute, pathSegments, type Route } from './router.ts';
import { authRoutes, checkAccess } from './routes/auth.ts';
import { bundleRoutes } from './routes/bundles.ts';
import { captureRoutes } from './routes/capture.ts';
import { enrollRoutes, logFinishedEnrollments } from './routes/enroll.ts';
import { goldenSetRoutes } from './routes/golden-sets.ts';
import { liveRoutes } from './routes/live.ts';
import { pageRoutes } from './routes/pages.ts';
import { partRoutes } from './routes/parts.ts';
import { productRoutes } from './routes/products.ts';
import { recordRoutes } from './routes/records.ts';
import { logFinishedUpdates, updateRoutes } from './routes/update.ts';
import { createWebContext, DEFAULT_WEB_LIMITS, type WebContext, type WebDevice, type WebLimits } from './web-context.ts';

export type { WebCamera, WebDevice } from './web-context.ts';

export interface WebApp {
  handle: RequestHandler;
  close(): Promise<void>;
}

export interface WebAppOptions {
  logger?: Logger;
  /** The address the server is bound to (http.host); decides which Host names are accepted by default. */
  host?: string;
  /** More names the device is reached under (a DNS name, a reverse proxy's name; ".example.com" for its subdomains). */
  allowedHosts?: string[];
  /** Set when the server serves HTTPS (the same option as the health server's): cookies become Secure. */
  tls?: { cert: string; key: string };
  limits?: Partial<WebLimits>;
}

export const WEB_ROUTES: readonly Route<WebContext>[] = [...pageRoutes, ...authRoutes, ...liveRoutes, ...partRoutes, ...productRoutes, ...bundleRoutes, ...goldenSetRoutes, ...captureRoutes, ...enrollRoutes, ...recordRoutes, ...updateRoutes];

/** The path of a request target; a target that is not a URL path is a 400. */
function requestPath(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'http://device').pathname;
  } catch {
    throw new ApiError(400, 'the request target is not a URL path');
  }
}

/** Refuses a request under a foreign Host name or one another site may have forged; returns the route and its parameters. */
function guardedRoute(app: WebContext, allowedHosts: string[], req: IncomingMessage, path: string) {
  const hostRefused = hostProblem(req.headers.host, allowedHosts);
  if (hostRefused) throw new ApiError(403, hostRefused);
  const method = req.method ?? 'GET';
  const segments = pathSegments(path);
  const match = matchRoute(WEB_ROUTES, method, segments);
  const forged = crossSiteProblem({
    method,
    host: req.headers.host,
    tls: app.tls,
    forwardedProto: typeof req.headers['x-forwarded-proto'] === 'string' ? req.headers['x-forwarded-proto'] : undefined,
    origin: req.headers.origin,
    referer: req.headers.referer,
    authorization: req.headers.authorization,
    contentType: req.headers['content-type'],
    hasBody: Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined,
    body: match?.route.body ?? 'none',
  });
  if (forged) throw new ApiError(403, forged);
  return { match, api: segments[0] === 'api', method };
}

export function createWebApp(device: WebDevice, opts: WebAppOptions = {}): WebApp {
  const app = createWebContext(device, { logger: opts.logger, tls: opts.tls !== undefined, limits: { ...DEFAULT_WEB_LIMITS, ...opts.limits } });
  logFinishedEnrollments(app);
  logFinishedUpdates(app);
  const interfaceAddresses = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  const allowedHosts = allowedHostNames({ bindHost: opts.host ?? '127.0.0.1', machineName: hostname(), interfaceAddresses, extra: opts.allowedHosts });

  const handle: RequestHandler = async (req: IncomingMessage, res: ServerResponse) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    let path = req.url ?? '/';
    try {
      path = requestPath(req.url);
      const { match, api, method } = guardedRoute(app, allowedHosts, req, path);
      if (!match) {
        if (api && !checkAccess(app, req, res, 'api')) return;
        throw new ApiError(404, api ? `no such API: ${method} ${path}` : `linesight: no page ${path}; the UI is at /, health at /health, metrics at /metrics`);
      }
      if (!checkAccess(app, req, res, match.route.access)) return;
      await match.route.handle({ req, res, params: match.params, app });
    } catch (err) {
      if (!(err instanceof ApiError)) app.log?.error({ err, path }, `web request ${req.method} ${path} failed: ${(err as Error).message}`);
      else if (err.status === 403) app.log?.warn({ source: req.socket.remoteAddress, path }, `web request ${req.method} ${path} refused: ${err.message}`);
      if (!res.headersSent) sendError(res, err);
      else res.end();
    }
  };

  return {
    handle,
    async close() {
      app.live.close();
      await Promise.all([app.capture.close(), app.enrollment.close(), app.update.close()]);
    },
  };
}
