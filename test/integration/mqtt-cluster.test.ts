/**
 * Rejects are never lost on a clustered broker: a two-node RabbitMQ cluster
 * (MQTT plugin, session queues mirrored on both nodes) on loopback, node A
 * stopped in the middle of a stream of rejects and started again.
 *
 * Three devices and their receivers see the same outage:
 * - a device given both nodes (`mqtt.url` A, `mqtt.servers` [B]) fails over
 *   to B and goes on; its PLC, on B, misses nothing;
 * - a PLC pinned to A with a persistent session (clean=false, QoS 1) is away
 *   while A is down; its session, kept on B, hands it every reject once A is
 *   back;
 * - a Sparkplug device pinned to A keeps its rejects in the outbox while A is
 *   down, births again (new bdSeq) when A is back and drains the outbox; the
 *   SCADA host on B gets every reject as DDATA.
 * Then node B is killed (a crash: no goodbye to the cluster) while the device
 * that failed over is on it: it goes back to A, and the PLC on A misses
 * nothing. Sent vs received by seq, duplicates and recovery times are logged.
 */
import t, { type Test } from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../config/logger.ts';
import { mqttConfigSchema, type MqttConfigInput } from '../../config/mqtt.ts';
import { rejectPayloadSchema } from '../../runtime/mqtt/payloads.ts';
import { MqttPublisher, type PublisherStateChange } from '../../runtime/mqtt/publisher.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { RABBITMQ_SERVER, startRabbitCluster, type RabbitCluster } from '../helpers/rabbitmq-cluster.ts';
import { requireTool } from '../helpers/require-tool.ts';
import { describeSeqReport, seqReport } from '../helpers/seq-report.ts';
import { metricsByName } from '../helpers/sparkplug-decoder.ts';
import { bdSeqOf, SparkplugWatcher, type Seen } from '../helpers/sparkplug-watcher.ts';
import { SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';

const quiet = createLogger('mqtt-cluster-test').child({}, { level: 'silent' });
const device = { version: '0.1.0', cameras: ['cam1'], products: ['bottle-cap'] };
/** Rejects per stream, one every INTERVAL_MS (20 per second), node A stopped after STOP_AFTER of them. */
const REJECTS = 200;
const INTERVAL_MS = 50;
const STOP_AFTER = 60;
/** Rejects of the second stream, node B killed after CRASH_AFTER of them. */
const CRASH_REJECTS = 100;
const CRASH_AFTER = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const tag = `${process.pid}`;

async function startPublisher(t: Test, cluster: RabbitCluster, deviceId: string, mqtt: Partial<MqttConfigInput>) {
  const config = mqttConfigSchema.parse({
    deviceId,
    username: cluster.username,
    password: cluster.password,
    reconnect: { initialMs: 100, maxMs: 400 },
    connectTimeoutMs: 2000,
    ...mqtt,
  });
  const publisher = new MqttPublisher({ config, outboxDir: await mkdtemp(join(tmpdir(), 'linesight-cluster-')), device, logger: quiet });
  const states: Array<PublisherStateChange & { at: number }> = [];
  publisher.on('state', (s) => states.push({ ...s, at: Date.now() }));
  t.teardown(() => publisher.close({ timeoutMs: 1000 }));
  await publisher.start();
  await publisher.waitForState('online', 15_000);
  return { publisher, states };
}

async function plc(t: Test, cluster: RabbitCluster, url: string, deviceId: string, clientId: string): Promise<MqttCollector> {
  const collector = await MqttCollector.connect(url, [`linesight/${deviceId}/+/reject`], {
    clean: false,
    clientId,
    username: cluster.username,
    password: cluster.password,
    reconnectPeriod: 200,
  });
  t.teardown(() => collector.close());
  return collector;
}

const reject = (i: number) => ({ ts: Date.now(), frameId: `cam1-${i}`, score: 3, threshold: 1, camera: 'cam1', product: 'bottle-cap' });
const jsonSeqs = (collector: MqttCollector, deviceId: string) => collector.json(`linesight/${deviceId}/cam1/reject`).map((p) => rejectPayloadSchema.parse(p).seq);
/** The rejectSeq of each reject DDATA of cam1 among `seen`, in arrival order. */
const sparkplugRejectSeqs = (seen: Seen[]) =>
  seen.flatMap((s) => {
    if (s.type !== 'DDATA' || s.device !== 'cam1') return [];
    const m = metricsByName(s.payload);
    return m.reject?.value === true ? [Number(m.rejectSeq?.value)] : [];
  });

t.test('node A stopped mid-stream and started again: 0 lost rejects on failover, in a kept session and from a pinned outbox', async (t) => {
  if (!requireTool(t, RABBITMQ_SERVER, SYSTEM_DEPS_HINT)) return;
  const startedAt = Date.now();
  const cluster = await startRabbitCluster();
  t.teardown(() => cluster.dispose());
  t.comment(`cluster of 2 up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${(await cluster.runningNodes()).join(', ')}`);
  const { a, b } = cluster;

  // Device 1 knows both nodes; its PLC is on B. Device 2 is pinned to A and speaks Sparkplug; its SCADA host is on B.
  const failoverId = `failover${tag}`;
  const pinnedId = `pinned${tag}`;
  const groupId = `plant${tag}`;
  const plcOnB = await plc(t, cluster, b.url, failoverId, `plc-b-${tag}`);
  const plcOnA = await plc(t, cluster, a.url, failoverId, `plc-a-${tag}`);
  const scada = await SparkplugWatcher.connect(t, b.url, groupId, { username: cluster.username, password: cluster.password });
  const failover = await startPublisher(t, cluster, failoverId, { url: a.url, servers: [b.url] });
  const pinned = await startPublisher(t, cluster, pinnedId, { url: a.url, encoding: 'sparkplug', sparkplug: { groupId } });
  await scada.waitForCount('NBIRTH', 1);
  const firstBdSeq = bdSeqOf(scada.of('NBIRTH')[0]);

  let stopping: Promise<void> | undefined;
  let stopAt = 0;
  let stoppedAt = 0;
  for (let i = 1; i <= REJECTS; i++) {
    await Promise.all([failover.publisher.publishReject(reject(i)), pinned.publisher.publishReject(reject(i))]);
    if (i === STOP_AFTER) {
      stopAt = Date.now();
      stopping = cluster.stop('a').then(() => void (stoppedAt = Date.now()));
    }
    await sleep(INTERVAL_MS);
  }
  await stopping;
  t.notOk(a.running, 'node A is down');
  t.ok(pinned.publisher.stats().pendingRejects > 0, `the device pinned to A holds ${pinned.publisher.stats().pendingRejects} rejects in its outbox`);

  // Device 1 went on through B while A was down.
  t.ok(await failover.publisher.waitForDrain(30_000), 'the failover device delivered everything through node B');
  await plcOnB.waitUntil(() => (new Set(jsonSeqs(plcOnB, failoverId)).size >= REJECTS ? true : undefined), 30_000, `${REJECTS} rejects on node B`);
  const offline = failover.states.find((s) => s.state === 'offline' && s.at >= stopAt);
  const backOnline = failover.states.find((s) => s.state === 'online' && s.at >= stopAt);
  t.ok(offline && backOnline, 'the failover device lost node A and came back online (on B)');
  t.match(offline?.reason, `127.0.0.1:${a.mqttPort}`, 'the offline state names node A');
  t.match(backOnline?.reason, `connected to broker mqtt://127.0.0.1:${b.mqttPort}`, 'the online state names node B, where the device is now');

  const restartAt = Date.now();
  await cluster.start('a');
  const restartedAt = Date.now();
  t.same(await cluster.runningNodes(), [a.name, b.name].sort(), 'both nodes run again');

  t.ok(await pinned.publisher.waitForDrain(60_000), 'the pinned device drained its outbox once node A was back');
  const drainedAt = Date.now();
  await scada.waitUntil(() => (new Set(sparkplugRejectSeqs(scada.seen)).size >= REJECTS ? true : undefined), `${REJECTS} reject DDATA`, 30_000);
  await plcOnA.waitUntil(() => (new Set(jsonSeqs(plcOnA, failoverId)).size >= REJECTS ? true : undefined), 60_000, `${REJECTS} rejects in the session kept for the PLC on A`);

  const onB = seqReport(REJECTS, jsonSeqs(plcOnB, failoverId));
  const keptSession = seqReport(REJECTS, jsonSeqs(plcOnA, failoverId));
  const sparkplug = seqReport(REJECTS, sparkplugRejectSeqs(scada.seen));
  for (const [name, report] of [['failover device -> PLC on B', onB], ['failover device -> PLC on A (kept session)', keptSession], ['Sparkplug device pinned to A -> SCADA on B', sparkplug]] as const) {
    t.same(report.lost, [], `${name}: 0 lost`);
    t.ok(report.inOrder, `${name}: first arrivals in seq order`);
    t.comment(describeSeqReport(name, report));
  }
  t.equal(failover.publisher.stats().sentRejects, REJECTS, 'the failover device had every reject acknowledged');
  t.equal(pinned.publisher.stats().sentRejects, REJECTS, 'the pinned device had every reject acknowledged');

  // The pinned Sparkplug device opened a new session on A: births again, with the next bdSeq, before its stored rejects.
  const births = scada.of('NBIRTH');
  t.ok(births.length >= 2, 'NBIRTH again after the reconnect');
  const rebirth = births.at(-1)!;
  t.not(bdSeqOf(rebirth), firstBdSeq, 'the new session has a new bdSeq');
  const rebirthIndex = scada.seen.indexOf(rebirth);
  t.equal(scada.seen[rebirthIndex + 1]?.type, 'DBIRTH', 'DBIRTH follows the NBIRTH');
  t.ok(sparkplugRejectSeqs(scada.seen.slice(rebirthIndex)).length > 0, 'the stored rejects went out in the new session, after its births');

  t.comment(`node A stop (decommission from the MQTT registry + shutdown): ${secs(stoppedAt - stopAt)}; start until clustered: ${secs(restartedAt - restartAt)}`);
  t.comment(`failover device: offline ${secs(offline!.at - stopAt)} after the stop began, online again (on B) ${secs(backOnline!.at - offline!.at)} later`);
  t.comment(`pinned device: outbox drained ${secs(drainedAt - restartedAt)} after node A was back`);

  // Then node B crashes while the failover device is on it: the device goes back to A, the PLC on A misses nothing.
  t.match(await cluster.ctl('b', ['list_mqtt_connections', 'client_id']), `linesight-${failoverId}`, 'the failover device is on node B');
  let crashing: Promise<void> | undefined;
  let crashAt = 0;
  for (let i = REJECTS + 1; i <= REJECTS + CRASH_REJECTS; i++) {
    await failover.publisher.publishReject(reject(i));
    if (i === REJECTS + CRASH_AFTER) {
      crashAt = Date.now();
      crashing = cluster.crash('b');
    }
    await sleep(INTERVAL_MS);
  }
  await crashing;
  t.ok(await failover.publisher.waitForDrain(30_000), 'the failover device delivered everything through node A after B crashed');
  const total = REJECTS + CRASH_REJECTS;
  await plcOnA.waitUntil(() => (new Set(jsonSeqs(plcOnA, failoverId)).size >= total ? true : undefined), 30_000, `${total} rejects on node A`);
  const afterCrash = seqReport(total, jsonSeqs(plcOnA, failoverId));
  t.same(afterCrash.lost, [], 'node B crashed: 0 lost');
  t.ok(afterCrash.inOrder, 'node B crashed: first arrivals in seq order');
  t.comment(describeSeqReport('node B crashed: failover device -> PLC on A', afterCrash));
  const lost = failover.states.find((s) => s.state === 'offline' && s.at >= crashAt);
  const regained = failover.states.find((s) => s.state === 'online' && s.at >= crashAt);
  t.ok(lost && regained, 'the failover device lost node B and came back online (on A)');
  t.comment(`failover device: offline ${secs(lost!.at - crashAt)} after node B was killed, online again (on A) ${secs(regained!.at - lost!.at)} later`);
});
