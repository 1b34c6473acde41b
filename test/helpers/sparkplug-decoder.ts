/**
 * Decodes Sparkplug B payloads with the specification's protobuf schema
 * (test/fixtures/sparkplug_b.proto) and protobufjs, independently of the
 * encoder linesight uses, into plain values for assertions.
 */
import protobuf from 'protobufjs';

const schema = new URL('../fixtures/sparkplug_b.proto', import.meta.url).pathname;
const root = protobuf.loadSync(schema);
const Payload = root.lookupType('org.eclipse.tahu.protobuf.Payload');
const DataType = root.lookupEnum('org.eclipse.tahu.protobuf.DataType');

export interface DecodedMetric {
  name?: string;
  /** The datatype's name (`Double`, `UInt64`, ...). */
  type: string;
  value: number | string | boolean | null;
  timestamp?: number;
}

export interface DecodedPayload {
  timestamp?: number;
  seq?: number;
  metrics: DecodedMetric[];
}

interface RawMetric {
  name?: string;
  datatype?: number;
  timestamp?: number;
  isNull?: boolean;
  value?: string;
  [field: string]: unknown;
}

export function decodeSparkplug(bytes: Uint8Array): DecodedPayload {
  const raw = Payload.toObject(Payload.decode(bytes), { longs: Number, oneofs: true }) as { timestamp?: number; seq?: number; metrics?: RawMetric[] };
  const metrics = (raw.metrics ?? []).map((m): DecodedMetric => {
    const metric: DecodedMetric = {
      type: DataType.valuesById[m.datatype ?? 0] ?? `unknown ${m.datatype}`,
      value: m.isNull ? null : m.value ? (m[m.value] as number | string | boolean) : null,
    };
    if (m.name !== undefined) metric.name = m.name;
    if (m.timestamp !== undefined) metric.timestamp = m.timestamp;
    return metric;
  });
  const payload: DecodedPayload = { metrics };
  if (raw.timestamp !== undefined) payload.timestamp = raw.timestamp;
  if (raw.seq !== undefined) payload.seq = raw.seq;
  return payload;
}

/** The metrics of a payload by name. */
export function metricsByName(payload: DecodedPayload): Record<string, DecodedMetric> {
  return Object.fromEntries(payload.metrics.map((m) => [m.name ?? '', m]));
}

/** Encodes an NCMD payload (for sending commands to the device) with the same schema. */
export function encodeRebirthCommand(rebirth = true): Buffer {
  const message = Payload.fromObject({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', datatype: DataType.values.Boolean, booleanValue: rebirth }] });
  return Buffer.from(Payload.encode(message).finish());
}
