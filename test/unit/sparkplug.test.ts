/**
 * Sparkplug B's pure parts (topics, ids, seq and bdSeq counters, payloads
 * decoded with the specification's schema), the encoding's session rules,
 * and the `mqtt.encoding` / `mqtt.sparkplug` config.
 */
import t from 'tap';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseOrThrow } from '../../config/errors.ts';
import { mqttConfigSchema, sparkplugIds } from '../../config/mqtt.ts';
import { loadDeviceConfig } from '../../config/load.ts';
import {
  deviceDataPayload,
  deviceTopic,
  encodeSparkplugPayload,
  decodeSparkplugPayload,
  isRebirthRequest,
  nextBdSeq,
  nextSeq,
  nodeDeathPayload,
  nodeTopic,
  rejectMetrics,
  resultMetrics,
  SequenceCounter,
  validateSparkplugId,
} from '../../runtime/mqtt/sparkplug.ts';
import { BDSEQ_FILE, SparkplugEncoding } from '../../runtime/mqtt/sparkplug-encoding.ts';
import { decodeSparkplug, encodeRebirthCommand, metricsByName } from '../helpers/sparkplug-decoder.ts';

const device = { version: '0.1.0', cameras: ['cam1', 'cam2'], products: ['bottle-cap'] };
const result = { ts: 1_700_000_000_123, frameId: 'cam1-7', seq: 7, product: 'bottle-cap', modelVersion: 'v3', score: 2.5, threshold: 1.25, verdict: 'reject' as const, regions: [{ x: 1, y: 2, w: 3, h: 4, area: 9, maxScore: 2.5 }], latencyMs: 31.5 };
const reject = (seq: number, camera = 'cam1') => ({ ts: 1_700_000_000_123, frameId: `${camera}-${seq}`, seq, score: 2.5, threshold: 1.25, camera, product: 'bottle-cap' });

t.test('topic names follow spBv1.0/<group>/<type>/<edge node>[/<device>]', async (t) => {
  t.equal(nodeTopic('plant2', 'NBIRTH', 'line3'), 'spBv1.0/plant2/NBIRTH/line3');
  t.equal(nodeTopic('plant2', 'NCMD', 'line3'), 'spBv1.0/plant2/NCMD/line3');
  t.equal(deviceTopic('plant2', 'DDATA', 'line3', 'infeed'), 'spBv1.0/plant2/DDATA/line3/infeed');
  t.throws(() => nodeTopic('a/b', 'NBIRTH', 'line3'), /Sparkplug group id "a\/b" contains "\/"/);
  t.throws(() => nodeTopic('g', 'NDATA', 'line+3'), /edge node id "line\+3" contains "\+"/);
  t.throws(() => deviceTopic('g', 'DDATA', 'n', 'cam#1'), /device id "cam#1" contains "#"/);
  t.throws(() => validateSparkplugId('group id', ''), /is empty/);
  t.throws(() => validateSparkplugId('group id', 'line 3'), /space or control character/);
  t.equal(validateSparkplugId('edge node id', 'Line-3_a.b'), 'Line-3_a.b');
});

t.test('seq wraps 255 -> 0 and restarts at every birth; bdSeq counts per session, wrapping', async (t) => {
  t.equal(nextSeq(0), 1);
  t.equal(nextSeq(254), 255);
  t.equal(nextSeq(255), 0);
  const counter = new SequenceCounter();
  t.equal(counter.birth(), 0);
  const seqs = Array.from({ length: 257 }, () => counter.next());
  t.equal(seqs[0], 1);
  t.equal(seqs[254], 255);
  t.equal(seqs[255], 0, 'after 255 comes 0');
  t.equal(seqs[256], 1);
  t.equal(counter.birth(), 0);
  t.equal(counter.next(), 1);
  t.equal(nextBdSeq(undefined), 0);
  t.equal(nextBdSeq(0), 1);
  t.equal(nextBdSeq(255), 0);
});

t.test('payloads decode with the Sparkplug B schema: types, values, nulls, timestamps', async (t) => {
  const death = decodeSparkplug(encodeSparkplugPayload(nodeDeathPayload({ timestamp: 5, bdSeq: 42 })));
  t.same(death.metrics, [{ name: 'bdSeq', type: 'UInt64', value: 42, timestamp: 5 }]);
  t.equal(death.seq, undefined, 'NDEATH carries no seq');

  const data = decodeSparkplug(encodeSparkplugPayload(deviceDataPayload({ timestamp: 9, seq: 17, metrics: resultMetrics(result), measuredAt: result.ts })));
  t.equal(data.seq, 17);
  t.equal(data.timestamp, 9);
  const m = metricsByName(data);
  t.same(m.score, { name: 'score', type: 'Double', value: 2.5, timestamp: result.ts });
  t.equal(m.verdict?.value, 'reject');
  t.equal(m.regions?.type, 'UInt32');
  t.equal(m.regions?.value, 1);
  t.equal(m.frameSeq?.value, 7);
  t.equal(m.modelVersion?.value, 'v3');
  t.equal(m.reject, undefined, 'a result is not a reject signal');

  const r = metricsByName(decodeSparkplug(encodeSparkplugPayload(deviceDataPayload({ timestamp: 9, seq: 18, metrics: rejectMetrics(reject(12), 3), measuredAt: 1 }))));
  t.same([r.reject?.value, r.rejectSeq?.value, r.rejectSeq?.type, r.rejectCount?.value], [true, 12, 'UInt64', 3]);

  const nulls = metricsByName(decodeSparkplug(encodeSparkplugPayload(deviceDataPayload({ timestamp: 1, seq: 1, metrics: { latencyP50Ms: null }, measuredAt: 1 }))));
  t.same(nulls.latencyP50Ms, { name: 'latencyP50Ms', type: 'Double', value: null, timestamp: 1 });
});

t.test('rebirth requests are recognised only when Node Control/Rebirth is true', async (t) => {
  t.ok(isRebirthRequest(decodeSparkplugPayload(encodeRebirthCommand(true))));
  t.notOk(isRebirthRequest(decodeSparkplugPayload(encodeRebirthCommand(false))));
  t.notOk(isRebirthRequest({ metrics: [{ name: 'Other', type: 'Boolean', value: true }] }));
});

t.test('encoding: bdSeq per CONNECT, kept on disk; births with seq 0, 1, 2; one seq across all messages', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'linesight-sparkplug-'));
  const ids = { groupId: 'plant2', edgeNodeId: 'line3' };
  const first = new SparkplugEncoding({ ids, device, stateDir, now: () => 1000 });
  const will = first.newSession();
  t.same([will.topic, will.qos, will.retain], ['spBv1.0/plant2/NDEATH/line3', 1, false]);
  t.equal(metricsByName(decodeSparkplug(will.payload)).bdSeq?.value, 0, 'the first session ever has bdSeq 0');
  t.same(JSON.parse(await readFile(join(stateDir, BDSEQ_FILE), 'utf8')), { bdSeq: 0 });

  const births = first.online();
  t.same(births.map((b) => b.topic), ['spBv1.0/plant2/NBIRTH/line3', 'spBv1.0/plant2/DBIRTH/line3/cam1', 'spBv1.0/plant2/DBIRTH/line3/cam2']);
  t.same(births.map((b) => decodeSparkplug(b.payload).seq), [0, 1, 2]);
  t.ok(births.every((b) => b.qos === 0 && !b.retain));
  t.equal(metricsByName(decodeSparkplug(births[0]!.payload)).bdSeq?.value, 0, 'NBIRTH carries the bdSeq of the will');
  const dbirth = decodeSparkplug(births[1]!.payload);
  t.equal(dbirth.metrics.length, 34, 'DBIRTH declares every camera metric (frames, rejects, health, parts and part counters)');

  const [data] = first.result('cam1', result);
  t.equal(data!.topic, 'spBv1.0/plant2/DDATA/line3/cam1');
  t.equal(decodeSparkplug(data!.payload).seq, 3);
  const signal = first.reject(reject(1)).at(-1)!;
  t.same([signal.qos, decodeSparkplug(signal.payload).seq], [1, 4], 'a reject is DDATA at QoS 1 with the next seq');
  const again = first.reject(reject(1)).at(-1)!;
  t.equal(metricsByName(decodeSparkplug(again.payload)).rejectCount?.value, 1, 'a reject sent again is not counted twice');
  t.equal(first.health('cam2', { fps: 14.5, decodeErrors: 0, reconnects: 1, droppedFrames: 2, p50Ms: 20, p99Ms: null }, false).length, 0, 'offline: nothing to send');

  const rebirth = first.command('spBv1.0/plant2/NCMD/line3', encodeRebirthCommand());
  t.same(rebirth.map((b) => decodeSparkplug(b.payload).seq), [0, 1, 2], 'rebirth: seq starts over');
  t.equal(metricsByName(decodeSparkplug(rebirth[0]!.payload)).bdSeq?.value, 0, 'rebirth keeps the bdSeq');
  const cam1 = metricsByName(decodeSparkplug(rebirth[1]!.payload));
  t.same([cam1.score?.value, cam1.rejectSeq?.value, cam1.rejectCount?.value, cam1.reject?.value], [2.5, 1, 1, false], 'DBIRTH carries the latest values');
  t.equal(metricsByName(decodeSparkplug(rebirth[2]!.payload)).fps?.value, 14.5, 'health recorded while offline is in the next DBIRTH');
  t.same(first.command('spBv1.0/plant2/NCMD/line3', encodeRebirthCommand(false)), []);
  t.throws(() => first.command('spBv1.0/plant2/NCMD/line3', Buffer.from([0xff, 0xff, 0xff])), /unreadable Sparkplug command/);

  t.equal(metricsByName(decodeSparkplug(first.newSession().payload)).bdSeq?.value, 1, 'a reconnect is a new session');
  const goodbye = first.offline();
  t.same(goodbye.map((m) => m.topic), ['spBv1.0/plant2/DDEATH/line3/cam1', 'spBv1.0/plant2/DDEATH/line3/cam2', 'spBv1.0/plant2/NDEATH/line3']);
  t.same(goodbye.map((m) => m.qos), [0, 0, 1]);

  const restarted = new SparkplugEncoding({ ids, device, stateDir });
  t.equal(metricsByName(decodeSparkplug(restarted.newSession().payload)).bdSeq?.value, 2, 'bdSeq goes on after a restart');
  await writeFile(join(stateDir, BDSEQ_FILE), '{"bdSeq":255}\n');
  t.equal(new SparkplugEncoding({ ids, device, stateDir }).newSession() && (await readFile(join(stateDir, BDSEQ_FILE), 'utf8')).trim(), '{"bdSeq":0}', '255 wraps to 0');
  await writeFile(join(stateDir, BDSEQ_FILE), 'garbage');
  t.equal(metricsByName(decodeSparkplug(new SparkplugEncoding({ ids, device, stateDir }).newSession().payload)).bdSeq?.value, 0, 'an unreadable file starts over at 0');
});

t.test('encoding: data for a camera without a DBIRTH in this session is preceded by one', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'linesight-sparkplug-'));
  const encoding = new SparkplugEncoding({ ids: { groupId: 'g', edgeNodeId: 'n' }, device, stateDir });
  encoding.newSession();
  encoding.online();
  const messages = encoding.reject(reject(5, 'old-camera'));
  t.same(messages.map((m) => m.topic), ['spBv1.0/g/DBIRTH/n/old-camera', 'spBv1.0/g/DDATA/n/old-camera']);
  t.same(messages.map((m) => decodeSparkplug(m.payload).seq), [3, 4]);
});

t.test('config: encoding and sparkplug ids, defaults and clear errors', async (t) => {
  const json = parseOrThrow(mqttConfigSchema, { deviceId: 'line3' }, 'mqtt');
  t.equal(json.encoding, 'json', 'json by default');
  const sp = parseOrThrow(mqttConfigSchema, { deviceId: 'line3', encoding: 'sparkplug' }, 'mqtt');
  t.same(sparkplugIds(sp), { groupId: 'linesight', edgeNodeId: 'line3' }, 'group: the prefix; edge node: the device id');
  const set = parseOrThrow(mqttConfigSchema, { deviceId: 'line3', encoding: 'sparkplug', sparkplug: { groupId: 'plant2', edgeNodeId: 'cell-7' } }, 'mqtt');
  t.same(sparkplugIds(set), { groupId: 'plant2', edgeNodeId: 'cell-7' });

  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', encoding: 'sparkplug', sparkplug: { groupID: 'x' } }, 'linesight.yaml: mqtt'), {
    name: 'ConfigError',
    message: /linesight\.yaml: mqtt: unknown key "sparkplug\.groupID"/,
  });
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', encoding: 'sparkplug', sparkplug: { groupId: 'plant/2' } }, 'mqtt'), /key "sparkplug\.groupId": Sparkplug group id "plant\/2" contains "\/"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', encoding: 'sparkplug', sparkplug: { edgeNodeId: 'a+b' } }, 'mqtt'), /key "sparkplug\.edgeNodeId": .*contains "\+"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', encoding: 'sparkplug', prefix: 'plant2/linesight' }, 'mqtt'), /key "sparkplug\.groupId": not set, and the topic prefix "plant2\/linesight" cannot serve/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', encoding: 'protobuf' }, 'mqtt'), /key "encoding": must be "json" or "sparkplug"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', sparkplug: { groupId: 'g' } }, 'mqtt'), /key "sparkplug": Sparkplug settings are given but mqtt\.encoding is "json"/);

  const dir = await mkdtemp(join(tmpdir(), 'linesight-sparkplug-config-'));
  const file = join(dir, 'linesight.yaml');
  await writeFile(file, 'mqtt:\n  deviceId: line3\n  encoding: sparkplug\n  sparkplug:\n    groupId: "plant#2"\n');
  await t.rejects(loadDeviceConfig(file, {}), { name: 'ConfigError', message: /linesight\.yaml.*key "mqtt\.sparkplug\.groupId": Sparkplug group id "plant#2" contains "#"/ });
});
