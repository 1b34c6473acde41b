/**
 * Capture routes: golden samples captured from a camera into a new set of a
 * product the device knows; one capture at a time, never during training.
 */
import { ApiError, readJson, sendJson } from '../http-util.ts';
import { optionalNumber, productParam } from '../params.ts';
import type { Route } from '../router.ts';
import { findCamera, requireKnownProduct, type WebContext } from '../web-context.ts';

export const captureRoutes: Route<WebContext>[] = [
  { method: 'GET', path: '/api/capture', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { capture: app.capture.snapshot() }) },
  {
    method: 'POST',
    path: '/api/capture',
    body: 'json',
    access: 'api',
    async handle({ req, res, app }) {
      const body = await readJson(req);
      const cam = findCamera(app, String(body.camera ?? ''));
      const product = productParam(String(body.product ?? cam.product));
      const count = Number(body.count ?? 12);
      if (!Number.isInteger(count) || count < 1 || count > 500) throw new ApiError(400, `count ${String(body.count)}: capture 1 to 500 images`);
      if (app.enrollment.running) throw new ApiError(409, 'an enrollment is running; capture when it has finished');
      const minChange = optionalNumber(body.minChange, 'minChange', 0, 1);
      const minIntervalMs = optionalNumber(body.minIntervalMs, 'minIntervalMs', 0, 3_600_000);
      await requireKnownProduct(app, product);
      sendJson(res, 202, { capture: await app.capture.start({ camera: cam.id, source: cam.source, product, count, minChange, minIntervalMs }) });
    },
  },
  { method: 'POST', path: '/api/capture/cancel', body: 'json', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { capture: app.capture.cancel() }) },
];
