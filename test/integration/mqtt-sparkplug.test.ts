/**
 * The Sparkplug B encoding against Debian's mosquitto. A SCADA-like
 * subscriber takes every message on `spBv1.0/<group>/#` and decodes it with
 * the specification's protobuf schema (test/fixtures/sparkplug_b.proto),
 * independently of the encoder: births first with seq 0 and the session's
 * bdSeq, seq +1 mod 256 over the session, rebirth on NCMD, DDEATH and NDEATH
 * on a clean shutdown, NDEATH as the last will when the process is killed,
 * a new bdSeq per connection, and rejects decided during a broker outage
 * delivered as DDATA once the broker is back.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MqttClient } from 'mqtt';
import { createLogger } from '../../config/logger.ts';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import type { ResultPayload } from '../../runtime/mqtt/payloads.ts';
import { MqttPublisher, type RejectAcked } from '../../runtime/mqtt/publisher.ts';
import { startMosquitto } from '../../fixtures/mosquitto.ts';
import { encodeRebirthCommand, metricsByName } from '../helpers/sparkplug-decoder.ts';
import { bdSeqOf, consecutive, seqsFrom, SparkplugWatcher } from '../helpers/sparkplug-watcher.ts';

const quiet = createLogger('mqtt-sparkplug-test').child({}, { level: 'silent' });
const fixture = new URL('../fixtures/reject-publisher-child.ts', import.meta.url).pathname;
const device = { version: '0.1.0', cameras: ['cam1', 'cam2'], products: ['bottle-cap'] };
let counter = 0;

const result = (i: number, camera = 'cam1'): ResultPayload => ({
  ts: Date.now(),
  frameId: `${camera}-${i}`,
  seq: i,
  product: 'bottle-cap',
  modelVersion: '3',
  score: i % 10 === 0 ? 2.4 : 0.3,
  threshold: 1.2,
  verdict: i % 10 === 0 ? 'reject' : 'ok',
  regions: [],
  latencyMs: 12,
});
const reject = (i: number) => ({ ts: Date.now(), frameId: `cam1-${i}`, score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });

async function startPublisher(t: Test, url: string, groupId: string, outboxDir?: string) {
  const deviceId = `sp${process.pid}-${++counter}`;
  const config = mqttConfigSchema.parse({ deviceId, encoding: 'sparkplug', sparkplug: { groupId }, reconnect: { initialMs: 100, maxMs: 400 }, connectTimeoutMs: 2000 });
  const publisher = new MqttPublisher({ config, url, outboxDir: outboxDir ?? (await mkdtemp(join(tmpdir(), 'linesight-sparkplug-'))), device, logger: quiet });
  t.teardown(() => publisher.close({ timeoutMs: 1000 }));
  await publisher.start();
  return { publisher, deviceId };
}

t.test('births, data with seq wrapping 255 -> 0, rejects at QoS 1, rebirth on NCMD, DDEATH and NDEATH on a clean shutdown', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const groupId = `plant${process.pid}-${++counter}`;
  const watcher = await SparkplugWatcher.connect(t, broker.url, groupId);
  const { publisher, deviceId } = await startPublisher(t, broker.url, groupId);
  await publisher.waitForState('online', 5000);

  await watcher.waitForCount('DBIRTH', 2);
  const [nbirth, dbirth1, dbirth2] = watcher.seen;
  t.equal(nbirth?.topic, `spBv1.0/${groupId}/NBIRTH/${deviceId}`, 'NBIRTH first, on the edge node topic');
  t.equal(nbirth?.payload.seq, 0, 'NBIRTH has seq 0');
  t.equal(bdSeqOf(nbirth), 0, 'a fresh device starts at bdSeq 0');
  const nodeMetrics = metricsByName(nbirth!.payload);
  t.same(nodeMetrics['Node Control/Rebirth'], { name: 'Node Control/Rebirth', type: 'Boolean', value: false, timestamp: nbirth!.payload.timestamp }, 'NBIRTH declares the rebirth control');
  t.equal(nodeMetrics['bdSeq']?.type, 'UInt64');
  t.equal(nodeMetrics['Properties/Cameras']?.value, 'cam1,cam2');
  t.same([dbirth1?.topic, dbirth2?.topic], [`spBv1.0/${groupId}/DBIRTH/${deviceId}/cam1`, `spBv1.0/${groupId}/DBIRTH/${deviceId}/cam2`], 'one DBIRTH per camera');
  t.same([dbirth1?.payload.seq, dbirth2?.payload.seq], [1, 2]);
  const declared = metricsByName(dbirth1!.payload);
  for (const [name, type] of Object.entries({ verdict: 'String', score: 'Double', threshold: 'Double', fps: 'Double', modelVersion: 'String', reject: 'Boolean', rejectSeq: 'UInt64', rejectCount: 'UInt64', latencyP50Ms: 'Double', latencyP99Ms: 'Double' })) {
    t.equal(declared[name]?.type, type, `DBIRTH declares ${name} as ${type}`);
  }
  t.ok(watcher.seen.slice(0, 3).every((s) => s.qos === 0), 'births are QoS 0');

  // 300 results and a health update: more than 256 messages, so seq wraps.
  let published = 0;
  for (let i = 1; i <= 300; i++) if (publisher.publishResult(i % 2 ? 'cam1' : 'cam2', result(i, i % 2 ? 'cam1' : 'cam2'))) published++;
  t.equal(published, 300);
  publisher.publishHealth('cam1', { ts: Date.now(), fps: 14.8, decodeErrors: 0, reconnects: 0, droppedFrames: 3, p50Ms: 21, p99Ms: 48 });
  await watcher.waitForCount('DDATA', 301);
  const acked = new Promise<RejectAcked>((resolve) => publisher.once('rejectAcked', resolve));
  const stored = await publisher.publishReject(reject(1));
  t.equal((await acked).seq, stored.seq, 'the broker acknowledged the reject');
  const signal = await watcher.waitUntil(() => watcher.of('DDATA', 'cam1').find((s) => metricsByName(s.payload).reject?.value === true), 'the reject DDATA');
  const r = metricsByName(signal.payload);
  t.same([r.rejectSeq?.value, r.rejectCount?.value, r.score?.value, r.frameId?.value], [stored.seq, 1, 3, 'cam1-1'], 'the reject DDATA carries rejectSeq for de-duplication');
  t.equal(signal.qos, 1, 'the reject is delivered at QoS 1');
  t.equal(publisher.stats().pendingRejects, 0, 'removed from the outbox on PUBACK');

  const session = seqsFrom(watcher.seen, 0);
  t.equal(session.length, 3 + 301 + 1);
  t.ok(consecutive(session), 'seq goes up by one per message over the whole session');
  t.ok(session.some((s, i) => s === 0 && i > 0 && session[i - 1] === 255), 'seq wrapped from 255 to 0');
  const health = metricsByName(watcher.of('DDATA', 'cam1').find((s) => metricsByName(s.payload).fps)!.payload);
  t.same([health.fps?.value, health.latencyP99Ms?.value, health.droppedFrames?.value], [14.8, 48, 3], 'health is DDATA');

  // A SCADA host asks for a rebirth.
  const before = watcher.seen.length;
  await watcher.client.publishAsync(`spBv1.0/${groupId}/NCMD/${deviceId}`, encodeRebirthCommand(), { qos: 0 });
  await watcher.waitUntil(() => (watcher.of('DBIRTH').length >= 4 ? true : undefined), 'the DBIRTHs of the rebirth');
  const rebirth = watcher.seen.slice(before, before + 3);
  t.same(rebirth.map((s) => s.type), ['NBIRTH', 'DBIRTH', 'DBIRTH'], 'NBIRTH then every DBIRTH again');
  t.same(rebirth.map((s) => s.payload.seq), [0, 1, 2], 'seq restarts at 0');
  t.equal(bdSeqOf(rebirth[0]), 0, 'same session, same bdSeq');
  const reborn = metricsByName(rebirth[1]!.payload);
  t.same([reborn.rejectSeq?.value, reborn.rejectCount?.value, reborn.fps?.value], [stored.seq, 1, 14.8], 'DBIRTH carries the current values');
  publisher.publishResult('cam2', result(301, 'cam2'));
  const after = await watcher.waitUntil(() => watcher.seen.slice(before + 3).find((s) => s.type === 'DDATA'), 'DDATA after the rebirth');
  t.equal(after.payload.seq, 3, 'data goes on from the births');

  const closing = watcher.seen.length;
  await publisher.close({ timeoutMs: 3000 });
  await watcher.waitForCount('NDEATH', 1);
  const goodbye = watcher.seen.slice(closing);
  t.same(goodbye.map((s) => `${s.type}${s.device ? `/${s.device}` : ''}`), ['DDEATH/cam1', 'DDEATH/cam2', 'NDEATH'], 'each camera dies, then the node');
  t.same(goodbye.slice(0, 2).map((s) => s.payload.seq), [4, 5], 'DDEATH continues the seq');
  t.equal(bdSeqOf(goodbye[2]), 0, "NDEATH names the session's bdSeq");
});

t.test("SIGKILL: the broker publishes the NDEATH will with the NBIRTH's bdSeq; the next process starts a new session", async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const groupId = `kill${process.pid}-${++counter}`;
  const deviceId = `spkill${process.pid}-${counter}`;
  const outboxDir = await mkdtemp(join(tmpdir(), 'linesight-sparkplug-kill-'));
  const watcher = await SparkplugWatcher.connect(t, broker.url, groupId);

  const spawnChild = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ mode: 'publish', url: broker.url, deviceId, outboxDir, camera: 'cam1', count: 1, framePrefix: 'f', encoding: 'sparkplug', groupId })], {
      env: { ...process.env, LINESIGHT_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    return { child, exited, lines };
  };

  const first = spawnChild();
  const firstBirth = (await watcher.waitForCount('NBIRTH', 1, 30_000))[0]!;
  t.equal(firstBirth.payload.seq, 0);
  const firstBdSeq = bdSeqOf(firstBirth) as number;
  await watcher.waitUntil(() => watcher.of('DDATA', 'cam1').find((s) => metricsByName(s.payload).reject?.value === true), 'the reject of the first process', 30_000);
  t.equal(watcher.of('NDEATH').length, 0, 'no NDEATH while the node lives');
  first.child.kill('SIGKILL');
  await first.exited;
  const will = (await watcher.waitForCount('NDEATH', 1))[0]!;
  t.equal(will.topic, `spBv1.0/${groupId}/NDEATH/${deviceId}`);
  t.equal(bdSeqOf(will), firstBdSeq, 'the will carries the bdSeq of the NBIRTH');

  spawnChild();
  const secondBirth = (await watcher.waitForCount('NBIRTH', 2, 30_000))[1]!;
  t.equal(secondBirth.payload.seq, 0);
  t.equal(bdSeqOf(secondBirth), (firstBdSeq + 1) % 256, 'the restarted node counts bdSeq on (kept on disk)');
  await watcher.waitForCount('DBIRTH', 2);
  t.equal(watcher.of('DBIRTH', 'cam1').length, 2, 'the camera is born again');
});

t.test('broker outage: a reconnect is a new session (new bdSeq, births again) and rejects decided meanwhile arrive as DDATA', async (t) => {
  // Persistent sessions and queued QoS 0: the subscriber misses nothing while the broker restarts.
  const broker = await startMosquitto({ persistence: true, extraConfig: ['queue_qos0_messages true'] });
  t.teardown(() => broker.dispose());
  const groupId = `outage${process.pid}-${++counter}`;
  const watcher = await SparkplugWatcher.connect(t, broker.url, groupId, { clean: false, clientId: `scada-${groupId}` });
  const { publisher } = await startPublisher(t, broker.url, groupId);
  await publisher.waitForState('online', 5000);
  await watcher.waitForCount('DBIRTH', 2);
  const firstBdSeq = bdSeqOf(watcher.of('NBIRTH')[0]) as number;

  await broker.stop();
  await publisher.waitForState('offline', 5000);
  for (let i = 1; i <= 3; i++) await publisher.publishReject(reject(i));
  t.equal(publisher.publishResult('cam1', result(1)), false, 'live results are dropped while offline');
  t.equal(publisher.stats().pendingRejects, 3, 'the rejects wait in the outbox');
  await broker.start();
  t.ok(await publisher.waitForDrain(20_000), 'the outbox drains once the broker is back');

  const rejects = await watcher.waitUntil(() => {
    const signals = watcher.of('DDATA', 'cam1').filter((s) => metricsByName(s.payload).reject?.value === true);
    return signals.length >= 3 ? signals : undefined;
  }, 'three reject DDATA', 20_000);
  t.same(rejects.map((s) => metricsByName(s.payload).rejectSeq?.value), [1, 2, 3], 'every reject, in order');
  const births = watcher.of('NBIRTH');
  t.equal(births.length, 2, 'NBIRTH again after the reconnect');
  t.ok((bdSeqOf(births[1]) as number) > firstBdSeq, 'the new session has a new bdSeq');
  const secondBirth = watcher.seen.indexOf(births[1]!);
  t.ok(watcher.seen.indexOf(rejects[0]!) > secondBirth, 'the rejects follow the new births');
  const session = seqsFrom(watcher.seen, secondBirth);
  t.same(session.slice(0, 6), [0, 1, 2, 3, 4, 5], 'NBIRTH, two DBIRTHs, three rejects: one seq');
  t.ok(consecutive(session));
});

t.test('a reject in flight when the connection breaks goes out again after the new births, with a seq of the new session', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const groupId = `cut${process.pid}-${++counter}`;
  const watcher = await SparkplugWatcher.connect(t, broker.url, groupId);
  const { publisher } = await startPublisher(t, broker.url, groupId);
  await publisher.waitForState('online', 5000);
  await watcher.waitForCount('DBIRTH', 2);
  for (let i = 1; i <= 10; i++) publisher.publishResult('cam1', result(i));
  await watcher.waitForCount('DDATA', 10);

  // The broker hangs (SIGSTOP) so the reject gets no PUBACK; then the network cuts the
  // publisher's connection (its socket is destroyed) and the broker wakes up again.
  const client = (publisher as unknown as { connection: { client: MqttClient } }).connection.client;
  const sent = new Promise<void>((resolve) => client.on('packetsend', (packet) => packet.cmd === 'publish' && packet.qos === 1 && resolve()));
  process.kill(broker.pid!, 'SIGSTOP');
  t.teardown(() => broker.pid && process.kill(broker.pid, 'SIGCONT'));
  const stored = await publisher.publishReject(reject(1));
  await sent;
  client.stream.destroy();
  await publisher.waitForState('offline', 5000);
  process.kill(broker.pid!, 'SIGCONT');
  t.ok(await publisher.waitForDrain(20_000), 'the reject is acknowledged after the reconnect');

  const births = await watcher.waitForCount('NBIRTH', 2);
  const newSession = watcher.seen.indexOf(births[1]!);
  const resent = await watcher.waitUntil(
    () => watcher.seen.slice(newSession).find((s) => s.type === 'DDATA' && metricsByName(s.payload).rejectSeq?.value === stored.seq),
    'the reject in the new session',
  );
  t.same(watcher.seen.slice(newSession, newSession + 4).map((s) => s.type), ['NBIRTH', 'DBIRTH', 'DBIRTH', 'DDATA'], 'births first, then the reject');
  t.equal(resent.payload.seq, 3, 'encoded anew: the seq follows the new births');
  t.ok(consecutive(seqsFrom(watcher.seen, newSession)));
  const between = watcher.seen.slice(watcher.seen.indexOf(births[0]!), newSession).filter((s) => s.type !== 'NDEATH');
  t.ok(consecutive(between.map((s) => s.payload.seq as number)), 'the old session stays in order too (the first copy reached the broker before the cut)');
});
