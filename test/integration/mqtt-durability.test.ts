/**
 * Rejects are never lost: through a broker outage, and through a SIGKILL of
 * the publishing process while the broker is down or while it is sending.
 * Against mosquitto with persistence on, so the PLC-side subscriber's session
 * (and the rejects queued for it while it reconnects) survives the broker
 * restart, as it would on a real line.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger } from '../../config/logger.ts';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import { rejectPayloadSchema, type RejectPayload } from '../../runtime/mqtt/payloads.ts';
import { MqttPublisher, type PublisherStateChange } from '../../runtime/mqtt/publisher.ts';
import { startMosquitto, type Mosquitto } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';

const quiet = createLogger('mqtt-durability-test').child({}, { level: 'silent' });
const fixture = new URL('../fixtures/reject-publisher-child.ts', import.meta.url).pathname;
let counter = 0;

/** A PLC-like subscriber with a persistent session: the broker queues rejects for it while it is away. */
async function plc(t: Test, broker: Mosquitto, deviceId: string): Promise<MqttCollector> {
  const collector = await MqttCollector.connect(broker.url, [`linesight/${deviceId}/+/reject`], { clean: false, clientId: `plc-${deviceId}` });
  t.teardown(() => collector.close());
  return collector;
}

function rejectsOf(collector: MqttCollector, deviceId: string, camera = 'cam1'): RejectPayload[] {
  return collector.json(`linesight/${deviceId}/${camera}/reject`).map((p) => rejectPayloadSchema.parse(p));
}

/** Seqs in arrival order with repeats removed (receivers de-duplicate by seq). */
function deduplicated(rejects: RejectPayload[]): number[] {
  const seen = new Set<number>();
  return rejects.map((r) => r.seq).filter((s) => !seen.has(s) && seen.add(s));
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

function spawnChild(t: Test, options: Record<string, unknown>) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(options)], {
    env: { ...process.env, LINESIGHT_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  const waitFor = (check: (lines: string[]) => boolean, what: string, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const poll = () => {
        if (!check(lines)) return;
        waiters.delete(poll);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(poll);
        reject(new Error(`child did not report ${what} within ${timeoutMs} ms; it printed: ${lines.slice(-10).join(' | ')}`));
      }, timeoutMs);
      waiters.add(poll);
      poll();
    });
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  return { child, lines, waitFor, kill, exited };
}

const storedCount = (lines: string[]) => lines.filter((l) => l.startsWith('stored ')).length;

t.test('broker outage: every reject published meanwhile arrives afterwards, in order', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const deviceId = `outage${process.pid}-${++counter}`;
  const collector = await plc(t, broker, deviceId);
  const config = mqttConfigSchema.parse({ deviceId, reconnect: { initialMs: 100, maxMs: 400 }, connectTimeoutMs: 2000 });
  const publisher = new MqttPublisher({ config, url: broker.url, outboxDir: await mkdtemp(join(tmpdir(), 'linesight-outage-')), device: { version: '0', cameras: ['cam1'], products: ['bottle-cap'] }, logger: quiet });
  const states: PublisherStateChange[] = [];
  publisher.on('state', (s) => states.push(s));
  t.teardown(() => publisher.close({ timeoutMs: 1000 }));
  await publisher.start();
  await publisher.waitForState('online', 5000);

  const reject = (i: number) => ({ ts: Date.now(), frameId: `cam1-${i}`, score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });
  for (let i = 0; i < 3; i++) await publisher.publishReject(reject(i));
  t.ok(await publisher.waitForDrain(5000));
  await collector.waitForCount(`linesight/${deviceId}/cam1/reject`, 3);

  await broker.stop();
  const down = await publisher.waitForState('offline', 5000);
  t.equal(down?.fault, 'network');
  for (let i = 3; i < 23; i++) await publisher.publishReject(reject(i));
  t.equal(publisher.stats().pendingRejects, 20, 'all 20 wait in the outbox');
  // A few reconnect attempts fail while the broker is down.
  await new Promise((r) => setTimeout(r, 600));
  t.ok(publisher.stats().reconnects >= 1, 'the publisher keeps trying');
  t.equal(publisher.publishResult('cam1', { ts: 1, frameId: 'cam1-99', seq: 99, product: 'bottle-cap', modelVersion: '1', score: 0, threshold: 1, verdict: 'ok', regions: [], latencyMs: 1 }), false, 'live results are not queued');

  await broker.start();
  t.ok(await publisher.waitForDrain(15_000), 'the outbox drains after the broker is back');
  await collector.waitForCount(`linesight/${deviceId}/cam1/reject`, 23, 10_000);
  const received = rejectsOf(collector, deviceId);
  t.same(deduplicated(received), range(1, 23), 'every reject, in order');
  t.same(received.map((r) => r.seq), [...received.map((r) => r.seq)].sort((a, b) => a - b), 'never out of order');
  t.ok(received.every((r) => r.frameId === `cam1-${r.seq - 1}`), 'each seq carries its own frame');
  t.equal(publisher.stats().lastFault, 'network');
  t.ok(states.some((s) => s.state === 'offline') && states.at(-1)?.state === 'online', 'online -> offline -> online');
  t.equal(publisher.stats().sentRejects, 23);
});

t.test('SIGKILL while the broker is down: a new process delivers every stored reject first, in order', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const deviceId = `kill${process.pid}-${++counter}`;
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-kill-'));
  const collector = await plc(t, broker, deviceId);
  await broker.stop();

  const first = spawnChild(t, { mode: 'publish', url: broker.url, deviceId, outboxDir, camera: 'cam1', count: 10, framePrefix: 'before-kill' });
  await first.waitFor((lines) => storedCount(lines) === 10, '10 stored rejects');
  await first.kill();
  t.notOk(first.lines.some((l) => l.startsWith('acked')), 'nothing could be sent while the broker was down');

  const left = await RejectOutbox.open(outboxDir, { logger: quiet });
  t.same(left.pendingSeqs(), range(1, 10), 'the killed process left its 10 rejects in the outbox');
  await left.close();

  await broker.start();
  // The PLC reconnects to its kept session before the next runtime starts.
  await new Promise<void>((resolve) => (collector.client.connected ? resolve() : collector.client.once('connect', () => resolve())));
  const second = spawnChild(t, { mode: 'publish', url: broker.url, deviceId, outboxDir, camera: 'cam1', count: 5, framePrefix: 'after-restart', exitWhenDrained: true });
  t.equal(await second.exited, 0, 'the second process drained and exited cleanly');
  await collector.waitForCount(`linesight/${deviceId}/cam1/reject`, 15, 10_000);
  const received = rejectsOf(collector, deviceId);
  t.same(deduplicated(received), range(1, 15));
  t.same(
    received.map((r) => r.frameId).filter((f, i, a) => a.indexOf(f) === i),
    [...range(0, 9).map((i) => `before-kill-${i}`), ...range(0, 4).map((i) => `after-restart-${i}`)],
    'the old rejects go out before the new ones',
  );
});

t.test('SIGKILL while sending: after restart every stored reject arrives (duplicates only by seq)', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const deviceId = `midsend${process.pid}-${++counter}`;
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-midsend-'));
  const collector = await plc(t, broker, deviceId);

  const first = spawnChild(t, { mode: 'publish', url: broker.url, deviceId, outboxDir, camera: 'cam1', count: 200, framePrefix: 'f' });
  await first.waitFor((lines) => lines.filter((l) => l.startsWith('acked ')).length >= 20, '20 acknowledged rejects');
  await first.kill();
  const stored = storedCount(first.lines);
  t.ok(stored >= 20, `${stored} rejects were stored before the kill`);

  const second = spawnChild(t, { mode: 'publish', url: broker.url, deviceId, outboxDir, camera: 'cam1', count: 0, framePrefix: 'g', exitWhenDrained: true });
  t.equal(await second.exited, 0);
  await collector.waitUntil(() => (new Set(rejectsOf(collector, deviceId).map((r) => r.seq)).size >= stored ? true : undefined), 10_000, `${stored} distinct rejects`);
  const received = rejectsOf(collector, deviceId);
  const distinct = deduplicated(received);
  t.same(distinct.slice(0, stored), range(1, stored), 'every reject reported stored arrived, in seq order');
  t.ok(distinct.length <= stored + 1, 'at most the reject being stored at the kill is extra');
  t.ok(received.length - distinct.length <= 1, `${received.length - distinct.length} duplicate(s): at most the one in flight at the kill`);
  for (const r of received) t.equal(r.frameId, `f-${r.seq - 1}`, `seq ${r.seq} carries its own frame`);
});
