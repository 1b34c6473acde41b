/**
 * Part routes: a PLC (or a technician's tool) announces a part over HTTP as
 * it would over MQTT, resets a camera's counters, and reads them. The verdict
 * itself is published on the part topic (and OPC UA), as for MQTT triggers.
 *
 *   POST /api/cameras/:camera/trigger {partId, delayMs?}  202 accepted (400 malformed, 404 unknown camera, 409 refused)
 *   POST /api/cameras/:camera/counters/reset              200 (404 unknown camera)
 *   GET  /api/parts/counters                              every camera's counters
 */
import type { TriggerResult } from '../../parts/part-line.ts';
import { ApiError, readJson, sendJson } from '../http-util.ts';
import type { Route } from '../router.ts';
import type { WebContext } from '../web-context.ts';

/** HTTP status of a trigger's outcome: an overlapping trigger is accepted (the earlier part is cut short), the others are refused. */
export function triggerStatus(result: TriggerResult): number {
  if (result.ok || result.error === 'overlapping_trigger') return 202;
  if (result.error === 'unknown_camera') return 404;
  if (result.error === 'invalid_trigger') return 400;
  return 409;
}

function parts(app: WebContext) {
  const p = app.device.parts;
  if (!p) throw new ApiError(404, 'this device does not judge parts');
  return p;
}

export const partRoutes: Route<WebContext>[] = [
  {
    method: 'POST',
    path: '/api/cameras/:camera/trigger',
    body: 'json',
    access: 'api',
    async handle({ req, res, app, params }) {
      const result = parts(app).trigger(params.camera!, await readJson(req));
      const status = triggerStatus(result);
      if (status >= 400 && !result.ok) throw new ApiError(status, result.message);
      sendJson(res, status, { accepted: true, ...(result.ok ? {} : { warning: result.message }) });
    },
  },
  {
    method: 'POST',
    path: '/api/cameras/:camera/counters/reset',
    body: 'json',
    access: 'api',
    handle({ res, app, params }) {
      if (!parts(app).resetCounters(params.camera!)) throw new ApiError(404, `no camera "${params.camera}" on this device`);
      sendJson(res, 200, { counters: parts(app).counters()[params.camera!] ?? null });
    },
  },
  { method: 'GET', path: '/api/parts/counters', access: 'api', handle: ({ res, app }) => sendJson(res, 200, { cameras: parts(app).counters() }) },
];
