/**
 * Review and statistics routes: the gallery of kept records with filters
 * and paging, each record's image, heatmap and mask, the operator's verdict
 * on a record (who = the signed-in user), a product's defect types,
 * production statistics and their export as JSON or CSV, and the charting
 * library the Statistics page draws with (served from node_modules).
 *
 *   GET  /api/records?camera&product&version&verdict&from&to&reviewed&label&offset&limit
 *   GET  /api/records/:id/image|map|mask
 *   POST /api/records/:id/review {label: defect|good|missed|null, type?}
 *   GET|POST /api/products/:product/defect-types {types: [...]}
 *   GET  /api/statistics?camera&product&hours&format=json|csv&period=hour|shift
 *   GET  /vendor/uplot/:file
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { recordsSettingsOf } from '../../../config/records.ts';
import { REVIEW_LABELS, type RecordFilter, type RecordVerdict, type ReviewLabel } from '../../../product/records-index.ts';
import { openRecordStore } from '../../records/open-store.ts';
import { RecordLabelError, type RecordStore } from '../../records/record-store.ts';
import { statisticsReport, talliesCsv } from '../../records/statistics-report.ts';
import { basicCredentials, bearerToken } from '../auth.ts';
import { ApiError, readJson, sendJson } from '../http-util.ts';
import { optionalNumber, productParam } from '../params.ts';
import type { Route } from '../router.ts';
import type { WebContext } from '../web-context.ts';

function storeOf(app: WebContext): RecordStore {
  return openRecordStore(app.config.dataDir, recordsSettingsOf(app.config));
}

const VERDICTS: readonly RecordVerdict[] = ['ok', 'reject', 'no_verdict'];
const FILES = ['image', 'map', 'mask'] as const;

function oneOf<T extends string>(value: string | null, allowed: readonly T[], name: string): T | undefined {
  if (value === null || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new ApiError(400, `${name} "${value}": use one of ${allowed.join(', ')}`);
  return value as T;
}

function text(value: string | null): string | undefined {
  return value === null || value === '' ? undefined : value;
}

/** The gallery's filter from a query string. */
export function recordFilter(q: URLSearchParams): RecordFilter {
  const reviewed = oneOf(q.get('reviewed'), ['yes', 'no'] as const, 'reviewed');
  return {
    camera: text(q.get('camera')),
    product: text(q.get('product')),
    version: text(q.get('version')),
    verdict: oneOf(q.get('verdict'), VERDICTS, 'verdict'),
    label: oneOf(q.get('label'), REVIEW_LABELS, 'label'),
    from: optionalNumber(q.get('from'), 'from', 0, 1e15),
    to: optionalNumber(q.get('to'), 'to', 0, 1e15),
    reviewed: reviewed === undefined ? undefined : reviewed === 'yes',
  };
}

const query = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://device').searchParams;

function recordId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id < 1) throw new ApiError(400, `"${raw}" is not a record id`);
  return id;
}

/** Who gives a verdict: the signed-in user; "operator" when the UI asks for no sign-in. */
export function reviewerOf(app: WebContext, req: IncomingMessage): string {
  if (!app.auth.required) return 'operator';
  const basic = basicCredentials(req.headers.authorization);
  if (basic) return basic.username;
  if (bearerToken(req.headers.authorization) !== undefined) return 'api-token';
  return app.config.http.auth?.username ?? 'token';
}

function reviewInput(body: Record<string, unknown>): { label: ReviewLabel | null; type: string | null } {
  const label = body.label;
  if (label !== null && (typeof label !== 'string' || !(REVIEW_LABELS as readonly string[]).includes(label))) {
    throw new ApiError(400, `label ${JSON.stringify(label)}: use "defect", "good", "missed", or null to take a label away`);
  }
  const type = body.type ?? null;
  if (type !== null && (typeof type !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$/.test(type))) throw new ApiError(400, 'type: a defect type is up to 40 letters, digits, spaces, _ or -');
  return { label: label as ReviewLabel | null, type };
}

let uplotDir: string | undefined;
function uplotDist(): string {
  uplotDir ??= dirname(createRequire(import.meta.url).resolve('uplot'));
  return uplotDir;
}

export const recordRoutes: Route<WebContext>[] = [
  {
    method: 'GET',
    path: '/api/records',
    access: 'api',
    handle({ req, res, app }) {
      const q = query(req);
      const page = storeOf(app).list(recordFilter(q), { offset: optionalNumber(q.get('offset'), 'offset', 0, 1e9), limit: optionalNumber(q.get('limit'), 'limit', 1, 1000) });
      sendJson(res, 200, page);
    },
  },
  {
    method: 'GET',
    path: '/api/records/:id/:file',
    access: 'api',
    async handle({ res, app, params }) {
      const kind = oneOf(params.file!, FILES, 'file');
      const row = storeOf(app).get(recordId(params.id!));
      if (!row || !kind) throw new ApiError(404, `there is no record ${params.id}`);
      let body: Buffer;
      try {
        body = await readFile(storeOf(app).filePath(row, kind));
      } catch {
        throw new ApiError(404, `record ${row.id} has no ${kind} (no frame was scored for it)`);
      }
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private, max-age=3600', 'content-length': body.length });
      res.end(body);
    },
  },
  {
    method: 'POST',
    path: '/api/records/:id/review',
    body: 'json',
    access: 'api',
    async handle({ req, res, app, params }) {
      const id = recordId(params.id!);
      const input = reviewInput(await readJson(req));
      try {
        sendJson(res, 200, storeOf(app).review(id, { ...input, who: reviewerOf(app, req) }));
      } catch (err) {
        if (err instanceof RecordLabelError) throw new ApiError(/no record/.test(err.message) ? 404 : 409, err.message);
        throw err;
      }
    },
  },
  {
    method: 'GET',
    path: '/api/products/:product/defect-types',
    access: 'api',
    handle({ res, app, params }) {
      const product = productParam(params.product!);
      sendJson(res, 200, { product, types: storeOf(app).defectTypes(product) });
    },
  },
  {
    method: 'POST',
    path: '/api/products/:product/defect-types',
    body: 'json',
    access: 'api',
    async handle({ req, res, app, params }) {
      const product = productParam(params.product!);
      const { types } = await readJson(req);
      if (!Array.isArray(types) || types.length > 9 || !types.every((x) => typeof x === 'string' && /^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$/.test(x))) {
        throw new ApiError(400, 'types: up to 9 names (keys 1-9) of up to 40 letters, digits, spaces, _ or -');
      }
      storeOf(app).setDefectTypes(product, types as string[]);
      sendJson(res, 200, { product, types });
    },
  },
  {
    method: 'GET',
    path: '/api/statistics',
    access: 'api',
    handle({ req, res, app }) {
      const q = query(req);
      const hours = optionalNumber(q.get('hours'), 'hours', 1, 24 * 366) ?? 24;
      const to = Date.now();
      const report = statisticsReport(storeOf(app).db, recordsSettingsOf(app.config), { from: to - hours * 3_600_000, to: to + 1, camera: text(q.get('camera')), product: text(q.get('product')) });
      if (oneOf(q.get('format'), ['json', 'csv'] as const, 'format') === 'csv') {
        const period = oneOf(q.get('period'), ['hour', 'shift'] as const, 'period') ?? 'hour';
        const body = talliesCsv(period === 'hour' ? report.perHour : report.perShift, period);
        res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="linesight-${period}.csv"`, 'cache-control': 'no-store' });
        res.end(body);
        return;
      }
      sendJson(res, 200, { ...report, store: storeOf(app).stats() });
    },
  },
  {
    method: 'GET',
    path: '/vendor/uplot/:file',
    access: 'open',
    async handle({ res, params }) {
      const name = params.file!;
      if (name !== 'uPlot.iife.min.js' && name !== 'uPlot.min.css') throw new ApiError(404, `no such file: /vendor/uplot/${name}`);
      let body: Buffer;
      try {
        body = await readFile(join(uplotDist(), name));
      } catch {
        throw new ApiError(404, 'the charting library (npm package uplot) is not installed; run npm ci');
      }
      res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8', 'cache-control': 'max-age=86400', 'content-length': body.length });
      res.end(body);
    },
  },
];
