/**
 * MQTT topic names of linesight (pure). Every topic is
 * `<prefix>/<device>/...`; see the table in docs/DESIGN (MQTT section):
 *
 *   <prefix>/<device>/status              retained online/offline, last will
 *   <prefix>/<device>/<camera>/result     one message per scored frame
 *   <prefix>/<device>/<camera>/reject     the PLC signal (QoS 1, never lost)
 *   <prefix>/<device>/<camera>/mask       refined defect mask
 *   <prefix>/<device>/<camera>/health     retained camera health
 *
 * Ids are checked before any topic is built so a PLC subscribed to
 * `linesight/line3/+/reject` never misses a camera because its id contained a
 * `/` or a wildcard.
 */

export class TopicIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicIdError';
  }
}

export type TopicIdKind = 'prefix' | 'device id' | 'camera id';

/** Longest id accepted, in UTF-8 bytes (ids also name outbox directories). */
export const MAX_TOPIC_ID_BYTES = 64;

function describe(kind: TopicIdKind, value: string): string {
  return `MQTT ${kind} ${JSON.stringify(value)}`;
}

/** Checks one topic level (no `/`). Returns the value when it is valid. */
function checkLevel(kind: TopicIdKind, whole: string, level: string): void {
  if (level.length === 0) throw new TopicIdError(`${describe(kind, whole)} is empty or has an empty level ("//", leading or trailing "/")`);
  if (level.includes('+') || level.includes('#')) {
    throw new TopicIdError(`${describe(kind, whole)} contains "${level.includes('+') ? '+' : '#'}": MQTT wildcards cannot be part of a name`);
  }
  if (/[\u0000-\u001f\u007f\s]/u.test(level)) {
    throw new TopicIdError(`${describe(kind, whole)} contains a space or control character`);
  }
}

/**
 * Validates a device or camera id: one topic level, no `/`, `+`, `#`,
 * whitespace or control characters, not `.`/`..`, not starting with `$`
 * (brokers reserve `$` topics), at most 64 bytes.
 */
export function validateTopicId(kind: 'device id' | 'camera id', value: string): string {
  if (typeof value !== 'string') throw new TopicIdError(`MQTT ${kind} must be a string, got ${typeof value}`);
  if (value.includes('/')) throw new TopicIdError(`${describe(kind, value)} contains "/": an id must be one topic level`);
  checkLevel(kind, value, value);
  if (value === '.' || value === '..') throw new TopicIdError(`${describe(kind, value)} is not a usable name`);
  if (value.startsWith('$')) throw new TopicIdError(`${describe(kind, value)} starts with "$", which brokers reserve for their own topics`);
  if (Buffer.byteLength(value, 'utf8') > MAX_TOPIC_ID_BYTES) {
    throw new TopicIdError(`${describe(kind, value)} is longer than ${MAX_TOPIC_ID_BYTES} bytes`);
  }
  return value;
}

/**
 * Validates the topic prefix. Unlike device and camera ids a prefix may span
 * several levels (`plant2/linesight`) so sites can fit linesight into an
 * existing topic tree; each level follows the id rules.
 */
export function validateTopicPrefix(value: string): string {
  if (typeof value !== 'string') throw new TopicIdError(`MQTT prefix must be a string, got ${typeof value}`);
  for (const level of value.split('/')) checkLevel('prefix', value, level);
  if (value.startsWith('$')) throw new TopicIdError(`${describe('prefix', value)} starts with "$", which brokers reserve for their own topics`);
  if (Buffer.byteLength(value, 'utf8') > 256) throw new TopicIdError(`${describe('prefix', value)} is longer than 256 bytes`);
  return value;
}

export type CameraTopicKind = 'result' | 'reject' | 'mask' | 'health';

export function statusTopic(prefix: string, deviceId: string): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/status`;
}

export function cameraTopic(prefix: string, deviceId: string, cameraId: string, kind: CameraTopicKind): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/${validateTopicId('camera id', cameraId)}/${kind}`;
}

export const resultTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'result');
export const rejectTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'reject');
export const maskTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'mask');
export const healthTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'health');

/** Subscription filter for one topic kind of every camera of a device (`<prefix>/<device>/+/reject`). */
export function allCamerasFilter(prefix: string, deviceId: string, kind: CameraTopicKind): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/+/${kind}`;
}
