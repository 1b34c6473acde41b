/**
 * Product-update routes, for the Review page's "Update product": build a new
 * version of a product from its active version and its reviewed records (the
 * `linesight update --records` command, run as a child process), follow it
 * with its replay, cancel it, or discard the new version. Activating it is
 * the Products route (`POST /api/products/:product/activate`), the same
 * verification as `linesight activate`. One training at a time: an update
 * is refused while an enrollment runs, and the other way round. Each update
 * is logged when it finishes.
 *
 *   GET  /api/update                     the newest update's snapshot (stages, result with the replay)
 *   POST /api/products/:product/update   {} starts one (202)
 *   POST /api/update/cancel              POST /api/update/discard
 */
import { readActiveVersion } from '../../../product/artifact.ts';
import { readReviewedRecords } from '../../../product/review-set.ts';
import { ApiError, sendJson } from '../http-util.ts';
import { productParam } from '../params.ts';
import type { Route } from '../router.ts';
import type { WebContext } from '../web-context.ts';

/** Why an update of `product` cannot start now, or undefined. */
async function updateRefusal(app: WebContext, product: string): Promise<ApiError | undefined> {
  if (app.enrollment.running) return new ApiError(409, 'an enrollment is running; update the product when it has finished');
  if (!(await readActiveVersion(app.config.dataDir, product))) return new ApiError(409, `product "${product}" has no active version to update; enroll it first`);
  const { set } = readReviewedRecords(app.config.dataDir, product);
  if (set.good.length === 0) return new ApiError(400, `no record of ${product} is marked good yet: mark the false rejects good (g) first, then update`);
  return undefined;
}

export const updateRoutes: Route<WebContext>[] = [
  { method: 'GET', path: '/api/update', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { update: app.update.snapshot() }) },
  {
    method: 'POST',
    path: '/api/products/:product/update',
    body: 'json',
    access: 'api',
    async handle({ res, app, params }) {
      const product = productParam(params.product!);
      const refused = await updateRefusal(app, product);
      if (refused) throw refused;
      sendJson(res, 202, { update: await app.update.start(product) });
    },
  },
  { method: 'POST', path: '/api/update/cancel', body: 'json', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { update: app.update.cancel() }) },
  {
    method: 'POST',
    path: '/api/update/discard',
    body: 'json',
    access: 'api',
    async handle({ res, app }) {
      const update = await app.update.discard();
      app.log?.info({ product: update.product, version: update.result?.version }, `product ${update.product}: ${update.result?.version} discarded from the web UI`);
      sendJson(res, 200, { update });
    },
  },
];

/** Logs each update started from the web UI once, when it finishes. */
export function logFinishedUpdates(app: WebContext): void {
  let logged = 0;
  app.update.on('change', () => {
    const s = app.update.snapshot();
    if (!s || s.finishedAt === null || s.id === logged) return;
    logged = s.id;
    const built = s.result ? ` (${s.result.version} from ${s.result.updatedFrom}, not active)` : '';
    app.log?.info({ product: s.product, state: s.state, seconds: s.seconds, version: s.result?.version, error: s.error }, `product update of ${s.product} from the web UI: ${s.state}${built}${s.error ? ` (${s.error})` : ''}`);
  });
}
