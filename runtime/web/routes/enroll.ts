/**
 * Enrollment routes: train a new version from a golden-sample set (with
 * enough images, never during a capture), follow it, cancel it; and one log
 * line per enrollment started from the web UI when it finishes.
 */
import { goldenSetDir, imageFiles } from '../golden-sets.ts';
import { ApiError, readJson, sendJson } from '../http-util.ts';
import { productParam } from '../params.ts';
import type { Route } from '../router.ts';
import type { WebContext } from '../web-context.ts';

export const enrollRoutes: Route<WebContext>[] = [
  { method: 'GET', path: '/api/enrollment', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { enrollment: app.enrollment.snapshot() }) },
  {
    method: 'POST',
    path: '/api/enrollment',
    body: 'json',
    access: 'api',
    async handle({ req, res, app }) {
      const body = await readJson(req);
      const product = productParam(String(body.product ?? ''));
      const set = String(body.set ?? '');
      const dir = goldenSetDir(app.config.dataDir, product, set);
      const images = (await imageFiles(dir)).length;
      const needed = app.config.enroll.minGoldenSamples;
      if (images < needed) throw new ApiError(400, `set ${set} of ${product} has ${images} image(s); enrollment needs at least ${needed} golden samples (enroll.minGoldenSamples)`);
      if (app.capture.running) throw new ApiError(409, 'a capture is running; start training when it has finished');
      if (app.update.running) throw new ApiError(409, `a product update of "${app.update.snapshot()!.product}" is running; start training when it has finished`);
      sendJson(res, 202, { enrollment: await app.enrollment.start({ product, set, imagesDir: dir, images }) });
    },
  },
  { method: 'POST', path: '/api/enrollment/cancel', body: 'json', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { enrollment: app.enrollment.cancel() }) },
];

/** Logs each enrollment once, when it finishes. */
export function logFinishedEnrollments(app: WebContext): void {
  let logged = 0;
  app.enrollment.on('change', () => {
    const s = app.enrollment.snapshot();
    if (!s || s.finishedAt === null || s.id === logged) return;
    logged = s.id;
    app.log?.info({ product: s.product, state: s.state, seconds: s.seconds, error: s.error }, `enrollment of ${s.product} from the web UI: ${s.state}${s.error ? ` (${s.error})` : ''}`);
  });
}
