/**
 * The technician's web UI and its JSON API, served by the runtime next to
 * /health and /metrics: Live (cameras, verdicts, overlays, recent rejects),
 * Products (versions, contact sheets, activate, roll back) and Enroll
 * (capture or upload golden samples, train, activate).
 *
 * API (JSON; errors are `{error}` in words for the technician):
 *   GET  /api/cameras                               cameras with health and last result
 *   GET  /api/cameras/:id/frame                     newest frame (PNG with overlay when scored, else JPEG)
 *   GET  /api/cameras/:id/rejects                   recent rejects, newest first
 *   GET  /api/cameras/:id/rejects/:seq/overlay.png  (and mask.png)
 *   GET  /api/events                                Server-Sent Events: cameras, capture and enrollment snapshots
 *   GET  /api/products                              products with their active version
 *   GET  /api/products/:id/versions                 versions with metrics, oldest first
 *   GET  /api/products/:id/versions/:v/files/:name  contact sheets of a version
 *   POST /api/products/:id/activate {version}       POST /api/products/:id/rollback
 *   GET  /api/products/:id/golden                   golden-sample sets; POST creates one
 *   PUT  /api/products/:id/golden/:set/:file        upload one image (raw body)
 *   GET|POST /api/capture {camera, product, count}  POST /api/capture/cancel
 *   GET|POST /api/enrollment {product, set}         POST /api/enrollment/cancel
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { productIdSchema } from '../../config/names.ts';
import type { DeviceConfig } from '../../config/device.ts';
import { ArtifactError, productDir } from '../../product/artifact.ts';
import type { DeviceHealth } from '../health.ts';
import { activateProductVersion, listProductSummaries, listProductVersions, ProductVersionError, rollbackProduct, versionAttachments } from '../../product/versions.ts';
import type { RequestHandler } from '../health-server.ts';
import { WebAuth } from './auth.ts';
import { CaptureRunner } from './capture-runner.ts';
import { EnrollmentRunner } from './enrollment-runner.ts';
import { createGoldenSet, goldenSetDir, imageFiles, listGoldenSets, saveUpload } from './golden-sets.ts';
import { ApiError, readBody, readJson, sendError, sendJson } from './http-util.ts';
import { LiveView, RECENT_REJECTS, type LiveCamera } from './live-view.ts';
import { rollbackHint, servableAttachment } from './product-actions.ts';
import { streamSnapshots } from './sse.ts';
import { safeFileName, serveFile, UI_DIR } from './static-files.ts';

/** Largest uploaded image. */
const UPLOAD_LIMIT = 32 * 1024 * 1024;

export interface WebCamera extends LiveCamera {
  product: string;
}

export interface WebDevice {
  config: DeviceConfig;
  health(): DeviceHealth;
  cameras: WebCamera[];
}

export interface WebApp {
  handle: RequestHandler;
  close(): Promise<void>;
}

function productParam(value: string): string {
  const parsed = productIdSchema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, `product id "${value}": ${parsed.error.issues[0]?.message}`);
  return value;
}

function versionParam(value: unknown): string {
  if (typeof value !== 'string' || !/^v\d+$/.test(value)) throw new ApiError(400, `"${String(value)}" is not a version (like v3)`);
  return value;
}

function optionalNumber(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new ApiError(400, `${name} ${String(value)}: use a number from ${min} to ${max}`);
  return n;
}

/** Problems of one camera among the device's. */
function cameraProblems(problems: string[], id: string): string[] {
  const mentions = new RegExp(`camera ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);
  return problems.filter((p) => mentions.test(p));
}

export function createWebApp(device: WebDevice, opts: { logger?: Logger } = {}): WebApp {
  const { config } = device;
  const auth = new WebAuth(config.http.auth);
  const live = new LiveView(device.cameras);
  const capture = new CaptureRunner(config.dataDir);
  const enrollment = new EnrollmentRunner(config);
  const log = opts.logger;

  const cameras = () => {
    const h = device.health();
    return {
      status: h.status,
      problems: h.problems,
      device: h.device,
      mqtt: h.mqtt.state,
      cameras: h.cameras.map((c) => ({
        id: c.id,
        product: c.product,
        modelVersion: c.modelVersion,
        enrolled: c.modelVersion !== null,
        state: c.state,
        reason: c.reason ?? null,
        fps: c.fps,
        scored: c.scored,
        unscored: c.unscored,
        rejects: c.rejects,
        errors: c.errors,
        p50Ms: c.p50Ms,
        lastResult: live.lastResult(c.id),
        frameSeq: live.frameSeq(c.id),
        problems: cameraProblems(h.problems, c.id),
      })),
    };
  };
  const events = {
    snapshot: () => ({ ...cameras(), capture: capture.snapshot(), enrollment: enrollment.snapshot() }),
    subscribe: (listener: () => void) => {
      const unsubscribe = live.subscribe(listener);
      capture.on('change', listener);
      enrollment.on('change', listener);
      // Health (fps, states) changes without frames too, e.g. when a camera goes down.
      const timer = setInterval(listener, 1000);
      return () => {
        unsubscribe();
        capture.off('change', listener);
        enrollment.off('change', listener);
        clearInterval(timer);
      };
    },
  };
  // One log line per finished enrollment.
  let loggedEnrollment = 0;
  enrollment.on('change', () => {
    const s = enrollment.snapshot();
    if (!s || s.finishedAt === null || s.id === loggedEnrollment) return;
    loggedEnrollment = s.id;
    log?.info({ product: s.product, state: s.state, seconds: s.seconds, error: s.error }, `enrollment of ${s.product} from the web UI: ${s.state}${s.error ? ` (${s.error})` : ''}`);
  });

  const camera = (id: string) => {
    const c = device.cameras.find((x) => x.id === id);
    if (!c) throw new ApiError(404, `there is no camera "${id}" (cameras: ${device.cameras.map((x) => x.id).join(', ')})`);
    return c;
  };

  const versions = async (product: string) => {
    const list = await listProductVersions(config.dataDir, product);
    const rollback = rollbackHint(list);
    return { product, versions: list, rollback: 'version' in rollback ? rollback.version : null, rollbackBlocked: 'reason' in rollback ? rollback.reason : null };
  };

  /** Activates (or rolls back); the runtime's product library hot-swaps on its next poll. */
  const switchVersion = async (product: string, action: () => Promise<{ to: string }>, what: string) => {
    let to: string;
    try {
      ({ to } = await action());
    } catch (err) {
      if (err instanceof ArtifactError) throw new ApiError(422, `${what} failed: ${err.message}. The active version was not changed.`);
      if (err instanceof ProductVersionError) throw new ApiError(409, err.message);
      throw err;
    }
    log?.info({ product, version: to }, `product ${product}: ${to} activated from the web UI`);
    return { ...(await versions(product)), activated: to };
  };

  async function api(req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const [head, a, b, c, d, e] = parts;
    const notFound = () => {
      throw new ApiError(404, `no such API: ${method} /api/${parts.join('/')}`);
    };
    if (head === 'events' && parts.length === 1 && method === 'GET') return streamSnapshots(req, res, 'state', events);
    if (head === 'cameras') {
      if (parts.length === 1 && method === 'GET') return sendJson(res, 200, cameras());
      const cam = camera(a!);
      if (b === 'frame' && parts.length === 3 && method === 'GET') {
        const image = await live.image(cam.id);
        if (!image) throw new ApiError(404, `camera ${cam.id} has sent no frame yet`);
        res.writeHead(200, { 'content-type': image.type, 'cache-control': 'no-store', 'x-scored': String(image.scored) });
        res.end(image.body);
        return;
      }
      if (b === 'rejects' && parts.length === 3 && method === 'GET') return sendJson(res, 200, { camera: cam.id, rejects: live.recentRejects(cam.id) });
      if (b === 'rejects' && parts.length === 5 && method === 'GET' && (d === 'overlay.png' || d === 'mask.png')) {
        const png = await live.rejectImage(cam.id, Number(c), d === 'overlay.png' ? 'overlay' : 'mask');
        if (!png) throw new ApiError(404, `reject ${c} of camera ${cam.id} is no longer kept (the last ${RECENT_REJECTS} are)`);
        res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=3600' });
        res.end(png);
        return;
      }
      return notFound();
    }
    if (head === 'products') {
      if (parts.length === 1 && method === 'GET') {
        const summaries = await listProductSummaries(config.dataDir);
        const configured = [...new Set(device.cameras.map((x) => x.product))];
        const all = [...new Set([...configured, ...summaries.map((s) => s.product)])].sort();
        return sendJson(res, 200, {
          products: all.map((product) => ({
            product,
            active: summaries.find((s) => s.product === product)?.active ?? null,
            versions: summaries.find((s) => s.product === product)?.versions ?? 0,
            cameras: device.cameras.filter((x) => x.product === product).map((x) => x.id),
          })),
        });
      }
      const product = productParam(a!);
      if (b === 'versions' && parts.length === 3 && method === 'GET') return sendJson(res, 200, await versions(product));
      if (b === 'versions' && parts.length === 6 && d === 'files' && method === 'GET') {
        const version = versionParam(c);
        const attachments = await versionAttachments(config.dataDir, product, version);
        const name = safeFileName(e!);
        if (!name || !servableAttachment(attachments && { attachments }, name) || !(await serveFile(res, join(productDir(config.dataDir, product), version), name, 'max-age=3600'))) {
          throw new ApiError(404, `${product} ${version} has no attachment "${e}"`);
        }
        return;
      }
      if (b === 'activate' && parts.length === 3 && method === 'POST') {
        const version = versionParam((await readJson(req)).version);
        return sendJson(res, 200, await switchVersion(product, () => activateProductVersion(config.dataDir, product, version), `activating ${version}`));
      }
      if (b === 'rollback' && parts.length === 3 && method === 'POST') return sendJson(res, 200, await switchVersion(product, () => rollbackProduct(config.dataDir, product), 'the roll back'));
      if (b === 'golden' && parts.length === 3 && method === 'GET') return sendJson(res, 200, { product, sets: await listGoldenSets(config.dataDir, product) });
      if (b === 'golden' && parts.length === 3 && method === 'POST') return sendJson(res, 201, { product, ...(await createGoldenSet(config.dataDir, product)) });
      if (b === 'golden' && parts.length === 5 && method === 'PUT') {
        const dir = goldenSetDir(config.dataDir, product, c!);
        if ((await listGoldenSets(config.dataDir, product)).every((s) => s.set !== c)) throw new ApiError(404, `there is no golden-sample set ${c} of ${product}; create one first`);
        const saved = await saveUpload(dir, decodeURIComponent(d!), await readBody(req, UPLOAD_LIMIT));
        return sendJson(res, 201, { product, set: c, ...saved, images: (await imageFiles(dir)).length });
      }
      return notFound();
    }
    if (head === 'capture') {
      if (parts.length === 1 && method === 'GET') return sendJson(res, 200, { capture: capture.snapshot() });
      if (parts.length === 1 && method === 'POST') {
        const body = await readJson(req);
        const cam = camera(String(body.camera ?? ''));
        const product = productParam(String(body.product ?? cam.product));
        const count = Number(body.count ?? 12);
        if (!Number.isInteger(count) || count < 1 || count > 500) throw new ApiError(400, `count ${String(body.count)}: capture 1 to 500 images`);
        if (enrollment.running) throw new ApiError(409, 'an enrollment is running; capture when it has finished');
        const minChange = optionalNumber(body.minChange, 'minChange', 0, 1);
        const minIntervalMs = optionalNumber(body.minIntervalMs, 'minIntervalMs', 0, 3_600_000);
        return sendJson(res, 202, { capture: await capture.start({ camera: cam.id, source: cam.source, product, count, minChange, minIntervalMs }) });
      }
      if (a === 'cancel' && parts.length === 2 && method === 'POST') return sendJson(res, 200, { capture: capture.cancel() });
      return notFound();
    }
    if (head === 'enrollment') {
      if (parts.length === 1 && method === 'GET') return sendJson(res, 200, { enrollment: enrollment.snapshot() });
      if (parts.length === 1 && method === 'POST') {
        const body = await readJson(req);
        const product = productParam(String(body.product ?? ''));
        const set = String(body.set ?? '');
        const dir = goldenSetDir(config.dataDir, product, set);
        const images = (await imageFiles(dir)).length;
        const needed = config.enroll.minGoldenSamples;
        if (images < needed) throw new ApiError(400, `set ${set} of ${product} has ${images} image(s); enrollment needs at least ${needed} golden samples (enroll.minGoldenSamples)`);
        if (capture.running) throw new ApiError(409, 'a capture is running; start training when it has finished');
        return sendJson(res, 202, { enrollment: await enrollment.start({ product, set, imagesDir: dir, images }) });
      }
      if (a === 'cancel' && parts.length === 2 && method === 'POST') return sendJson(res, 200, { enrollment: enrollment.cancel() });
      return notFound();
    }
    return notFound();
  }

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readBody(req, 16 * 1024)).toString('utf8'));
    const cookie = auth.login({ token: form.get('token') || undefined, username: form.get('username') || undefined, password: form.get('password') || undefined });
    if (!cookie) {
      log?.warn('web UI: a login was refused');
      res.writeHead(303, { location: '/login?failed=1' }).end();
      return;
    }
    res.writeHead(303, { location: '/', 'set-cookie': cookie }).end();
  }

  const handle: RequestHandler = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://device');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    try {
      if (path.startsWith('/ui/') && (method === 'GET' || method === 'HEAD')) {
        const name = safeFileName(path.slice(4));
        if (!name || !(await serveFile(res, UI_DIR, name))) throw new ApiError(404, `no such file: ${path}`);
        return;
      }
      if (path === '/login') {
        if (method === 'POST') return await login(req, res);
        if (!(await serveFile(res, UI_DIR, 'login.html'))) throw new ApiError(404, 'no login page');
        return;
      }
      if (path === '/logout' && method === 'POST') {
        res.writeHead(303, { location: '/login', 'set-cookie': auth.logout(req.headers) }).end();
        return;
      }
      const allowed = auth.allows(req.headers);
      if (path.startsWith('/api/')) {
        if (!allowed) return sendJson(res, 401, { error: 'sign in first: send Authorization: Bearer <http.auth.token>, basic credentials, or log in at /login' }, { 'www-authenticate': 'Bearer realm="linesight"' });
        return await api(req, res, path.slice(5).split('/').filter(Boolean));
      }
      if (path === '/' && (method === 'GET' || method === 'HEAD')) {
        if (!allowed) {
          res.writeHead(303, { location: '/login' }).end();
          return;
        }
        await serveFile(res, UI_DIR, 'index.html');
        return;
      }
      throw new ApiError(404, `linesight: no page ${path}; the UI is at /, health at /health, metrics at /metrics`);
    } catch (err) {
      if (!(err instanceof ApiError)) log?.error({ err, path }, `web request ${method} ${path} failed: ${(err as Error).message}`);
      if (!res.headersSent) sendError(res, err);
      else res.end();
    }
  };

  return {
    handle,
    async close() {
      live.close();
      await Promise.all([capture.close(), enrollment.close()]);
    },
  };
}
