import t from 'tap';
import {
  decodeMaskRle,
  encodeMaskRle,
  healthPayloadSchema,
  maskPayloadSchema,
  parsePayload,
  rejectPayloadSchema,
  resultPayloadSchema,
  statusPayloadSchema,
  type RejectPayload,
  type ResultPayload,
} from '../../runtime/mqtt/payloads.ts';
import { allCamerasFilter, healthTopic, maskTopic, rejectTopic, resultTopic, statusTopic } from '../../runtime/mqtt/topics.ts';
import { mqttConfigSchema, rejectOutboxDir } from '../../config/mqtt.ts';
import { parseOrThrow } from '../../config/errors.ts';

const result: ResultPayload = {
  ts: 1_700_000_000_000,
  frameId: 'cam1-000042',
  seq: 42,
  product: 'bottle-cap',
  modelVersion: '3',
  score: 1.7,
  threshold: 1.2,
  verdict: 'reject',
  regions: [{ x: 10, y: 12, w: 5, h: 4, area: 17, maxScore: 2.1 }],
  latencyMs: 31.5,
};
const reject: RejectPayload = { ts: 1_700_000_000_000, frameId: 'cam1-000042', seq: 7, score: 1.7, threshold: 1.2, camera: 'cam1', product: 'bottle-cap' };

t.test('valid payloads pass every schema', async (t) => {
  t.same(parsePayload(resultPayloadSchema, result, 'result'), result);
  t.same(parsePayload(rejectPayloadSchema, reject, 'reject'), reject);
  const status = { state: 'online', version: '0.1.0', cameras: ['cam1', 'cam2'], products: ['bottle-cap'] };
  t.same(parsePayload(statusPayloadSchema, status, 'status'), status);
  const health = { fps: 14.8, decodeErrors: 0, reconnects: 2, droppedFrames: 5, p50Ms: 30, p99Ms: 48 };
  t.same(parsePayload(healthPayloadSchema, health, 'health'), health);
  t.ok(healthPayloadSchema.safeParse({ ...health, p50Ms: null, p99Ms: null }).success, 'latency is null before the first frame');
  t.ok(maskPayloadSchema.safeParse({ ts: 1, frameId: 'f', width: 2, height: 2, counts: [1, 2, 1] }).success);
});

t.test('a wrong payload fails with a message naming the field', async (t) => {
  t.throws(() => parsePayload(rejectPayloadSchema, { ...reject, score: 'high' }, 'reject payload'), { name: 'PayloadError', message: /^reject payload: key "score": .*number/ });
  t.throws(() => parsePayload(resultPayloadSchema, { ...result, verdict: 'bad' }, 'result payload'), { message: /key "verdict"/ });
  t.throws(() => parsePayload(resultPayloadSchema, { ...result, regions: [{ ...result.regions[0], w: -1 }] }, 'result payload'), { message: /key "regions\[0\]\.w"/ });
  t.throws(() => parsePayload(rejectPayloadSchema, { ...reject, seq: 0 }, 'reject payload'), { message: /key "seq"/ }, 'seq starts at 1');
  t.throws(() => parsePayload(rejectPayloadSchema, { ...reject, ts: 1.5 }, 'reject payload'), { message: /key "ts"/ }, 'ts is whole milliseconds');
  t.throws(() => parsePayload(rejectPayloadSchema, { ...reject, camera: 'cam/1' }, 'reject payload'), { message: /key "camera": .*contains "\/"/ });
  t.throws(() => parsePayload(rejectPayloadSchema, { ...reject, colour: 'red' }, 'reject payload'), { message: /unknown key "colour"/ });
  const { frameId: _, ...noFrame } = reject;
  t.throws(() => parsePayload(rejectPayloadSchema, noFrame, 'reject payload'), { message: /key "frameId"/ });
  t.throws(() => parsePayload(statusPayloadSchema, { state: 'sleeping', version: '1', cameras: [], products: [] }, 'status'), { message: /key "state"/ });
  t.throws(() => parsePayload(maskPayloadSchema, { ts: 1, frameId: 'f', width: 2, height: 2, counts: [1, 2] }, 'mask'), { message: /key "counts": runs add up to 3 pixels but the mask has 2x2 = 4/ });
});

t.test('mask run lengths: hand-checked encoding and round trip', async (t) => {
  // 3x2 mask, row-major: 0 1 1 / 1 0 0
  t.same(encodeMaskRle(Uint8Array.from([0, 1, 1, 1, 0, 0]), 3, 2).counts, [1, 3, 2]);
  // Starting with a defect gives a leading empty background run.
  t.same(encodeMaskRle(Uint8Array.from([1, 1, 0, 0]), 2, 2).counts, [0, 2, 2]);
  t.same(encodeMaskRle(new Uint8Array(4), 2, 2).counts, [4]);
  t.same(encodeMaskRle(Uint8Array.from([255, 7, 7, 1]), 2, 2).counts, [0, 4], 'any nonzero value is a defect');
  t.same([...decodeMaskRle({ width: 3, height: 2, counts: [1, 3, 2] })], [0, 1, 1, 1, 0, 0]);

  let state = 12345;
  const mask = new Uint8Array(37 * 23);
  for (let i = 0; i < mask.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    mask[i] = state % 5 === 0 ? 1 : 0;
  }
  const rle = encodeMaskRle(mask, 37, 23);
  t.same(decodeMaskRle(rle), mask, 'random mask survives the round trip');
  t.ok(maskPayloadSchema.safeParse({ ts: 1, frameId: 'f', ...rle }).success, 'the encoding passes the schema');
  t.throws(() => encodeMaskRle(new Uint8Array(5), 2, 2), /mask has 5 pixels but 2x2 needs 4/);
  t.throws(() => decodeMaskRle({ width: 2, height: 2, counts: [3, 3] }), /exceed 2x2 = 4 pixels/);
});

t.test('topic builders and id validation', async (t) => {
  t.equal(statusTopic('linesight', 'line3'), 'linesight/line3/status');
  t.equal(resultTopic('linesight', 'line3', 'cam1'), 'linesight/line3/cam1/result');
  t.equal(rejectTopic('plant2/linesight', 'line3', 'cam1'), 'plant2/linesight/line3/cam1/reject', 'a prefix may have several levels');
  t.equal(maskTopic('linesight', 'line3', 'cam1'), 'linesight/line3/cam1/mask');
  t.equal(healthTopic('linesight', 'line3', 'cam1'), 'linesight/line3/cam1/health');
  t.equal(allCamerasFilter('linesight', 'line3', 'reject'), 'linesight/line3/+/reject');
  t.throws(() => rejectTopic('linesight', 'line/3', 'cam1'), { name: 'TopicIdError', message: /device id "line\/3" contains "\/"/ });
  t.throws(() => rejectTopic('linesight', 'line3', 'cam+'), /camera id "cam\+" contains "\+"/);
  t.throws(() => rejectTopic('linesight', 'line3', 'cam#'), /camera id "cam#" contains "#"/);
  t.throws(() => rejectTopic('lines#ght', 'line3', 'cam1'), /prefix "lines#ght" contains "#"/);
  t.throws(() => statusTopic('linesight/', 'line3'), /prefix "linesight\/" is empty or has an empty level/);
  t.throws(() => statusTopic('linesight', ''), /device id "" is empty/);
  t.throws(() => statusTopic('linesight', '..'), /device id "\.\." is not a usable name/);
  t.throws(() => statusTopic('$SYS', 'line3'), /starts with "\$"/);
  t.throws(() => statusTopic('linesight', 'line 3'), /space or control character/);
});

t.test('MQTT config: defaults, unknown keys and bad values are named', async (t) => {
  const c = parseOrThrow(mqttConfigSchema, { deviceId: 'line3' }, 'linesight.yaml: mqtt');
  t.equal(c.prefix, 'linesight');
  t.equal(c.resultQos, 0);
  t.equal(c.outboxMax, 100_000);
  t.same(c.embeddedBroker, { host: '127.0.0.1', port: 1883, persist: true, syncWrites: true, maxMessageBytes: 65536, maxRetainedMessages: 1000, maxRetainedBytes: 16777216 });
  t.equal(c.url, undefined, 'no url means the embedded broker');
  t.equal(rejectOutboxDir(c, '/var/lib/linesight'), '/var/lib/linesight/outbox/line3');
  const tls = parseOrThrow(mqttConfigSchema, { deviceId: 'line3', url: 'mqtts://broker:8883', tls: { ca: '/etc/ca.pem' } }, 'mqtt');
  t.equal(tls.tls?.rejectUnauthorized, true, 'certificates are verified by default');

  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line3', qos: 1 }, 'linesight.yaml: mqtt'), { name: 'ConfigError', message: /linesight\.yaml: mqtt: unknown key "qos"/ });
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line3', tls: { ca: 'a', verify: true } }, 'mqtt'), /unknown key "tls\.verify"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line3', embeddedBroker: { prot: 1 } }, 'mqtt'), /unknown key "embeddedBroker\.prot"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line3', url: 'http://broker' }, 'mqtt'), /key "url": .*uses http:/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line3', resultQos: 2 }, 'mqtt'), /key "resultQos"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'line/3' }, 'mqtt'), /key "deviceId": .*contains "\/"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, {}, 'mqtt'), /key "deviceId"/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', url: 'mqtt://b', tls: { ca: 'x' } }, 'mqtt'), /key "url": tls is set but .* plain mqtt:\/\//);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', tls: { cert: 'c.pem' } }, 'mqtt'), /key "tls\.key": a client certificate/);
  t.throws(() => parseOrThrow(mqttConfigSchema, { deviceId: 'l', password: 'x' }, 'mqtt'), /key "username": a password is set/);
});
