/**
 * The Sparkplug B encoding (Eclipse Sparkplug 3.0): the device is one edge
 * node, each camera one Sparkplug device.
 *
 * - Each CONNECT carries an NDEATH last will (QoS 1, not retained) with a new
 *   `bdSeq` (0..255, +1 per CONNECT). The last one used is kept in
 *   `sparkplug-bdseq.json` in the device's outbox directory, so it keeps
 *   counting across restarts.
 * - Once connected: NBIRTH (`seq` 0, the session's `bdSeq`), then one DBIRTH
 *   per camera declaring every camera metric with its current value.
 * - Results, rejects and health are DDATA; `seq` runs 0..255 over NBIRTH,
 *   DBIRTH, DDATA and DDEATH of a session, 255 wrapping to 0.
 * - NCMD `Node Control/Rebirth` = true: NBIRTH and all DBIRTHs again (`seq`
 *   from 0, same `bdSeq`).
 * - Clean shutdown: DDEATH per camera, then NDEATH with the session's bdSeq.
 *
 * A reject is a DDATA sent at QoS 1 (Sparkplug's DDATA is QoS 0; the reject
 * signal keeps linesight's at-least-once delivery): `reject` true and
 * `rejectSeq`, the outbox seq receivers de-duplicate by. A part verdict is a
 * DDATA at QoS 1 too, with the `part` topic's fields as `part*` metrics
 * (`partSeq` to de-duplicate by); the part counters are DDATA `parts*`,
 * `triggerErrors`, `processing*Ms` and `rejectRate`, declared in each DBIRTH.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../config/logger.ts';
import type { SparkplugIds } from '../../config/mqtt.ts';
import type { DeviceDescription, MqttEncoding, OutgoingMessage } from './encoding.ts';
import type { PartCountersPayload, PartVerdictPayload } from '../parts/payloads.ts';
import type { HealthPayload, RejectPayload, ResultPayload } from './payloads.ts';
import {
  decodeSparkplugPayload,
  deviceBirthPayload,
  deviceDataPayload,
  deviceDeathPayload,
  deviceTopic,
  encodeSparkplugPayload,
  healthMetrics,
  initialDeviceMetrics,
  isRebirthRequest,
  nextBdSeq,
  nodeBirthPayload,
  nodeDeathPayload,
  nodeTopic,
  countersMetrics,
  partMetrics,
  rejectMetrics,
  resultMetrics,
  SequenceCounter,
  type DeviceMessageType,
  type DeviceMetrics,
} from './sparkplug.ts';

export const BDSEQ_FILE = 'sparkplug-bdseq.json';

/** The bdSeq of the last CONNECT, kept in a small JSON file written atomically. */
export class BdSeqFile {
  constructor(
    readonly path: string,
    private readonly log?: Logger,
  ) {}

  /** The last bdSeq used, or undefined when none was kept (or the file is unreadable). */
  load(): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.warn({ err }, `cannot read ${this.path}; Sparkplug bdSeq starts at 0`);
      return undefined;
    }
    try {
      const value = (JSON.parse(text) as { bdSeq?: unknown }).bdSeq;
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) return value;
    } catch {
      // reported below
    }
    this.log?.warn(`${this.path} does not hold a bdSeq of 0..255; Sparkplug bdSeq starts at 0`);
    return undefined;
  }

  /** Synchronous: the bdSeq must be on disk before the CONNECT that carries it is sent. */
  save(bdSeq: number): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, `${JSON.stringify({ bdSeq })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}

export interface SparkplugEncodingOptions {
  ids: SparkplugIds;
  device: DeviceDescription;
  /** Directory holding the bdSeq file (the device's outbox directory). */
  stateDir: string;
  logger?: Logger;
  now?: () => number;
}

export class SparkplugEncoding implements MqttEncoding {
  readonly name = 'sparkplug';
  readonly sessionSequenced = true;
  private readonly ids: SparkplugIds;
  private device: DeviceDescription;
  private readonly bdSeqFile: BdSeqFile;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private bdSeq: number | undefined;
  private readonly seq = new SequenceCounter();
  private readonly cameras = new Map<string, DeviceMetrics>();
  /** Cameras whose DBIRTH went out in the current session. */
  private readonly born = new Set<string>();

  constructor(options: SparkplugEncodingOptions) {
    this.ids = options.ids;
    this.device = options.device;
    this.bdSeqFile = new BdSeqFile(join(options.stateDir, BDSEQ_FILE), options.logger);
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    for (const camera of options.device.cameras) this.camera(camera);
    // Every topic is checked now, so a bad id fails at start-up rather than at the first message.
    nodeTopic(this.ids.groupId, 'NBIRTH', this.ids.edgeNodeId);
    for (const camera of options.device.cameras) deviceTopic(this.ids.groupId, 'DBIRTH', this.ids.edgeNodeId, camera);
  }

  /** The bdSeq of the current MQTT session (undefined before the first CONNECT). */
  get sessionBdSeq(): number | undefined {
    return this.bdSeq;
  }

  private camera(id: string): DeviceMetrics {
    let metrics = this.cameras.get(id);
    if (!metrics) {
      metrics = initialDeviceMetrics();
      this.cameras.set(id, metrics);
    }
    return metrics;
  }

  private nodeMessage(type: 'NBIRTH' | 'NDEATH', payload: Parameters<typeof encodeSparkplugPayload>[0], qos: 0 | 1): OutgoingMessage {
    return { topic: nodeTopic(this.ids.groupId, type, this.ids.edgeNodeId), payload: encodeSparkplugPayload(payload), qos, retain: false };
  }

  private deviceMessage(type: DeviceMessageType, camera: string, payload: Parameters<typeof encodeSparkplugPayload>[0], qos: 0 | 1 = 0): OutgoingMessage {
    return { topic: deviceTopic(this.ids.groupId, type, this.ids.edgeNodeId, camera), payload: encodeSparkplugPayload(payload), qos, retain: false };
  }

  private deviceBirth(camera: string): OutgoingMessage {
    this.born.add(camera);
    return this.deviceMessage('DBIRTH', camera, deviceBirthPayload({ timestamp: this.now(), seq: this.seq.next(), metrics: this.camera(camera) }));
  }

  /** DBIRTH first when data comes for a camera not born in this session (e.g. a reject of a camera no longer configured). */
  private birthIfNeeded(camera: string): OutgoingMessage[] {
    return this.born.has(camera) ? [] : [this.deviceBirth(camera)];
  }

  private deviceDeath(camera: string): OutgoingMessage {
    return this.deviceMessage('DDEATH', camera, deviceDeathPayload({ timestamp: this.now(), seq: this.seq.next() }));
  }

  private data(camera: string, metrics: Partial<DeviceMetrics>, measuredAt: number, qos: 0 | 1 = 0): OutgoingMessage {
    return this.deviceMessage('DDATA', camera, deviceDataPayload({ timestamp: this.now(), seq: this.seq.next(), metrics, measuredAt }), qos);
  }

  newSession(): OutgoingMessage {
    this.bdSeq = nextBdSeq(this.bdSeq ?? this.bdSeqFile.load());
    try {
      this.bdSeqFile.save(this.bdSeq);
    } catch (err) {
      // Counting on in memory keeps this run correct; only a restart may repeat a bdSeq.
      this.log?.warn({ err }, `cannot keep the Sparkplug bdSeq in ${this.bdSeqFile.path}: ${(err as Error).message}`);
    }
    return this.will();
  }

  will(): OutgoingMessage {
    if (this.bdSeq === undefined) throw new Error('Sparkplug NDEATH asked for before the first session');
    return this.nodeMessage('NDEATH', nodeDeathPayload({ timestamp: this.now(), bdSeq: this.bdSeq }), 1);
  }

  commandFilters(): string[] {
    return [nodeTopic(this.ids.groupId, 'NCMD', this.ids.edgeNodeId)];
  }

  online(): OutgoingMessage[] {
    if (this.bdSeq === undefined) throw new Error('Sparkplug NBIRTH asked for before the first session');
    this.born.clear();
    const birth = this.nodeMessage('NBIRTH', nodeBirthPayload({ timestamp: this.now(), bdSeq: this.bdSeq, node: this.device }), 0);
    this.seq.birth();
    return [birth, ...this.device.cameras.map((camera) => this.deviceBirth(camera))];
  }

  command(topic: string, payload: Buffer): OutgoingMessage[] {
    if (topic !== nodeTopic(this.ids.groupId, 'NCMD', this.ids.edgeNodeId)) return [];
    let decoded;
    try {
      decoded = decodeSparkplugPayload(payload);
    } catch (err) {
      throw new Error(`unreadable Sparkplug command on ${topic}: ${(err as Error).message}`);
    }
    return isRebirthRequest(decoded) ? this.online() : [];
  }

  result(camera: string, result: ResultPayload): OutgoingMessage[] {
    const metrics = resultMetrics(result);
    Object.assign(this.camera(camera), metrics);
    return [...this.birthIfNeeded(camera), this.data(camera, metrics, result.ts)];
  }

  reject(reject: RejectPayload): OutgoingMessage[] {
    const state = this.camera(reject.camera);
    // Counted once per outbox seq, however often a reject is sent again.
    const isNew = state.rejectSeq === null || reject.seq > (state.rejectSeq as number);
    const count = (state.rejectCount as number) + (isNew ? 1 : 0);
    const metrics = rejectMetrics(reject, count);
    Object.assign(state, { ...metrics, reject: false, rejectSeq: isNew ? reject.seq : state.rejectSeq });
    return [...this.birthIfNeeded(reject.camera), this.data(reject.camera, metrics, reject.ts, 1)];
  }

  part(part: PartVerdictPayload): OutgoingMessage[] {
    const metrics = partMetrics(part);
    Object.assign(this.camera(part.camera), metrics);
    return [...this.birthIfNeeded(part.camera), this.data(part.camera, metrics, part.decidedTs, 1)];
  }

  counters(camera: string, counters: PartCountersPayload, online: boolean): OutgoingMessage[] {
    const metrics = countersMetrics(counters);
    Object.assign(this.camera(camera), metrics);
    return online ? [...this.birthIfNeeded(camera), this.data(camera, metrics, counters.ts)] : [];
  }

  mask(): undefined {
    return undefined;
  }

  health(camera: string, health: HealthPayload, online: boolean): OutgoingMessage[] {
    const metrics = healthMetrics(health);
    Object.assign(this.camera(camera), metrics);
    return online ? [...this.birthIfNeeded(camera), this.data(camera, metrics, health.ts ?? this.now())] : [];
  }

  describe(device: DeviceDescription, online: boolean): OutgoingMessage[] {
    const removed = this.device.cameras.filter((c) => !device.cameras.includes(c) && this.born.has(c));
    for (const camera of device.cameras) deviceTopic(this.ids.groupId, 'DBIRTH', this.ids.edgeNodeId, camera);
    this.device = device;
    if (!online) return [];
    const deaths = removed.map((camera) => this.deviceDeath(camera));
    // The node's properties changed: born again, as after a rebirth request.
    return [...deaths, ...this.online()];
  }

  offline(): OutgoingMessage[] {
    const deaths = [...this.born].map((camera) => this.deviceDeath(camera));
    this.born.clear();
    return this.bdSeq === undefined ? deaths : [...deaths, this.will()];
  }
}
