/**
 * The Review and Statistics pages in Debian's headless Chromium: records
 * kept by the evidence recorder appear in the gallery, the operator labels
 * them from the keyboard (g good, d defect, a number for a defect type,
 * j to move, u to undo), every verdict lands in the review log, and the
 * Statistics page shows the counts per shift and hour. The Statistics
 * page's screenshot is written to docs/ (the Review page's comes from
 * review-update.test.ts, which shows the product update too).
 */
import { okHealth } from '../helpers/device-health.ts';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { recordsSettingsSchema } from '../../config/records.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { startHealthServer } from '../../runtime/health-server.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';
import { EvidenceRecorder } from '../../runtime/records/evidence-recorder.ts';
import { openRecordStore } from '../../runtime/records/open-store.ts';
import { ProductionLog } from '../../runtime/records/production-log.ts';
import { createWebApp } from '../../runtime/web/web-app.ts';
import { launchChromium, screenshot } from '../helpers/browser.ts';

const dataDir = join(t.testdir(), 'device');
const S = 96;
const NOW = Date.now();

/** A washer-like part: a bright ring on a dark belt, with a dark notch when defective. */
function scored(seq: number, defect: boolean): ScoredFrame {
  const image = new Float32Array(S * S * 3);
  const map = new Float32Array(S * S);
  const notch = { x: 20 + ((seq * 17) % 50), y: 30 + ((seq * 11) % 30) };
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const r = Math.hypot(x - S / 2, y - S / 2);
      let v = r > 18 && r < 40 ? 200 - r : 40;
      const d = Math.hypot(x - notch.x, y - notch.y);
      if (defect && d < 5) v = 60;
      image.fill(v, (y * S + x) * 3, (y * S + x) * 3 + 3);
      map[y * S + x] = (defect ? 2.2 : 0.6) * Math.exp(-(d * d) / 60) + 0.1;
    }
  }
  const mask = new Uint8Array(map.map((v) => (v >= 1 ? 1 : 0)));
  const score = defect ? 1.4 + (seq % 5) / 10 : 0.5 + (seq % 4) / 20;
  return {
    camera: seq % 2 ? 'cam1' : 'cam2',
    result: { ts: NOW - (40 - seq) * 60_000, frameId: `f${seq}`, seq, product: 'washer', modelVersion: 'v3', score, threshold: 1, verdict: defect ? 'reject' : 'ok', regions: [], latencyMs: 4 },
    reject: defect ? ({} as ScoredFrame['reject']) : undefined,
    timings: { decodeToInputMs: 1, scoreMs: 1 },
    outcome: { image, map, mask } as unknown as ScoredFrame['outcome'],
    inputSize: { width: S, height: S },
    pixelThreshold: 1,
  };
}

const settings = recordsSettingsSchema.parse({ samplePassed: 1, driftReferenceParts: 20 });
const store = openRecordStore(dataDir, settings);
store.setDefectTypes('washer', ['scratch', 'notch']);
const recorder = new EvidenceRecorder(store, settings, { partVerdicts: false });
for (let i = 1; i <= 12; i++) recorder.onScored(scored(i, i % 3 !== 0));
await recorder.flush();
// A day of production on two cameras, with more rejects in the afternoon.
const log = new ProductionLog(store.db, { keepScores: 50_000, referenceParts: 20 });
for (let m = 0; m < 24 * 60; m += 3) {
  const ts = NOW - 24 * 3_600_000 + m * 60_000;
  const reject = (m * 7) % 100 < (new Date(ts).getHours() >= 14 && new Date(ts).getHours() < 22 ? 6 : 2);
  const score = reject ? 1.3 : 0.45 + ((m * 13) % 40) / 100 + m / 24 / 60 / 10;
  log.add({ ts, camera: m % 2 ? 'cam1' : 'cam2', product: 'washer', version: 'v3', verdict: reject ? 'reject' : 'ok', score, threshold: 1 });
}
log.flush();

const config = deviceConfigSchema.parse({ dataDir, mqtt: { deviceId: 'line9' }, http: { port: 0 }, cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product: 'washer' }] });
const health = okHealth;
const web = createWebApp({ config, health, cameras: [{ id: 'cam1', product: 'washer', source: new EventEmitter(), pipeline: new EventEmitter() }] as never }, { host: '127.0.0.1' });
const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle });
const browser = await launchChromium();
t.teardown(async () => {
  await browser.close();
  await server.close();
  await web.close();
  await recorder.close();
});

t.test('the operator labels records from the keyboard; every verdict is logged', async (t) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${server.url}/#review`);
  await page.selectOption('[data-testid="review-reviewed"]', 'no');
  const tiles = page.locator('[data-testid="review-tile"]');
  await t.resolves(tiles.first().waitFor());
  t.equal(await tiles.count(), 12);
  const ids = await tiles.evaluateAll((nodes) => nodes.map((n) => Number((n as HTMLElement).dataset.id)));
  const labelOf = (id: number) => store.get(id)!;

  await page.keyboard.press('g');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="review-tile"][data-id="${id}"]`)?.getAttribute('data-label') === 'good', ids[0]);
  await page.keyboard.press('2');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="review-tile"][data-id="${id}"]`)?.getAttribute('data-label') === 'defect', ids[1]);
  await page.keyboard.press('d');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="review-tile"][data-id="${id}"]`)?.getAttribute('data-label') === 'defect', ids[2]);
  await page.keyboard.press('u');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="review-tile"][data-id="${id}"]`)?.getAttribute('data-label') === '', ids[2]);
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('d');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="review-tile"][data-id="${id}"]`)?.getAttribute('data-label') === 'missed', ids[3]);

  t.same([labelOf(ids[0]!).label, labelOf(ids[1]!).label, labelOf(ids[1]!).defectType, labelOf(ids[2]!).label, labelOf(ids[3]!).label], ['good', 'defect', 'notch', null, 'missed'], 'd on a passed part is a missed defect');
  t.same(store.reviews().map((r) => [r.recordId, r.oldLabel, r.newLabel, r.who]), [
    [ids[0], null, 'good', 'operator'],
    [ids[1], null, 'defect', 'operator'],
    [ids[2], null, 'defect', 'operator'],
    [ids[2], 'defect', null, 'operator'],
    [ids[3], null, 'missed', 'operator'],
  ]);
  await page.locator('[data-testid="review-detail"] .pair img').first().click();
  await t.resolves(page.locator('[data-testid="review-full"] img').waitFor(), 'full size on click');
  await page.locator('[data-testid="review-full"]').click();
  await screenshot(page, 'ui-review-labels.png');
  t.same(problems, [], 'no script errors');
});

t.test('the Statistics page shows counts per shift and hour', async (t) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await page.goto(`${server.url}/#statistics`);
  const rows = page.locator('[data-testid="stats-hours"] tbody tr');
  await t.resolves(rows.first().waitFor());
  t.ok((await rows.count()) >= 24, 'a row per hour of the day');
  t.ok((await page.locator('[data-testid="stats-shifts"] tbody tr').count()) >= 3);
  t.match(await page.locator('[data-testid="stats-drift"]').textContent(), /washer v3: median moved/);
  t.match(await page.locator('[data-testid="stats-csv-shift"]').getAttribute('href'), /format=csv&period=shift/);
  // Plots when uPlot is installed; without it the page says so and shows the tables.
  const plotted = (await page.request.get(`${server.url}/vendor/uplot/uPlot.iife.min.js`)).ok();
  if (plotted) t.equal(await page.locator('.uplot').count(), 2, 'the rate and histogram plots');
  else t.match(await page.locator('[data-testid="stats-error"]').textContent(), /npm package uplot/);
  t.comment(plotted ? 'uPlot installed: plots drawn' : 'uPlot not installed: tables only (the screenshot is not rewritten)');
  if (plotted) await page.screenshot({ path: join(import.meta.dirname, '..', '..', 'docs', 'ui-statistics.png'), fullPage: true });
});
