/**
 * The MQTT publisher against real brokers: Debian's mosquitto and the
 * embedded aedes broker. Status online/offline (retained, last will on
 * SIGKILL), results, rejects, masks and health arrive with valid payloads;
 * TLS with a client certificate and a password works and a wrong password
 * gives an `offline` state with an `auth` fault.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { createLogger } from '../../config/logger.ts';
import { mqttConfigSchema, type MqttConfigInput } from '../../config/mqtt.ts';
import { startEmbeddedBroker } from '../../runtime/mqtt/embedded-broker.ts';
import {
  decodeMaskRle,
  encodeMaskRle,
  healthPayloadSchema,
  maskPayloadSchema,
  rejectPayloadSchema,
  resultPayloadSchema,
  statusPayloadSchema,
  type ResultPayload,
  type StatusPayload,
} from '../../runtime/mqtt/payloads.ts';
import { MqttPublisher, type PublisherStateChange, type RejectAcked } from '../../runtime/mqtt/publisher.ts';
import { startMosquitto } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';

const quiet = createLogger('mqtt-test').child({}, { level: 'silent' });
const fixture = new URL('../fixtures/reject-publisher-child.ts', import.meta.url).pathname;
const device = { version: '0.1.0', cameras: ['cam1', 'cam2'], products: ['bottle-cap'] };
let deviceCounter = 0;

async function startPublisher(t: Test, url: string, extra: Partial<MqttConfigInput> = {}) {
  const deviceId = `dev${process.pid}-${++deviceCounter}`;
  const config = mqttConfigSchema.parse({ deviceId, reconnect: { initialMs: 100, maxMs: 500 }, connectTimeoutMs: 3000, ...extra });
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-pub-'));
  const publisher = new MqttPublisher({ config, url, outboxDir, device, logger: quiet });
  const states: PublisherStateChange[] = [];
  publisher.on('state', (s) => states.push(s));
  t.teardown(() => publisher.close({ timeoutMs: 1000 }));
  await publisher.start();
  return { publisher, deviceId, states, outboxDir };
}

const result = (i: number, verdict: 'ok' | 'reject' = 'ok'): ResultPayload => ({
  ts: Date.now(),
  frameId: `cam1-${i}`,
  seq: i,
  product: 'bottle-cap',
  modelVersion: '3',
  score: verdict === 'reject' ? 2.4 : 0.3,
  threshold: 1.2,
  verdict,
  regions: verdict === 'reject' ? [{ x: 3, y: 4, w: 10, h: 8, area: 61, maxScore: 2.4 }] : [],
  latencyMs: 28,
});

/** The basic flow, run against each broker. */
async function basicFlow(t: Test, url: string) {
  const { publisher, deviceId } = await startPublisher(t, url);
  const base = `linesight/${deviceId}`;
  const collector = await MqttCollector.connect(url, [`${base}/#`]);
  t.teardown(() => collector.close());
  await publisher.waitForState('online', 5000);

  const status = await collector.waitForJson<StatusPayload>(`${base}/status`, (s) => s.state === 'online');
  t.same(statusPayloadSchema.parse(status), { state: 'online', ...device }, 'retained online status');

  const acked: RejectAcked[] = [];
  publisher.on('rejectAcked', (a) => acked.push(a));
  t.ok(publisher.publishResult('cam1', result(1)));
  t.ok(publisher.publishResult('cam1', result(2, 'reject')));
  const stored = [];
  for (let i = 0; i < 3; i++) {
    stored.push(await publisher.publishReject({ ts: 1_700_000_000_000 + i, frameId: `cam1-${i}`, score: 2.4, threshold: 1.2, camera: i === 1 ? 'cam2' : 'cam1', product: 'bottle-cap' }));
  }
  t.same(stored.map((s) => s.seq), [1, 2, 3]);
  publisher.publishHealth('cam1', { fps: 14.9, decodeErrors: 0, reconnects: 1, droppedFrames: 3, p50Ms: 27, p99Ms: 41 });
  const mask = Uint8Array.from({ length: 16 * 8 }, (_, i) => (i % 16 > 4 && i % 16 < 9 && i > 32 ? 1 : 0));
  publisher.publishMask('cam1', { ts: Date.now(), frameId: 'cam1-2', ...encodeMaskRle(mask, 16, 8) });
  const png = await sharp(Buffer.from(mask.map((v) => v * 255)), { raw: { width: 16, height: 8, channels: 1 } }).png().toBuffer();
  publisher.publishMask('cam1', png);

  const results = await collector.waitForCount(`${base}/cam1/result`, 2);
  t.same(results.map((m) => resultPayloadSchema.parse(JSON.parse(m.payload.toString())).frameId), ['cam1-1', 'cam1-2']);
  t.equal(results[0]?.qos, 0, 'results default to QoS 0');
  const rejectsCam1 = await collector.waitForCount(`${base}/cam1/reject`, 2);
  const rejectsCam2 = await collector.waitForCount(`${base}/cam2/reject`, 1);
  const rejects = [...rejectsCam1, ...rejectsCam2].map((m) => rejectPayloadSchema.parse(JSON.parse(m.payload.toString())));
  t.same(rejects.map((r) => r.seq).sort(), [1, 2, 3]);
  t.same(rejects.find((r) => r.seq === 2), { ...stored[1] }, 'the PLC gets exactly the stored reject');
  t.ok(rejectsCam1.every((m) => m.qos === 1), 'rejects travel at QoS 1');
  t.ok(await publisher.waitForDrain(5000), 'the outbox empties once the broker acknowledged');
  t.same(acked.map((a) => a.seq), [1, 2, 3], 'rejectAcked in outbox order');
  t.equal(acked[0]?.frameTs, 1_700_000_000_000);
  t.ok(acked.every((a) => a.ackedAt >= Date.now() - 10_000));

  const [health] = await collector.waitForCount(`${base}/cam1/health`, 1);
  t.equal(healthPayloadSchema.parse(JSON.parse(health!.payload.toString())).fps, 14.9);
  const masks = await collector.waitForCount(`${base}/cam1/mask`, 2);
  const rle = maskPayloadSchema.parse(JSON.parse(masks[0]!.payload.toString()));
  t.same(decodeMaskRle(rle), mask, 'the RLE mask decodes to the published mask');
  t.same(masks[1]?.payload, png, 'PNG masks are sent as bytes');

  // A subscriber that comes later gets the retained status and health.
  const late = await MqttCollector.connect(url, [`${base}/status`, `${base}/+/health`]);
  t.teardown(() => late.close());
  const [lateStatus] = await late.waitForCount(`${base}/status`, 1);
  t.equal(lateStatus?.retain, true);
  t.equal(JSON.parse(lateStatus!.payload.toString()).state, 'online');
  t.equal((await late.waitForCount(`${base}/cam1/health`, 1))[0]?.retain, true);

  // Bad payloads are refused before anything is sent.
  t.throws(() => publisher.publishResult('cam1', { ...result(3), verdict: 'maybe' as 'ok' }), { name: 'PayloadError', message: /key "verdict"/ });
  t.throws(() => publisher.publishResult('cam/1', result(3)), { name: 'TopicIdError' });
  t.throws(() => publisher.publishMask('cam1', Buffer.from('not a png')), /not a PNG image/);
  await t.rejects(publisher.publishReject({ ts: 1, frameId: 'x', score: 1, threshold: 1, camera: 'cam1', product: 'Bottle Cap' }), { message: /key "product"/ });

  const stats = publisher.stats();
  t.match(stats, { state: 'online', pendingRejects: 0, sentRejects: 3, lastRejectSeq: 3, publishedResults: 2, publishedMasks: 2, publishedHealth: 1 });

  await publisher.close({ timeoutMs: 2000 });
  t.equal(publisher.state, 'closed');
  const offline = await collector.waitForJson<StatusPayload>(`${base}/status`, (s) => s.state === 'offline');
  t.same(offline, { state: 'offline', ...device }, 'close publishes the offline status');
  t.equal(collector.messages(`${base}/cam1/result`).length, 2, 'the refused result was not sent');
}

function spawnChild(t: Test, options: Record<string, unknown>): { child: ChildProcess; lines: string[]; waitLine: (re: RegExp, timeoutMs?: number) => Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(options)], {
    env: { ...process.env, LINESIGHT_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  const waitLine = (re: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (!hit) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`child did not print ${re} within ${timeoutMs} ms; printed: ${lines.join(' | ')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, lines, waitLine };
}

async function lastWillOnKill(t: Test, url: string) {
  const deviceId = `lwt${process.pid}-${++deviceCounter}`;
  const collector = await MqttCollector.connect(url, [`linesight/${deviceId}/status`]);
  t.teardown(() => collector.close());
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-lwt-'));
  const { child, waitLine } = spawnChild(t, { mode: 'publish', url, deviceId, outboxDir, camera: 'cam1', count: 0, framePrefix: 'f' });
  await waitLine(/^state online$/);
  await collector.waitForJson<StatusPayload>(`linesight/${deviceId}/status`, (s) => s.state === 'online');
  child.kill('SIGKILL');
  const will = await collector.waitForJson<StatusPayload>(`linesight/${deviceId}/status`, (s) => s.state === 'offline');
  t.same(statusPayloadSchema.parse(will), { state: 'offline', version: '0.0.0-test', cameras: ['cam1'], products: ['bottle-cap'] }, 'the broker publishes the last will');
  const late = await MqttCollector.connect(url, [`linesight/${deviceId}/status`]);
  t.teardown(() => late.close());
  const [retained] = await late.waitForCount(`linesight/${deviceId}/status`, 1);
  t.equal(JSON.parse(retained!.payload.toString()).state, 'offline', 'the last will is retained');
}

t.test('mosquitto', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  await t.test('basic flow', (t) => basicFlow(t, broker.url));
  await t.test('last will: SIGKILLed publisher shows offline', (t) => lastWillOnKill(t, broker.url));
  await t.test('result QoS 1 is honoured', async (t) => {
    const { publisher, deviceId } = await startPublisher(t, broker.url, { resultQos: 1 });
    const collector = await MqttCollector.connect(broker.url, [`linesight/${deviceId}/+/result`]);
    t.teardown(() => collector.close());
    await publisher.waitForState('online', 5000);
    publisher.publishResult('cam1', result(1));
    const [m] = await collector.waitForCount(`linesight/${deviceId}/cam1/result`, 1);
    t.equal(m?.qos, 1);
  });
});

t.test('embedded aedes broker', async (t) => {
  const broker = await startEmbeddedBroker({ port: 0, logger: quiet });
  t.teardown(() => broker.close());
  t.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  await t.test('basic flow', (t) => basicFlow(t, broker.url));
  await t.test('last will: SIGKILLed publisher shows offline', (t) => lastWillOnKill(t, broker.url));
  await t.test('a taken port gives a clear error', async (t) => {
    await t.rejects(startEmbeddedBroker({ port: broker.port, logger: quiet }), { name: 'EmbeddedBrokerError', message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${broker.port}: the port is already in use`) });
  });
});

t.test('TLS with CA, client certificate and password', async (t) => {
  const broker = await startMosquitto({ tls: true });
  t.teardown(() => broker.dispose());
  const tls = broker.tls!;
  const clientTls = { ca: tls.caFile, cert: tls.clientCertFile, key: tls.clientKeyFile };

  await t.test('the right credentials connect and rejects arrive', async (t) => {
    const { publisher, deviceId } = await startPublisher(t, broker.url, { url: broker.url, username: tls.username, password: tls.password, tls: clientTls });
    const collector = await MqttCollector.connect(broker.url, [`linesight/${deviceId}/#`], {
      ca: await readFile(tls.caFile),
      cert: await readFile(tls.clientCertFile),
      key: await readFile(tls.clientKeyFile),
      username: tls.username,
      password: tls.password,
    });
    t.teardown(() => collector.close());
    await publisher.waitForState('online', 5000);
    await publisher.publishReject({ ts: 1, frameId: 'cam1-1', score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });
    const [m] = await collector.waitForCount(`linesight/${deviceId}/cam1/reject`, 1);
    t.equal(rejectPayloadSchema.parse(JSON.parse(m!.payload.toString())).seq, 1);
  });

  await t.test('a wrong password gives offline with an auth fault, and retries', async (t) => {
    const { publisher, states } = await startPublisher(t, broker.url, { url: broker.url, username: tls.username, password: 'wrong-password', tls: clientTls });
    const change = await publisher.waitForState('offline', 5000);
    t.equal(change?.fault, 'auth');
    t.match(change?.reason, /refused the login of user "plc-gateway": (bad user name or password|not authorized) \(check mqtt\.username, mqtt\.password/);
    t.equal(publisher.stats().lastFault, 'auth');
    await publisher.waitForState('connecting', 3000);
    t.ok(publisher.stats().reconnects >= 1, 'it keeps trying, so fixing the account on the broker is enough');
    t.notOk(states.some((s) => s.state === 'online'));
  });

  await t.test('without a client certificate the TLS fault is named', async (t) => {
    const { publisher } = await startPublisher(t, broker.url, { url: broker.url, username: tls.username, password: tls.password, tls: { ca: tls.caFile } });
    const change = await publisher.waitForState('offline', 5000);
    t.equal(change?.fault, 'tls');
    t.match(change?.reason, /failed: the broker requires a client certificate \(set mqtt\.tls\.cert and mqtt\.tls\.key\)/);
  });

  await t.test('an unknown CA is a TLS fault', async (t) => {
    const { publisher } = await startPublisher(t, broker.url, { url: broker.url, username: tls.username, password: tls.password, tls: { cert: tls.clientCertFile, key: tls.clientKeyFile } });
    const change = await publisher.waitForState('offline', 5000);
    t.equal(change?.fault, 'tls');
    t.match(change?.reason, /TLS with broker mqtts:\/\/127\.0\.0\.1:\d+ failed: the broker's certificate (is not signed by a trusted CA|chain ends in an untrusted CA) \(set mqtt\.tls\.ca/);
  });

  await t.test('a missing certificate file is named at start', async (t) => {
    const config = mqttConfigSchema.parse({ deviceId: 'x', url: broker.url, tls: { ca: '/nonexistent/ca.pem' } });
    const publisher = new MqttPublisher({ config, outboxDir: await mkdtemp(join(tmpdir(), 'linesight-pub-')), device, logger: quiet });
    await t.rejects(publisher.start(), { name: 'ConfigError', message: /mqtt\.tls\.ca: cannot read "\/nonexistent\/ca\.pem"/ });
  });
});

t.test('an unreachable broker gives offline with a network fault', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const { publisher } = await startPublisher(t, `mqtt://127.0.0.1:${port}`, { outboxMax: 2 });
  const refused: Error[] = [];
  publisher.on('rejectRefused', (err) => refused.push(err));
  const change = await publisher.waitForState('offline', 5000);
  t.equal(change?.fault, 'network');
  t.match(change?.reason, /cannot reach broker mqtt:\/\/127\.0\.0\.1:\d+: connection refused .*; retrying in \d+\.\d s/);
  t.equal(publisher.publishResult('cam1', result(1)), false, 'results are dropped while offline');
  t.equal(publisher.stats().droppedResults, 1);
  const stored = await publisher.publishReject({ ts: 1, frameId: 'cam1-1', score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });
  t.equal(stored.seq, 1, 'a reject is stored even while offline');
  t.equal(publisher.stats().pendingRejects, 1);
  await publisher.publishReject({ ts: 2, frameId: 'cam1-2', score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });
  await t.rejects(publisher.publishReject({ ts: 3, frameId: 'cam1-3', score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' }), { name: 'OutboxFullError', message: /frame cam1-3 was NOT stored/ });
  t.equal(refused.length, 1, 'a refused reject is signalled');
  t.match(publisher.stats(), { pendingRejects: 2, refusedRejects: 1 });
  await publisher.close({ timeoutMs: 300 });
  t.equal(publisher.state, 'closed', 'close finishes while offline');
});

t.test('unreadable outbox entries found at start are reported in the stats', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-pub-'));
  await writeFile(join(outboxDir, '0000000000000007.json.corrupt'), 'garbage');
  const config = mqttConfigSchema.parse({ deviceId: `q${process.pid}`, reconnect: { initialMs: 100, maxMs: 500 }, connectTimeoutMs: 3000 });
  const publisher = new MqttPublisher({ config, url: `mqtt://127.0.0.1:${port}`, outboxDir, device, logger: quiet });
  t.teardown(() => publisher.close({ timeoutMs: 300 }));
  await publisher.start();
  t.match(publisher.stats(), { quarantinedRejects: 1, pendingRejects: 0, lastRejectSeq: 7 });
  t.equal((await publisher.publishReject({ ts: 1, frameId: 'cam1-1', score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' })).seq, 8, 'the set-aside seq is not reused');
});
