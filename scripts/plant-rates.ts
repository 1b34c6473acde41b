/**
 * The MQTT load of a plant, from real payloads: encodes one result, reject,
 * health and part message as the runtime does (JSON encoding) and one
 * version announcement, then prints messages/s and bytes/s per device and
 * for plants of 1, 10 and 100 devices. The numbers in docs/PLANT.md come
 * from this script.
 *
 *   npx tsx scripts/plant-rates.ts [--cameras 2] [--fps 15] [--parts-per-min 60] [--reject-rate 0.01]
 */
import { parseArgs } from 'node:util';
import { JsonEncoding } from '../runtime/mqtt/json-encoding.ts';
import type { OutgoingMessage } from '../runtime/mqtt/encoding.ts';
import type { PartVerdictPayload } from '../runtime/parts/payloads.ts';
import { versionTopic } from '../runtime/mqtt/topics.ts';

const { values } = parseArgs({
  options: {
    cameras: { type: 'string', default: '2' },
    fps: { type: 'string', default: '15' },
    'parts-per-min': { type: 'string', default: '60' },
    'reject-rate': { type: 'string', default: '0.01' },
  },
});
const cameras = Number(values.cameras);
const fps = Number(values.fps);
const partsPerSecond = Number(values['parts-per-min']) / 60;
const rejectRate = Number(values['reject-rate']);

const prefix = 'plant1/linesight';
const device = 'line03-cam-a';
const encoding = new JsonEncoding({ prefix, deviceId: device, resultQos: 0 }, { version: '0.1.0', cameras: ['cam1', 'cam2'], products: ['washer'] });
const ts = 1_767_000_000_000;
const [result] = encoding.result('cam1', {
  ts,
  frameId: 'cam1-00001234',
  seq: 1234,
  product: 'washer',
  modelVersion: 'v3',
  score: 3.418,
  threshold: 7.9,
  verdict: 'ok',
  regions: [],
  latencyMs: 28.4,
});
const [rejectResult] = encoding.result('cam1', {
  ts,
  frameId: 'cam1-00001235',
  seq: 1235,
  product: 'washer',
  modelVersion: 'v3',
  score: 24.61,
  threshold: 7.9,
  verdict: 'reject',
  regions: [{ x: 120, y: 64, w: 18, h: 11, area: 142, maxScore: 24.61 }],
  latencyMs: 31.2,
});
const [reject] = encoding.reject({ ts, frameId: 'cam1-00001235', seq: 17, score: 24.61, threshold: 7.9, camera: 'cam1', product: 'washer' });
const [health] = encoding.health('cam1', { ts, fps: 14.97, decodeErrors: 0, reconnects: 1, droppedFrames: 3, p50Ms: 28.1, p99Ms: 44.6 }, true);
const part: PartVerdictPayload = {
  partId: 'PLC-00012345',
  seq: 812,
  camera: 'cam1',
  product: 'washer',
  modelVersion: 'v3',
  verdict: 'ok',
  score: 3.9,
  threshold: 7.9,
  frames: 9,
  firstTs: ts,
  lastTs: ts + 600,
  decidedTs: ts + 680,
  latencyMs: 680,
  reason: null,
  action: 'pass',
};
const partMessage: OutgoingMessage = { topic: `${prefix}/${device}/cam1/part`, payload: Buffer.from(JSON.stringify(part)), qos: 1, retain: false };
const announcement = Buffer.from(
  JSON.stringify({ product: 'washer', version: 'v3', keyId: '3f2a9c1d0b7e6a54', url: `https://${device}.plant1.example:9464/api/products/washer/versions/v3/bundle`, sha256: 'e'.repeat(64), publishedAt: new Date(ts).toISOString() }),
);

/** Bytes of one PUBLISH on the wire (MQTT 3.1.1): header, topic, packet id for QoS 1, payload; plus its PUBACK. */
function wireBytes(m: OutgoingMessage): number {
  const body = 2 + Buffer.byteLength(m.topic) + (m.qos > 0 ? 2 : 0) + m.payload.length;
  const lengthBytes = body < 128 ? 1 : body < 16_384 ? 2 : 3;
  return 1 + lengthBytes + body + (m.qos > 0 ? 4 : 0);
}

interface Stream {
  name: string;
  message: OutgoingMessage;
  perSecondPerCamera: number;
}

const streams: Stream[] = [
  { name: 'result (ok frame, QoS 0)', message: result!, perSecondPerCamera: fps * (1 - rejectRate) },
  { name: 'result (reject frame, QoS 0)', message: rejectResult!, perSecondPerCamera: fps * rejectRate },
  { name: 'health (retained, QoS 0, every 5 s)', message: health!, perSecondPerCamera: 1 / 5 },
  { name: 'part (QoS 1)', message: partMessage, perSecondPerCamera: partsPerSecond },
  { name: 'reject (QoS 1)', message: reject!, perSecondPerCamera: partsPerSecond * rejectRate },
];

console.log(`payload sizes (JSON, bytes) and wire bytes per message:`);
for (const s of streams) console.log(`  ${s.name.padEnd(38)} payload ${String(s.message.payload.length).padStart(4)}  wire ${String(wireBytes(s.message)).padStart(4)}  topic ${s.message.topic}`);
console.log(`  ${'version announcement (retained, QoS 1)'.padEnd(38)} payload ${String(announcement.length).padStart(4)}  topic ${versionTopic(prefix, device, 'washer')}`);

const perDevice = streams.reduce((acc, s) => ({ msgs: acc.msgs + s.perSecondPerCamera * cameras, bytes: acc.bytes + s.perSecondPerCamera * cameras * wireBytes(s.message) }), { msgs: 0, bytes: 0 });
const qos1 = streams.filter((s) => s.message.qos > 0).reduce((n, s) => n + s.perSecondPerCamera * cameras, 0);
console.log(`\nper device (${cameras} cameras, ${fps} fps, ${partsPerSecond * 60} parts/min/camera, ${rejectRate * 100}% rejects): ${perDevice.msgs.toFixed(1)} msg/s in, ${(perDevice.bytes / 1024).toFixed(1)} KiB/s, of which ${qos1.toFixed(2)} msg/s QoS 1`);
for (const devices of [1, 10, 100]) {
  const inMsgs = perDevice.msgs * devices;
  const inBytes = perDevice.bytes * devices;
  console.log(`  ${String(devices).padStart(3)} devices: broker in ${inMsgs.toFixed(0)} msg/s, ${(inBytes / 1024).toFixed(0)} KiB/s (${((inBytes * 8) / 1e6).toFixed(2)} Mbit/s); QoS 1 ${(qos1 * devices).toFixed(1)} msg/s`);
}
