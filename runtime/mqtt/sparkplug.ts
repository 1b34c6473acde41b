/**
 * Sparkplug B (Eclipse Sparkplug 3.0) for linesight, the pure parts: topic
 * names, the metrics of the edge node (the device) and of each Sparkplug
 * device (one per camera), payload building, and the `seq` / `bdSeq`
 * counters. Payloads are Protocol Buffers encoded by Eclipse Tahu's
 * `sparkplug-payload`.
 *
 *   spBv1.0/<group>/NBIRTH/<edgeNode>            node birth: bdSeq, Node Control/Rebirth, properties
 *   spBv1.0/<group>/NDEATH/<edgeNode>            node death (the MQTT last will): bdSeq
 *   spBv1.0/<group>/NCMD/<edgeNode>              commands to the node (Node Control/Rebirth)
 *   spBv1.0/<group>/DBIRTH/<edgeNode>/<camera>   every camera metric with its current value
 *   spBv1.0/<group>/DDATA/<edgeNode>/<camera>    results, rejects, part verdicts, part counters, health
 *   spBv1.0/<group>/DDEATH/<edgeNode>/<camera>   the camera stopped
 */
import sparkplugPayload from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { PartCountersPayload, PartVerdictPayload } from '../parts/payloads.ts';
import type { HealthPayload, RejectPayload, ResultPayload } from './payloads.ts';
import { validateSparkplugId } from '../../config/names.ts';

export { validateSparkplugId, type SparkplugIdKind } from '../../config/names.ts';

export const SPARKPLUG_NAMESPACE = 'spBv1.0';

const codec = sparkplugPayload.get(SPARKPLUG_NAMESPACE)!;

export type NodeMessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD';
export type DeviceMessageType = 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD';

function topic(groupId: string, type: NodeMessageType | DeviceMessageType, edgeNodeId: string): string {
  return `${SPARKPLUG_NAMESPACE}/${validateSparkplugId('group id', groupId)}/${type}/${validateSparkplugId('edge node id', edgeNodeId)}`;
}

export function nodeTopic(groupId: string, type: NodeMessageType, edgeNodeId: string): string {
  return topic(groupId, type, edgeNodeId);
}

export function deviceTopic(groupId: string, type: DeviceMessageType, edgeNodeId: string, deviceId: string): string {
  return `${topic(groupId, type, edgeNodeId)}/${validateSparkplugId('device id', deviceId)}`;
}

/** The message sequence number after `seq`: 0..255, wrapping 255 -> 0. */
export const nextSeq = (seq: number): number => (seq + 1) % 256;

/** The birth/death sequence number of the next MQTT session: 0 first, then +1 per CONNECT, wrapping 255 -> 0. */
export const nextBdSeq = (previous: number | undefined): number => (previous === undefined ? 0 : (previous + 1) % 256);

/**
 * The `seq` of one MQTT session: NBIRTH takes 0, every later NBIRTH / DBIRTH
 * / NDATA / DDATA / DDEATH the next value, 255 wrapping to 0.
 */
export class SequenceCounter {
  private current = 0;

  /** For an NBIRTH: starts over at 0. */
  birth(): number {
    this.current = 0;
    return 0;
  }

  next(): number {
    this.current = nextSeq(this.current);
    return this.current;
  }
}

export type SparkplugType = 'Boolean' | 'String' | 'Double' | 'UInt32' | 'UInt64';
export type MetricValue = boolean | string | number | null;

/** Every metric of a camera, with its Sparkplug datatype; DBIRTH declares all of them. */
export const DEVICE_METRICS = {
  product: 'String',
  modelVersion: 'String',
  frameId: 'String',
  frameSeq: 'UInt64',
  verdict: 'String',
  score: 'Double',
  threshold: 'Double',
  regions: 'UInt32',
  latencyMs: 'Double',
  reject: 'Boolean',
  rejectSeq: 'UInt64',
  rejectCount: 'UInt64',
  fps: 'Double',
  decodeErrors: 'UInt64',
  reconnects: 'UInt64',
  droppedFrames: 'UInt64',
  latencyP50Ms: 'Double',
  latencyP99Ms: 'Double',
  partId: 'String',
  partSeq: 'UInt64',
  partVerdict: 'String',
  partAction: 'String',
  partScore: 'Double',
  partReason: 'String',
  partLatencyMs: 'Double',
  partsTotal: 'UInt64',
  partsOk: 'UInt64',
  partsNg: 'UInt64',
  partsNoVerdict: 'UInt64',
  triggerErrors: 'UInt64',
  processingMinMs: 'Double',
  processingMeanMs: 'Double',
  processingMaxMs: 'Double',
  rejectRate: 'Double',
} as const satisfies Record<string, SparkplugType>;

export type DeviceMetricName = keyof typeof DEVICE_METRICS;
export type DeviceMetrics = { [K in DeviceMetricName]: MetricValue };

/** A camera's metrics before anything is known: null, except no reject yet. */
export function initialDeviceMetrics(): DeviceMetrics {
  const values = Object.fromEntries(Object.keys(DEVICE_METRICS).map((name) => [name, null])) as DeviceMetrics;
  values.reject = false;
  values.rejectCount = 0;
  return values;
}

export const REBIRTH_METRIC = 'Node Control/Rebirth';

/** Metrics of one scored frame. */
export function resultMetrics(result: ResultPayload): Partial<DeviceMetrics> {
  return {
    product: result.product,
    modelVersion: result.modelVersion,
    frameId: result.frameId,
    frameSeq: result.seq,
    verdict: result.verdict,
    score: result.score,
    threshold: result.threshold,
    regions: result.regions.length,
    latencyMs: result.latencyMs,
  };
}

/** Metrics of one reject signal; `rejectSeq` is the outbox seq receivers de-duplicate by. */
export function rejectMetrics(reject: RejectPayload, rejectCount: number): Partial<DeviceMetrics> {
  return {
    reject: true,
    rejectSeq: reject.seq,
    rejectCount,
    product: reject.product,
    frameId: reject.frameId,
    score: reject.score,
    threshold: reject.threshold,
  };
}

/** Metrics of one part verdict (the `part` topic's fields); `partSeq` is the seq receivers de-duplicate by. */
export function partMetrics(part: PartVerdictPayload): Partial<DeviceMetrics> {
  return {
    partId: part.partId,
    partSeq: part.seq,
    partVerdict: part.verdict,
    partAction: part.action,
    partScore: part.score,
    partReason: part.reason,
    partLatencyMs: part.latencyMs,
    product: part.product,
    modelVersion: part.modelVersion,
    threshold: part.threshold,
  };
}

/** Metrics of a camera's part counters. */
export function countersMetrics(c: PartCountersPayload): Partial<DeviceMetrics> {
  return {
    partsTotal: c.parts,
    partsOk: c.ok,
    partsNg: c.ng,
    partsNoVerdict: c.noVerdict,
    triggerErrors: c.triggerErrors,
    processingMinMs: c.processingMs?.min ?? null,
    processingMeanMs: c.processingMs?.mean ?? null,
    processingMaxMs: c.processingMs?.max ?? null,
    rejectRate: c.rejectRate,
  };
}

export function healthMetrics(health: HealthPayload): Partial<DeviceMetrics> {
  return {
    fps: health.fps,
    decodeErrors: health.decodeErrors,
    reconnects: health.reconnects,
    droppedFrames: health.droppedFrames,
    latencyP50Ms: health.p50Ms,
    latencyP99Ms: health.p99Ms,
  };
}

function deviceMetricList(values: Partial<DeviceMetrics>, timestamp: number): UMetric[] {
  return (Object.keys(DEVICE_METRICS) as DeviceMetricName[])
    .filter((name) => values[name] !== undefined)
    .map((name) => ({ name, type: DEVICE_METRICS[name], value: values[name] ?? null, timestamp }));
}

export interface NodeDescription {
  version: string;
  cameras: string[];
  products: string[];
}

/** NBIRTH: seq 0, the session's bdSeq, the rebirth control and the node's properties. */
export function nodeBirthPayload(o: { timestamp: number; bdSeq: number; node: NodeDescription }): UPayload {
  const { timestamp } = o;
  return {
    timestamp,
    seq: 0,
    metrics: [
      { name: 'bdSeq', type: 'UInt64', value: o.bdSeq, timestamp },
      { name: REBIRTH_METRIC, type: 'Boolean', value: false, timestamp },
      { name: 'Properties/Version', type: 'String', value: o.node.version, timestamp },
      { name: 'Properties/Cameras', type: 'String', value: o.node.cameras.join(','), timestamp },
      { name: 'Properties/Products', type: 'String', value: o.node.products.join(','), timestamp },
    ],
  };
}

/** NDEATH (the last will, and sent on a clean shutdown): the bdSeq of the session it ends. */
export function nodeDeathPayload(o: { timestamp: number; bdSeq: number }): UPayload {
  return { timestamp: o.timestamp, metrics: [{ name: 'bdSeq', type: 'UInt64', value: o.bdSeq, timestamp: o.timestamp }] };
}

/** DBIRTH: every camera metric with its current value (null where not known yet). */
export function deviceBirthPayload(o: { timestamp: number; seq: number; metrics: DeviceMetrics }): UPayload {
  return { timestamp: o.timestamp, seq: o.seq, metrics: deviceMetricList(o.metrics, o.timestamp) };
}

/** DDATA: the metrics that changed, stamped with when they were measured (the frame's time on the camera's frame clock for results). */
export function deviceDataPayload(o: { timestamp: number; seq: number; metrics: Partial<DeviceMetrics>; measuredAt: number }): UPayload {
  return { timestamp: o.timestamp, seq: o.seq, metrics: deviceMetricList(o.metrics, o.measuredAt) };
}

export function deviceDeathPayload(o: { timestamp: number; seq: number }): UPayload {
  return { timestamp: o.timestamp, seq: o.seq };
}

export function encodeSparkplugPayload(payload: UPayload): Buffer {
  const bytes = codec.encodePayload(payload);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function decodeSparkplugPayload(bytes: Uint8Array): UPayload {
  return codec.decodePayload(bytes);
}

/** True when an NCMD payload asks for a rebirth (`Node Control/Rebirth` = true). */
export function isRebirthRequest(payload: UPayload): boolean {
  return (payload.metrics ?? []).some((m) => m.name === REBIRTH_METRIC && m.value === true);
}
