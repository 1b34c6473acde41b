/**
 * The HTTP side of part triggers: each trigger outcome's status code, and
 * the routes against a device whose part logic is a recording stand-in.
 */
import t from 'tap';
import { triggerStatus } from '../../runtime/web/routes/parts.ts';

const verdicts: never[] = [];

t.test('trigger outcomes map to HTTP statuses', async (t) => {
  t.equal(triggerStatus({ ok: true, verdicts }), 202);
  t.equal(triggerStatus({ ok: false, error: 'overlapping_trigger', message: 'cut short', verdicts }), 202, 'the new part is accepted, the earlier one is cut short');
  t.equal(triggerStatus({ ok: false, error: 'unknown_camera', message: 'x', verdicts }), 404);
  t.equal(triggerStatus({ ok: false, error: 'invalid_trigger', message: 'x', verdicts }), 400);
  t.equal(triggerStatus({ ok: false, error: 'duplicate_part_id', message: 'x', verdicts }), 409);
  t.equal(triggerStatus({ ok: false, error: 'out_of_order_trigger', message: 'x', verdicts }), 409);
  t.equal(triggerStatus({ ok: false, error: 'not_trigger_mode', message: 'x', verdicts }), 409);
});

t.test('trigger, counters and reset over HTTP, with the API guards', async (t) => {
  const { EventEmitter } = await import('node:events');
  const { deviceConfigSchema } = await import('../../config/device.ts');
  const { startHealthServer } = await import('../../runtime/health-server.ts');
  const { RuntimeMetrics } = await import('../../runtime/metrics.ts');
  const { createWebApp } = await import('../../runtime/web/web-app.ts');
  const config = deviceConfigSchema.parse({ dataDir: t.testdir(), mqtt: { deviceId: 'line9' }, http: { port: 0 }, cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product: 'washer' }] });
  const health = () => ({ status: 'ok' as const, problems: [], device: 'line9', version: 'test', uptimeS: 1, mqtt: { state: 'online' as const, pendingRejects: 0, sentRejects: 0, refusedRejects: 0, quarantinedRejects: 0, reconnects: 0 }, products: {}, cameras: [] });
  const triggers: { camera: string; payload: unknown }[] = [];
  const resets: string[] = [];
  const counters = { ts: 1, parts: 3, ok: 2, ng: 1, noVerdict: 0, triggerErrors: 0, processingMs: { min: 10, mean: 20, max: 30 }, rejectRate: 1 / 3 };
  const parts = {
    trigger: (camera: string, payload: unknown) => {
      triggers.push({ camera, payload });
      if (camera !== 'cam1') return { ok: false as const, error: 'unknown_camera' as const, message: `no camera "${camera}"`, verdicts };
      const partId = (payload as { partId?: unknown }).partId;
      return typeof partId === 'string' ? { ok: true as const, verdicts } : { ok: false as const, error: 'invalid_trigger' as const, message: 'partId: required', verdicts };
    },
    resetCounters: (camera: string) => (camera === 'cam1' ? (resets.push(camera), true) : false),
    counters: () => ({ cam1: counters }),
  };
  const web = createWebApp({ config, health, cameras: [{ id: 'cam1', product: 'washer', source: new EventEmitter(), pipeline: new EventEmitter() }], parts }, { host: '127.0.0.1' });
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, health, metrics: new RuntimeMetrics(health), handle: web.handle });
  t.teardown(async () => {
    await server.close();
    await web.close();
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  const accepted = await post('/api/cameras/cam1/trigger', { partId: 'P-1001', delayMs: 120 });
  t.equal(accepted.status, 202);
  t.same(triggers.at(-1), { camera: 'cam1', payload: { partId: 'P-1001', delayMs: 120 } }, 'the trigger reaches the part logic as sent');
  t.equal((await post('/api/cameras/cam1/trigger', { delayMs: 1 })).status, 400, 'a malformed trigger');
  t.equal((await post('/api/cameras/cam9/trigger', { partId: 'P-1' })).status, 404, 'an unknown camera');
  const forged = await post('/api/cameras/cam1/trigger', { partId: 'P-evil' }, { origin: 'http://evil.example' });
  t.equal(forged.status, 403, 'a cross-site trigger is refused');
  const plain = await fetch(`${server.url}/api/cameras/cam1/trigger`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"partId":"P-2"}' });
  t.equal(plain.status, 403, 'a text/plain body (a form a page can send) is refused');
  t.notOk(triggers.some((x) => (x.payload as { partId?: string }).partId === 'P-evil' || (x.payload as { partId?: string }).partId === 'P-2'), 'refused triggers never reach the part logic');

  t.same(((await (await fetch(`${server.url}/api/parts/counters`)).json()) as { cameras: unknown }).cameras, { cam1: counters });
  t.equal((await post('/api/cameras/cam1/counters/reset', {})).status, 200);
  t.same(resets, ['cam1']);
  t.equal((await post('/api/cameras/cam9/counters/reset', {})).status, 404);
  const cameras = (await (await fetch(`${server.url}/api/cameras`)).json()) as { cameras: unknown[] };
  t.ok(Array.isArray(cameras.cameras));
});
