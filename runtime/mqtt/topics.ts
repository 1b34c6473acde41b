/**
 * MQTT topic names of linesight (pure). Every topic is
 * `<prefix>/<device>/...`; see the table in docs/DESIGN (MQTT section):
 *
 *   <prefix>/<device>/status              retained online/offline, last will
 *   <prefix>/<device>/<camera>/result     one message per scored frame
 *   <prefix>/<device>/<camera>/reject     the PLC signal (QoS 1, never lost)
 *   <prefix>/<device>/<camera>/mask       refined defect mask
 *   <prefix>/<device>/<camera>/health     retained camera health
 *   <prefix>/<device>/<camera>/part       one verdict per part (QoS 1, never lost)
 *   <prefix>/<device>/<camera>/counters   retained part counters
 *   <prefix>/<device>/<camera>/trigger         from the PLC: a part is coming
 *   <prefix>/<device>/<camera>/counters/reset  from the PLC or SCADA: zero the counters
 *   <prefix>/<device>/versions/<product>  retained announcement of a signed product version (fleet sync)
 *
 * Ids are checked before any topic is built so a PLC subscribed to
 * `linesight/line3/+/reject` never misses a camera because its id contained a
 * `/` or a wildcard.
 */

import { productIdSchema, validateTopicId, validateTopicPrefix } from '../../config/names.ts';

export { MAX_TOPIC_ID_BYTES, TopicIdError, validateTopicId, validateTopicPrefix, type TopicIdKind } from '../../config/names.ts';

export type CameraTopicKind = 'result' | 'reject' | 'mask' | 'health' | 'part' | 'counters' | 'trigger' | 'counters/reset';

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

export const partTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'part');
export const countersTopic = (prefix: string, deviceId: string, cameraId: string): string => cameraTopic(prefix, deviceId, cameraId, 'counters');

/**
 * The camera id and kind of a command topic of this device
 * (`<prefix>/<device>/<camera>/trigger` or `.../counters/reset`); null for any other topic.
 */
export function parseCommandTopic(prefix: string, deviceId: string, topic: string): { camera: string; kind: 'trigger' | 'counters/reset' } | null {
  const head = `${prefix}/${deviceId}/`;
  if (!topic.startsWith(head)) return null;
  const rest = topic.slice(head.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const kind = rest.slice(slash + 1);
  return kind === 'trigger' || kind === 'counters/reset' ? { camera: rest.slice(0, slash), kind } : null;
}

/** Subscription filter for one topic kind of every camera of a device (`<prefix>/<device>/+/reject`). */
export function allCamerasFilter(prefix: string, deviceId: string, kind: CameraTopicKind): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/+/${kind}`;
}

/** `<prefix>/<device>/versions/<product>`: where a device announces a signed version of a product. */
export function versionTopic(prefix: string, deviceId: string, product: string): string {
  return `${validateTopicPrefix(prefix)}/${validateTopicId('device id', deviceId)}/versions/${productIdSchema.parse(product)}`;
}

/** Every device's version announcements: `<prefix>/+/versions/+`. */
export function allVersionsFilter(prefix: string): string {
  return `${validateTopicPrefix(prefix)}/+/versions/+`;
}
