/**
 * The embedded broker keeps what it acknowledges and lets only the runtime
 * speak for the device:
 * - a QoS 1 reject acknowledged while the PLC was away reaches the PLC's
 *   persistent session after the broker restarted (closed, or its process
 *   SIGKILLed), also through the runtime's own publisher and outbox;
 * - with credentials, anonymous clients are refused; other clients cannot
 *   publish fake rejects or status, take over the runtime's client id, or
 *   store oversized or too many retained messages; a network bind without
 *   credentials is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import t, { type Test } from 'tap';
import { createLogger } from '../../config/logger.ts';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerOptions } from '../../runtime/mqtt/embedded-broker.ts';
import { MqttPublisher } from '../../runtime/mqtt/publisher.ts';

const quiet = createLogger('broker-test').child({}, { level: 'silent' });
const CHILD = new URL('../fixtures/embedded-broker-child.ts', import.meta.url).pathname;
const REJECTS = 'linesight/line3/+/reject';

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Connects without reconnecting, so a refused or dropped connection stays visible. */
function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...options });
}

/** Messages a client receives, per topic. */
function collect(client: MqttClient): Map<string, Buffer[]> {
  const received = new Map<string, Buffer[]>();
  client.on('message', (topic, payload) => received.set(topic, [...(received.get(topic) ?? []), payload]));
  return received;
}

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** A PLC with a persistent session subscribes once, then goes away. */
async function plcSubscribesAndLeaves(url: string, clientId: string, filter = REJECTS, extra: IClientOptions = {}): Promise<void> {
  const plc = await connect(url, { clientId, clean: false, ...extra });
  await plc.subscribeAsync(filter, { qos: 1 });
  await plc.endAsync();
}

/** The PLC comes back with its persistent session and reports what it receives. */
async function plcReturns(url: string, clientId: string, extra: IClientOptions = {}): Promise<{ plc: MqttClient; received: Map<string, Buffer[]> }> {
  const plc = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clientId, clean: false, ...extra });
  const received = collect(plc);
  await new Promise<void>((resolve, reject) => {
    plc.once('connect', () => resolve());
    plc.once('error', reject);
  });
  return { plc, received };
}

async function startChild(options: EmbeddedBrokerOptions): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`broker process exited with ${code}`)));
  });
  return { child, url: `mqtt://127.0.0.1:${port}` };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

t.test('a reject acknowledged while the PLC was away reaches it after a broker restart', async (t) => {
  const dataDir = await tempDir('ls-broker-store-');
  let broker = await startEmbeddedBroker({ port: 0, dataDir, logger: quiet });
  await plcSubscribesAndLeaves(broker.url, 'plc-restart');
  const runtime = await connect(broker.url, { clientId: 'linesight-line3' });
  await runtime.publishAsync('linesight/line3/cam1/reject', '{"seq":1}', { qos: 1 });
  await runtime.endAsync();
  await broker.close();

  broker = await startEmbeddedBroker({ port: 0, dataDir, logger: quiet });
  t.teardown(() => broker.close());
  const { plc, received } = await plcReturns(broker.url, 'plc-restart');
  t.teardown(() => plc.end(true));
  await until(() => received.has('linesight/line3/cam1/reject'), 'the reject');
  t.same(received.get('linesight/line3/cam1/reject')?.map(String), ['{"seq":1}'], 'delivered once, after the restart');
});

t.test('in memory only (no data directory), the same reject is lost: what the store fixes', async (t) => {
  let broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0, logger: quiet });
  await plcSubscribesAndLeaves(broker.url, 'plc-memory');
  const runtime = await connect(broker.url, { clientId: 'linesight-line3' });
  await runtime.publishAsync('linesight/line3/cam1/reject', '{"seq":1}', { qos: 1 });
  await runtime.endAsync();
  await broker.close();
  broker = await startEmbeddedBroker({ port: 0, logger: quiet });
  t.teardown(() => broker.close());
  const { plc, received } = await plcReturns(broker.url, 'plc-memory');
  t.teardown(() => plc.end(true));
  await settle(500);
  t.equal(received.size, 0);
});

t.test('acknowledged rejects survive SIGKILL of the broker process', async (t) => {
  const dataDir = await tempDir('ls-broker-kill-');
  const rounds = 10;
  let first = await startChild({ port: 0, dataDir });
  await plcSubscribesAndLeaves(first.url, 'plc-kill');
  let delivered = 0;
  for (let round = 1; round <= rounds; round++) {
    const runtime = await connect(first.url, { clientId: 'linesight-line3' });
    await runtime.publishAsync('linesight/line3/cam1/reject', `{"seq":${round}}`, { qos: 1 });
    runtime.end(true);
    // Killed as soon as the PUBACK arrived (aedes alone acknowledges before storing: 4 of 10 were lost).
    await kill(first.child);
    first = await startChild({ port: 0, dataDir });
    const { plc, received } = await plcReturns(first.url, 'plc-kill');
    await until(() => received.has('linesight/line3/cam1/reject'), `reject ${round}`).catch(() => undefined);
    delivered += received.get('linesight/line3/cam1/reject')?.length ?? 0;
    await plc.endAsync();
  }
  await kill(first.child);
  t.equal(delivered, rounds, `${rounds} SIGKILLs after the acknowledgement, ${delivered} rejects delivered`);
});

t.test('the runtime: a reject decided while no PLC is connected, runtime and broker restarted, the PLC gets it', async (t) => {
  const dataDir = await tempDir('ls-broker-runtime-');
  const outboxDir = await tempDir('ls-broker-outbox-');
  const config = mqttConfigSchema.parse({ deviceId: 'line3', reconnect: { initialMs: 100, maxMs: 500 }, connectTimeoutMs: 3000 });
  const device = { version: '0.1.0', cameras: ['cam1'], products: ['bottle-cap'] };
  const runtimeClientId = 'linesight-line3';

  const brokerOptions: EmbeddedBrokerOptions = { port: 0, dataDir, logger: quiet, runtimeClientId, protectedTopics: ['linesight/line3/#'] };
  let broker = await startEmbeddedBroker(brokerOptions);
  await plcSubscribesAndLeaves(broker.url, 'plc-runtime', 'linesight/line3/+/reject');
  let publisher = new MqttPublisher({ config, url: broker.url, outboxDir, device, logger: quiet });
  await publisher.start();
  const reject = await publisher.publishReject({ ts: 1_700_000_000_000, frameId: 'cam1-7', score: 2.4, threshold: 1.2, camera: 'cam1', product: 'bottle-cap' });
  t.ok(await publisher.waitForReject(reject.seq, 5000), 'the broker acknowledged the reject');
  t.equal(publisher.stats().pendingRejects, 0, 'so it left the outbox');
  await publisher.close({ timeoutMs: 1000 });
  await broker.close();

  broker = await startEmbeddedBroker(brokerOptions);
  t.teardown(() => broker.close());
  publisher = new MqttPublisher({ config, url: broker.url, outboxDir, device, logger: quiet });
  t.teardown(() => publisher.close({ timeoutMs: 1000 }));
  await publisher.start();
  const { plc, received } = await plcReturns(broker.url, 'plc-runtime');
  t.teardown(() => plc.end(true));
  await until(() => received.has('linesight/line3/cam1/reject'), 'the reject');
  const payload = JSON.parse(String(received.get('linesight/line3/cam1/reject')![0])) as { seq: number; frameId: string };
  t.same([payload.seq, payload.frameId], [reject.seq, 'cam1-7']);
});

t.test('the cost of keeping QoS 1 messages on disk', async (t) => {
  const count = 200;
  const costs: Record<string, number> = {};
  for (const mode of ['memory', 'store, no sync', 'store, synced'] as const) {
    const dataDir = mode === 'memory' ? undefined : await tempDir('ls-broker-cost-');
    const broker = await startEmbeddedBroker({ port: 0, dataDir, syncWrites: mode === 'store, synced', logger: quiet });
    await plcSubscribesAndLeaves(broker.url, 'plc-cost');
    const runtime = await connect(broker.url, { clientId: 'linesight-line3' });
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await runtime.publishAsync('linesight/line3/cam1/reject', `{"seq":${i},"frameId":"cam1-${i}","score":2.4}`, { qos: 1 });
    await runtime.endAsync();
    await broker.close(); // waits for the store
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    costs[mode] = ms / count;
    let bytes = 0;
    if (dataDir) for (const f of await readdir(dataDir)) bytes += (await stat(join(dataDir, f))).size;
    t.comment(`${mode}: ${(ms / count).toFixed(2)} ms per QoS 1 message for an offline subscriber${dataDir ? `, ${(bytes / 1024).toFixed(0)} KiB on disk for ${count}` : ''}`);
  }
  t.ok(costs['store, synced']! < 100, 'a synced write per message stays well below a reject interval');
});

/** A logger whose lines are kept, to check refusals are logged. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const ACCOUNT = { username: 'linesight', password: 'broker-pass-123' };
const RUNTIME_ID = 'linesight-line3';

async function securedBroker(t: Test, extra: Partial<EmbeddedBrokerOptions> = {}) {
  const { logger, lines } = capturingLogger();
  const broker = await startEmbeddedBroker({
    port: 0,
    logger,
    ...ACCOUNT,
    runtimeClientId: RUNTIME_ID,
    protectedTopics: ['linesight/line3/#'],
    clientPublishTopics: ['linesight/line3/+/trigger'],
    ...extra,
  });
  t.teardown(() => broker.close());
  const runtime = await connect(broker.url, { clientId: RUNTIME_ID, ...ACCOUNT });
  t.teardown(() => runtime.end(true));
  return { broker, runtime, lines };
}

t.test('with credentials, anonymous clients and wrong passwords are refused', async (t) => {
  const { broker, lines } = await securedBroker(t);
  await t.rejects(connect(broker.url, { clientId: 'anon' }), /Not authorized/i, 'anonymous: cannot subscribe to # at all');
  await t.rejects(connect(broker.url, { clientId: 'guess', username: 'linesight', password: 'wrong-password' }), /Bad username or password/i);
  t.ok(lines.some((l) => l.includes('refused client anon')), 'refusals are logged');
  t.notOk(lines.join('').includes(ACCOUNT.password), 'the password is not logged');
});

t.test('other clients cannot publish fake rejects or status, but may trigger', async (t) => {
  const { broker, runtime } = await securedBroker(t);
  const plc = await connect(broker.url, { clientId: 'plc', ...ACCOUNT });
  t.teardown(() => plc.end(true));
  const received = collect(plc);
  await plc.subscribeAsync('#', { qos: 1 });
  await runtime.subscribeAsync('linesight/line3/+/trigger', { qos: 1 });
  const runtimeGot = collect(runtime);

  const faker = await connect(broker.url, { clientId: 'faker', ...ACCOUNT });
  const closed = new Promise<void>((r) => faker.once('close', () => r()));
  faker.publish('linesight/line3/cam1/reject', '{"seq":999}', { qos: 1 });
  await closed;
  const faker2 = await connect(broker.url, { clientId: 'faker2', ...ACCOUNT });
  faker2.publish('linesight/line3/status', '{"state":"offline"}', { qos: 1, retain: true });
  await new Promise<void>((r) => faker2.once('close', () => r()));

  await plc.publishAsync('linesight/line3/cam1/trigger', 'go', { qos: 1 });
  await runtime.publishAsync('linesight/line3/cam1/reject', '{"seq":1}', { qos: 1 });
  await until(() => received.has('linesight/line3/cam1/reject') && runtimeGot.has('linesight/line3/cam1/trigger'), 'the real reject and the trigger');
  await settle();
  t.same(received.get('linesight/line3/cam1/reject')?.map(String), ['{"seq":1}'], 'only the runtime reject reaches the PLC');
  t.notOk(received.has('linesight/line3/status'), 'no fake status');
  t.same(runtimeGot.get('linesight/line3/cam1/trigger')?.map(String), ['go'], 'triggers from other clients are allowed');
  const late = await connect(broker.url, { clientId: 'late', ...ACCOUNT });
  t.teardown(() => late.end(true));
  const lateGot = collect(late);
  await late.subscribeAsync('linesight/line3/status', { qos: 1 });
  await settle();
  t.notOk(lateGot.has('linesight/line3/status'), 'no fake retained status either');
});

t.test("nobody takes over the runtime's client id", async (t) => {
  const { broker, runtime } = await securedBroker(t);
  let runtimeClosed = false;
  runtime.on('close', () => (runtimeClosed = true));
  await t.rejects(connect(broker.url, { clientId: RUNTIME_ID, ...ACCOUNT }), /Identifier rejected/i);
  await settle();
  t.notOk(runtimeClosed, 'the runtime stays connected');
  t.ok(runtime.connected);
});

t.test('oversized packets and retained floods are refused', async (t) => {
  const { broker, lines } = await securedBroker(t, { maxRetainedMessages: 3, maxRetainedBytes: 1000 });
  const big = await connect(broker.url, { clientId: 'big', ...ACCOUNT });
  big.publish('scratch/big', Buffer.alloc(1024 * 1024, 1), { qos: 0, retain: true });
  await new Promise<void>((r) => big.once('close', () => r()));
  t.ok(lines.some((l) => /refused a 10\d{5}-byte packet from big/.test(l)), 'the 1 MB retained message is refused and logged');

  const flood = await connect(broker.url, { clientId: 'flood', ...ACCOUNT });
  let closed = false;
  flood.on('close', () => (closed = true));
  for (let i = 0; i < 3; i++) await flood.publishAsync(`scratch/r${i}`, Buffer.alloc(200, 1), { qos: 1, retain: true });
  t.notOk(closed, 'three retained messages fit');
  flood.publish('scratch/r3', Buffer.alloc(10, 1), { qos: 1, retain: true });
  await until(() => closed, 'the fourth retained message refused');
  t.ok(lines.some((l) => l.includes('at most 3 retained messages')));

  const bytes = await connect(broker.url, { clientId: 'bytes', ...ACCOUNT });
  const bytesClosed = new Promise<void>((r) => bytes.once('close', () => r()));
  bytes.publish('scratch/r0', Buffer.alloc(900, 1), { qos: 1, retain: true });
  await bytesClosed;
  t.ok(lines.some((l) => /retained messages would take \d+ bytes, more than the 1000 allowed/.test(l)));

  const reader = await connect(broker.url, { clientId: 'reader', ...ACCOUNT });
  t.teardown(() => reader.end(true));
  const got = collect(reader);
  await reader.subscribeAsync('scratch/#', { qos: 1 });
  await settle();
  t.same([...got.keys()].sort(), ['scratch/r0', 'scratch/r1', 'scratch/r2'], 'only what fits is kept');
  t.equal(got.get('scratch/r0')![0]!.length, 200);
});

t.test('a bind reachable from the network needs credentials', async (t) => {
  await t.rejects(startEmbeddedBroker({ host: '0.0.0.0', port: 0, logger: quiet }), {
    name: 'EmbeddedBrokerError',
    message: /key "mqtt\.embeddedBroker\.username": the embedded MQTT broker is reachable from the network at 0\.0\.0\.0/,
  });
  await t.rejects(startEmbeddedBroker({ host: '::', port: 0, logger: quiet }), { name: 'EmbeddedBrokerError' });
  await t.rejects(startEmbeddedBroker({ port: 0, username: 'linesight', logger: quiet }), { message: /key "mqtt\.embeddedBroker\.password": set username and password together/ });
});
