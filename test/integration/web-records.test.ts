/**
 * The Review and Statistics API over HTTP, as the runtime serves it: records
 * kept by the evidence recorder from scored frames (real PNGs), listed with
 * filters, their heatmap and mask, an operator's verdict (which must be
 * same-origin JSON, and is logged under the signed-in user), defect types,
 * statistics as JSON and CSV, and the charting library's file.
 */
import { okHealth } from '../helpers/device-health.ts';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { recordsSettingsSchema } from '../../config/records.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { startHealthServer } from '../../runtime/health-server.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';
import { EvidenceRecorder } from '../../runtime/records/evidence-recorder.ts';
import { openRecordStore } from '../../runtime/records/open-store.ts';
import { createWebApp } from '../../runtime/web/web-app.ts';

const dataDir = join(t.testdir(), 'device');
const health = okHealth;

const START = Date.now() - 600_000;
const W = 16;
const H = 12;
function scored(seq: number, score: number, reject: boolean): ScoredFrame {
  const map = new Float32Array(W * H).map((_, i) => (reject && i % W > 8 ? 2 : 0.1));
  const mask = new Uint8Array(map.map((v) => (v >= 1 ? 1 : 0)));
  return {
    camera: 'cam1',
    result: { ts: START + seq * 1000, frameId: `cam1-${seq}`, seq, product: 'washer', modelVersion: 'v1', score, threshold: 1, verdict: reject ? 'reject' : 'ok', regions: [], latencyMs: 5 },
    reject: reject ? ({} as ScoredFrame['reject']) : undefined,
    timings: { decodeToInputMs: 1, scoreMs: 1 },
    outcome: { image: new Float32Array(W * H * 3).fill(128), map, mask } as unknown as ScoredFrame['outcome'],
    inputSize: { width: W, height: H },
    pixelThreshold: 1,
  };
}

const settings = recordsSettingsSchema.parse({ samplePassed: 0.5 });
const store = openRecordStore(dataDir, settings);
let coin = 0;
const recorder = new EvidenceRecorder(store, settings, { partVerdicts: false, random: () => (coin++ % 2 ? 0.9 : 0.1) });
for (let i = 1; i <= 6; i++) recorder.onScored(scored(i, i % 3 === 0 ? 1.5 : 0.4, i % 3 === 0));
await recorder.flush();

const config = deviceConfigSchema.parse({ dataDir, mqtt: { deviceId: 'line9' }, http: { port: 0 }, cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product: 'washer' }] });
const web = createWebApp({ config, health, cameras: [{ id: 'cam1', product: 'washer', source: new EventEmitter(), pipeline: new EventEmitter() }] as never }, { host: '127.0.0.1' });
const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle });
t.teardown(async () => {
  await server.close();
  await web.close();
  await recorder.close();
});
const base = server.url;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const json = (r: Reply) => JSON.parse(r.body.toString('utf8'));
interface Row {
  id: number;
  verdict: string;
  label: string | null;
  defectType: string | null;
  partId: string;
}

t.test('the recorder kept every reject and the sampled passes, with image, heatmap and mask', async (t) => {
  const page = json(await send('/api/records'));
  const rows = page.records as Row[];
  t.same(rows.map((r) => [r.partId, r.verdict]), [
    ['cam1-6', 'reject'],
    ['cam1-4', 'ok'],
    ['cam1-3', 'reject'],
    ['cam1-1', 'ok'],
  ], 'rejects 3 and 6, and passes 1 and 4 (the coin said keep to every other pass)');
  const rejected = json(await send('/api/records?verdict=reject&reviewed=no')).records as Row[];
  t.equal(rejected.length, 2);
  for (const file of ['image', 'map', 'mask']) {
    const r = await send(`/api/records/${rejected[0]!.id}/${file}`);
    t.equal(r.status, 200, file);
    t.equal(r.headers['content-type'], 'image/png');
    t.same(await sharp(r.body).metadata().then((m) => [m.width, m.height]), [W, H]);
  }
  t.equal((await send(`/api/records/${rejected[0]!.id}/other`)).status, 400);
  t.equal((await send('/api/records/999/map')).status, 404);
  t.equal((await send('/api/records?verdict=bad')).status, 400);
});

t.test('a verdict must be same-origin JSON; it is logged with who and counts as the latest label', async (t) => {
  const [row] = json(await send('/api/records?verdict=reject')).records as Row[];
  const body = JSON.stringify({ label: 'defect', type: 'scratch' });
  const path = `/api/records/${row!.id}/review`;
  t.equal((await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body })).status, 403, 'another site');
  t.equal((await send(path, { method: 'POST', headers: { 'content-type': 'text/plain', origin: base }, body })).status, 403, 'a form-like body type');
  t.equal((await send(path, { method: 'POST', headers: { 'content-type': 'application/json', referer: 'http://evil.example/page' }, body })).status, 403, 'a foreign referer');
  t.equal(store.reviews().length, 0, 'nothing was logged from refused requests');
  const ok = await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body });
  t.equal(ok.status, 200);
  t.same([json(ok).label, json(ok).defectType], ['defect', 'scratch']);
  const bad = await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ label: 'missed' }) });
  t.equal(bad.status, 409, 'a reject cannot be a missed defect');
  const undo = await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ label: null }) });
  t.equal(json(undo).label, null, 'a label can be taken away');
  t.same(store.reviews(row!.id).map((r) => [r.who, r.oldLabel, r.newLabel]), [
    ['operator', null, 'defect'],
    ['operator', 'defect', null],
  ]);
});

t.test('defect types per product', async (t) => {
  const path = '/api/products/washer/defect-types';
  const set = await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ types: ['scratch', 'dent'] }) });
  t.equal(set.status, 200);
  t.same(json(await send(path)).types, ['scratch', 'dent']);
  t.equal((await send(path, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ types: ['<b>'] }) })).status, 400);
});

t.test('statistics as JSON and CSV; uPlot served when installed', async (t) => {
  const report = json(await send('/api/statistics?hours=1'));
  const total = report.perHour.reduce((n: number, h: { parts: number }) => n + h.parts, 0);
  t.equal(total, 6, 'every part is counted, kept or not');
  t.equal(report.perHour.reduce((n: number, h: { ng: number }) => n + h.ng, 0), 2);
  t.same(report.histogram.counts.reduce((a: number, b: number) => a + b, 0), 6);
  const csv = await send('/api/statistics?hours=1&format=csv&period=shift');
  t.match(csv.headers['content-type'], /text\/csv/);
  const [header, ...lines] = csv.body.toString().trim().split('\n');
  t.equal(header, 'shift,start_ms,parts,ok,ng,no_verdict,reject_rate');
  t.same(lines.map((l) => l.split(',').slice(2, 6).map(Number)).reduce((a, b) => a.map((v, i) => v + b[i]!)), [6, 4, 2, 0]);
  const uplot = await send('/vendor/uplot/uPlot.iife.min.js');
  t.ok(uplot.status === 200 || (uplot.status === 404 && /uplot/.test(uplot.body.toString())), `uPlot: ${uplot.status}`);
  t.equal((await send('/vendor/uplot/package.json')).status, 404, 'only the two dist files');
  t.ok(existsSync(join(dataDir, 'records', 'index.sqlite')));
});
