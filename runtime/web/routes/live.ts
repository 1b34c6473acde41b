/**
 * Live routes: the cameras with their health and last result, the newest
 * frame, recent rejects with their overlay and mask, and the event stream
 * the pages render from (a bounded number of streams at once).
 */
import { ApiError, sendJson } from '../http-util.ts';
import { RECENT_REJECTS } from '../live-view.ts';
import type { Route } from '../router.ts';
import { streamSnapshots } from '../sse.ts';
import { findCamera, type WebContext } from '../web-context.ts';

/** Problems of one camera among the device's. */
export function cameraProblems(problems: string[], id: string): string[] {
  const mentions = new RegExp(`camera ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);
  return problems.filter((p) => mentions.test(p));
}

export function camerasState(app: WebContext) {
  const h = app.device.health();
  const parts = app.device.parts?.counters() ?? {};
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
      lastResult: app.live.lastResult(c.id),
      frameSeq: app.live.frameSeq(c.id),
      problems: cameraProblems(h.problems, c.id),
      parts: parts[c.id] ?? null,
    })),
  };
}

export const liveRoutes: Route<WebContext>[] = [
  { method: 'GET', path: '/api/cameras', access: 'api', handle: ({ res, app }) => sendJson(res, 200, camerasState(app)) },
  {
    method: 'GET',
    path: '/api/cameras/:camera/frame',
    access: 'api',
    async handle({ res, app, params }) {
      const cam = findCamera(app, params.camera!);
      const image = await app.live.image(cam.id);
      if (!image) throw new ApiError(404, `camera ${cam.id} has sent no frame yet`);
      res.writeHead(200, { 'content-type': image.type, 'cache-control': 'no-store', 'x-scored': String(image.scored) });
      res.end(image.body);
    },
  },
  {
    method: 'GET',
    path: '/api/cameras/:camera/rejects',
    access: 'api',
    handle: ({ res, app, params }) => {
      const cam = findCamera(app, params.camera!);
      sendJson(res, 200, { camera: cam.id, rejects: app.live.recentRejects(cam.id) });
    },
  },
  {
    method: 'GET',
    path: '/api/cameras/:camera/rejects/:seq/:image',
    access: 'api',
    async handle({ res, app, params }) {
      const cam = findCamera(app, params.camera!);
      const { seq, image } = params;
      if (image !== 'overlay.png' && image !== 'mask.png') throw new ApiError(404, `no such API: GET /api/cameras/${cam.id}/rejects/${seq}/${image}`);
      const png = await app.live.rejectImage(cam.id, Number(seq), image === 'overlay.png' ? 'overlay' : 'mask');
      if (!png) throw new ApiError(404, `reject ${seq} of camera ${cam.id} is no longer kept (the last ${RECENT_REJECTS} are)`);
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'max-age=3600' });
      res.end(png);
    },
  },
  {
    method: 'GET',
    path: '/api/events',
    access: 'api',
    handle({ req, res, app }) {
      const release = app.eventStreams.take();
      if (!release) throw new ApiError(503, `${app.eventStreams.size} pages are already following the device; close one and reload`, { 'retry-after': '5' });
      res.on('close', release);
      streamSnapshots(req, res, 'state', {
        snapshot: () => ({ ...camerasState(app), capture: app.capture.snapshot(), enrollment: app.enrollment.snapshot(), update: app.update.snapshot() }),
        subscribe: (listener) => app.changes.subscribe(listener),
      });
    },
  },
];
