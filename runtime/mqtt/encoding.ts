/**
 * How the publisher's messages look on the wire. The publisher
 * (runtime/mqtt/publisher.ts, with connection.ts and reject-delivery.ts) owns
 * the connection, the reject outbox and the delivery rules; an encoding only
 * turns each kind of message (status, birth
 * and death, result, reject, mask, health) into topics and payloads:
 *
 *   json       linesight's own topics and JSON payloads (runtime/mqtt/json-encoding.ts)
 *   sparkplug  Eclipse Sparkplug B 3.0 (runtime/mqtt/sparkplug-encoding.ts)
 *
 * Payloads reach an encoding already validated by the publisher.
 */
import type { PartCountersPayload, PartVerdictPayload } from '../parts/payloads.ts';
import type { HealthPayload, RejectPayload, ResultPayload } from './payloads.ts';

export interface OutgoingMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

export interface DeviceDescription {
  version: string;
  cameras: string[];
  products: string[];
}

export interface MqttEncoding {
  readonly name: 'json' | 'sparkplug';
  /**
   * Messages carry a sequence number that is only valid within one MQTT
   * session (Sparkplug `seq`). A reject in flight when the connection drops
   * is then encoded again after the reconnect instead of being re-sent as it
   * was.
   */
  readonly sessionSequenced: boolean;
  /** A new MQTT session is about to be opened (each CONNECT); returns its last will. */
  newSession(): OutgoingMessage;
  /** The last will of the current session. */
  will(): OutgoingMessage;
  /** Topic filters to subscribe to once connected, for commands to the device. */
  commandFilters(): string[];
  /** Published once connected, in order, before any reject. */
  online(): OutgoingMessage[];
  /** What a message on a command topic asks to publish (nothing when it asks nothing); throws on an unreadable command. */
  command(topic: string, payload: Buffer): OutgoingMessage[];
  /** One scored frame; only called while online. */
  result(camera: string, result: ResultPayload): OutgoingMessage[];
  /** One reject signal; the LAST message is the reject itself (QoS 1), any before it prepare it. */
  reject(reject: RejectPayload): OutgoingMessage[];
  /** One part verdict; the LAST message is the verdict itself (QoS 1), any before it prepare it. */
  part(part: PartVerdictPayload): OutgoingMessage[];
  /** Records a camera's part counters (carried again after reconnects) and returns what to publish now when online. */
  counters(camera: string, counters: PartCountersPayload, online: boolean): OutgoingMessage[];
  /** A refined mask (PNG bytes or run-length JSON); undefined when the encoding does not carry masks. */
  mask(camera: string, body: Buffer): OutgoingMessage | undefined;
  /** Records a camera's health (carried again after reconnects) and returns what to publish now when online. */
  health(camera: string, health: HealthPayload, online: boolean): OutgoingMessage[];
  /** The device's description changed; returns what to publish when online. */
  describe(device: DeviceDescription, online: boolean): OutgoingMessage[];
  /** Published on a clean shutdown, in order, after the last reject. */
  offline(): OutgoingMessage[];
}
