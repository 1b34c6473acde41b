/**
 * linesight's own MQTT encoding: JSON payloads (runtime/mqtt/payloads.ts) on
 * `<prefix>/<device>/...` topics (runtime/mqtt/topics.ts), a retained
 * `status` that is also the last will, and the latest health of each camera
 * retained and re-published after every reconnect (the part counters too).
 */
import type { DeviceDescription, MqttEncoding, OutgoingMessage } from './encoding.ts';
import type { PartCountersPayload, PartVerdictPayload } from '../parts/payloads.ts';
import type { HealthPayload, RejectPayload, ResultPayload, StatusPayload } from './payloads.ts';
import { countersTopic, healthTopic, maskTopic, partTopic, rejectTopic, resultTopic, statusTopic } from './topics.ts';

export class JsonEncoding implements MqttEncoding {
  readonly name = 'json';
  readonly sessionSequenced = false;
  private readonly lastHealth = new Map<string, Buffer>();
  private readonly lastCounters = new Map<string, Buffer>();

  constructor(
    private readonly ids: { prefix: string; deviceId: string; resultQos: 0 | 1 },
    private device: DeviceDescription,
  ) {}

  private status(state: 'online' | 'offline'): OutgoingMessage {
    const payload: StatusPayload = { state, ...this.device };
    return { topic: statusTopic(this.ids.prefix, this.ids.deviceId), payload: Buffer.from(JSON.stringify(payload)), qos: 1, retain: true };
  }

  private healthMessage(camera: string, body: Buffer): OutgoingMessage {
    return { topic: healthTopic(this.ids.prefix, this.ids.deviceId, camera), payload: body, qos: 0, retain: true };
  }

  private countersMessage(camera: string, body: Buffer): OutgoingMessage {
    return { topic: countersTopic(this.ids.prefix, this.ids.deviceId, camera), payload: body, qos: 1, retain: true };
  }

  newSession(): OutgoingMessage {
    return this.will();
  }

  will(): OutgoingMessage {
    return this.status('offline');
  }

  commandFilters(): string[] {
    return [];
  }

  online(): OutgoingMessage[] {
    return [
      this.status('online'),
      ...[...this.lastHealth].map(([camera, body]) => this.healthMessage(camera, body)),
      ...[...this.lastCounters].map(([camera, body]) => this.countersMessage(camera, body)),
    ];
  }

  command(): OutgoingMessage[] {
    return [];
  }

  result(camera: string, result: ResultPayload): OutgoingMessage[] {
    return [{ topic: resultTopic(this.ids.prefix, this.ids.deviceId, camera), payload: Buffer.from(JSON.stringify(result)), qos: this.ids.resultQos, retain: false }];
  }

  reject(reject: RejectPayload): OutgoingMessage[] {
    return [{ topic: rejectTopic(this.ids.prefix, this.ids.deviceId, reject.camera), payload: Buffer.from(JSON.stringify(reject)), qos: 1, retain: false }];
  }

  part(part: PartVerdictPayload): OutgoingMessage[] {
    return [{ topic: partTopic(this.ids.prefix, this.ids.deviceId, part.camera), payload: Buffer.from(JSON.stringify(part)), qos: 1, retain: false }];
  }

  counters(camera: string, counters: PartCountersPayload, online: boolean): OutgoingMessage[] {
    const body = Buffer.from(JSON.stringify(counters));
    this.lastCounters.set(camera, body);
    return online ? [this.countersMessage(camera, body)] : [];
  }

  mask(camera: string, body: Buffer): OutgoingMessage {
    return { topic: maskTopic(this.ids.prefix, this.ids.deviceId, camera), payload: body, qos: 0, retain: false };
  }

  health(camera: string, health: HealthPayload, online: boolean): OutgoingMessage[] {
    const body = Buffer.from(JSON.stringify(health));
    this.lastHealth.set(camera, body);
    return online ? [this.healthMessage(camera, body)] : [];
  }

  describe(device: DeviceDescription, online: boolean): OutgoingMessage[] {
    this.device = device;
    return online ? [this.status('online')] : [];
  }

  offline(): OutgoingMessage[] {
    return [this.status('offline')];
  }
}
