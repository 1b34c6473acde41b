/**
 * Live data: frame results, refined masks and camera health. They are worth
 * something only now, so while offline they are not queued (a stale result is
 * useless and an unbounded queue would exhaust memory over a long outage):
 * they are counted as dropped. The latest health per camera is kept by the
 * encoding, retained by the broker and published again after every reconnect.
 */
import type { DeviceDescription, MqttEncoding, OutgoingMessage } from './encoding.ts';
import {
  healthPayloadSchema,
  maskPayloadSchema,
  parsePayload,
  PayloadError,
  resultPayloadSchema,
  statusPayloadSchema,
  type HealthPayload,
  type MaskPayload,
  type ResultPayload,
} from './payloads.ts';
import { validateTopicId } from './topics.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Checks what the status message will say about the device and returns a copy. */
export function checkDevice(device: DeviceDescription): DeviceDescription {
  parsePayload(statusPayloadSchema, { state: 'online', ...device }, 'device status');
  return { version: device.version, cameras: [...device.cameras], products: [...device.products] };
}

/** The connection, as live publishing sees it. */
export interface LiveLink {
  online(): boolean;
  /** Publishes without waiting; a failure is only logged. */
  send(messages: OutgoingMessage[], what: string): void;
}

export interface LiveCounters {
  publishedResults: number;
  droppedResults: number;
  publishedMasks: number;
  droppedMasks: number;
  publishedHealth: number;
}

export class LivePublisher {
  readonly counters: LiveCounters = { publishedResults: 0, droppedResults: 0, publishedMasks: 0, droppedMasks: 0, publishedHealth: 0 };

  constructor(
    private readonly encoding: MqttEncoding,
    private readonly link: LiveLink,
  ) {}

  /** Publishes one frame result; false when offline (dropped and counted). */
  result(camera: string, payload: ResultPayload): boolean {
    validateTopicId('camera id', camera);
    const checked = parsePayload(resultPayloadSchema, payload, `result payload of camera ${camera}`);
    if (!this.link.online()) {
      this.counters.droppedResults++;
      return false;
    }
    this.link.send(this.encoding.result(camera, checked), 'result');
    this.counters.publishedResults++;
    return true;
  }

  /** Publishes a refined mask, as PNG bytes or run-length JSON; false when offline or not carried by the encoding. */
  mask(camera: string, mask: Buffer | MaskPayload): boolean {
    validateTopicId('camera id', camera);
    let body: Buffer;
    if (Buffer.isBuffer(mask)) {
      if (mask.length < PNG_SIGNATURE.length || !mask.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) {
        throw new PayloadError(`mask of camera ${camera}: the buffer is not a PNG image`);
      }
      body = mask;
    } else {
      body = Buffer.from(JSON.stringify(parsePayload(maskPayloadSchema, mask, `mask payload of camera ${camera}`)));
    }
    const message = this.encoding.mask(camera, body);
    if (!message) return false;
    if (!this.link.online()) {
      this.counters.droppedMasks++;
      return false;
    }
    this.link.send([message], 'mask');
    this.counters.publishedMasks++;
    return true;
  }

  /** Records a camera's health and publishes it when online (false when offline). */
  health(camera: string, payload: HealthPayload): boolean {
    validateTopicId('camera id', camera);
    const checked = parsePayload(healthPayloadSchema, payload, `health payload of camera ${camera}`);
    const online = this.link.online();
    const messages = this.encoding.health(camera, checked, online);
    if (!online) return false;
    this.link.send(messages, 'health');
    this.counters.publishedHealth++;
    return true;
  }
}
