/**
 * Publishes a device's results, masks, health and reject signals to the MQTT
 * broker and keeps the device's retained `status`: the one object the rest of
 * the runtime talks to. It puts together, one file per concern:
 *
 *   connection.ts        the broker connection and its state machine
 *                        (connection-state.ts), reconnects with back-off
 *   client-options.ts    mqtt.js options and the TLS certificate files
 *   connection-errors.ts what technicians read about connection problems
 *   reject-delivery.ts   the reject pump: stored first, one in flight, in
 *                        outbox order, removed on PUBACK (at-least-once;
 *                        receivers de-duplicate by `seq`)
 *   outbox.ts            the durable reject outbox behind outbox-contract.ts,
 *                        and one part outbox per camera (part verdicts,
 *                        delivered by the same pump under the same rules)
 *   live-publisher.ts    results, masks and health (dropped while offline)
 *
 * What the messages look like is the encoding's business (`mqtt.encoding`,
 * runtime/mqtt/encoding.ts): linesight's JSON topics, or Sparkplug B with
 * births, deaths and DDATA. Connection handling, the outbox and the delivery
 * rules are the same for both.
 */
import { EventEmitter } from 'node:events';
import { ConfigError } from '../../config/errors.ts';
import { createLogger, type Logger } from '../../config/logger.ts';
import { sparkplugIds, type MqttConfig } from '../../config/mqtt.ts';
import { clientOptions, readTlsFiles } from './client-options.ts';
import { PublisherError, wording, type ConnectionFault } from './connection-errors.ts';
import { shuttingDown, type PublisherState } from './connection-state.ts';
import { BrokerConnection, type PublisherStateChange } from './connection.ts';
import type { DeviceDescription, MqttEncoding, OutgoingMessage } from './encoding.ts';
import { JsonEncoding } from './json-encoding.ts';
import { checkDevice, LivePublisher } from './live-publisher.ts';
import { partCountersPayloadSchema, type PartCountersPayload, type PartVerdictInput, type PartVerdictPayload } from '../parts/payloads.ts';
import { partKind, partOutboxDir, RejectOutbox, type OutboxFullError } from './outbox.ts';
import { parsePayload, rejectInputSchema, type HealthPayload, type MaskPayload, type RejectInput, type RejectPayload, type ResultPayload } from './payloads.ts';
import { RejectDelivery, type RejectAcked } from './reject-delivery.ts';
import { SparkplugEncoding } from './sparkplug-encoding.ts';
import { validateTopicId } from './topics.ts';

export type { DeviceDescription } from './encoding.ts';
export type { PublisherState } from './connection-state.ts';
export type { PublisherStateChange } from './connection.ts';
export type { RejectAcked } from './reject-delivery.ts';
export { describeConnectionError, PublisherError, type ConnectionFault } from './connection-errors.ts';

export interface PublisherEvents {
  state: [PublisherStateChange];
  rejectAcked: [RejectAcked];
  /** A reject could not be stored because the outbox is full (it was NOT sent). */
  rejectRefused: [OutboxFullError];
  /** The broker acknowledged a part verdict (`seq` is the camera's part seq, `frameTs` its decision time). */
  partAcked: [RejectAcked];
  /** A message on a topic subscribed with `subscribe`. */
  message: [topic: string, payload: Buffer];
}

export interface PublisherStats {
  state: PublisherState;
  /** Rejects stored and not yet acknowledged by the broker. */
  pendingRejects: number;
  /** Rejects acknowledged by the broker since start. */
  sentRejects: number;
  /** Rejects refused because the outbox was full. */
  refusedRejects: number;
  /** Part verdicts stored and not yet acknowledged by the broker (all cameras). */
  pendingParts: number;
  /** Part verdicts acknowledged by the broker since start. */
  sentParts: number;
  /** Unreadable outbox entries set aside as `.corrupt` (never sent; see the outbox directory). */
  quarantinedRejects: number;
  /** Highest reject seq assigned so far. */
  lastRejectSeq: number;
  publishedResults: number;
  droppedResults: number;
  publishedMasks: number;
  droppedMasks: number;
  publishedHealth: number;
  /** Reconnect attempts since start. */
  reconnects: number;
  /** The last connection problem, kept after recovery. */
  lastError?: string;
  lastFault?: ConnectionFault;
  lastErrorAt?: number;
  /** When the current connection was made (ms since epoch), if online. */
  onlineSince?: number;
}

export interface MqttPublisherOptions {
  config: MqttConfig;
  /** Broker URL; overrides `config.url` (used for the embedded broker). */
  url?: string;
  /** This device's reject outbox directory (see rejectOutboxDir in config/mqtt.ts). */
  outboxDir: string;
  /** What the retained status message (or the Sparkplug NBIRTH) says about the device. */
  device: DeviceDescription;
  logger?: Logger;
}

export class MqttPublisher extends EventEmitter<PublisherEvents> {
  readonly config: MqttConfig;
  readonly url: string;
  private readonly outboxDir: string;
  private device: DeviceDescription;
  private readonly log: Logger;
  private readonly encoding: MqttEncoding;
  private readonly connection: BrokerConnection;
  private readonly live: LivePublisher;
  private delivery: RejectDelivery | undefined;
  private readonly partDeliveries = new Map<string, RejectDelivery<PartVerdictInput, PartVerdictPayload>>();
  private closing: Promise<void> | undefined;

  constructor(options: MqttPublisherOptions) {
    super();
    this.config = options.config;
    const url = options.url ?? options.config.url;
    if (!url) throw new ConfigError(wording.noUrl);
    this.url = url;
    this.outboxDir = options.outboxDir;
    this.device = checkDevice(options.device);
    this.log = (options.logger ?? createLogger('mqtt')).child({ device: options.config.deviceId });
    this.encoding =
      options.config.encoding === 'sparkplug'
        ? new SparkplugEncoding({ ids: sparkplugIds(options.config), device: this.device, stateDir: options.outboxDir, logger: this.log })
        : new JsonEncoding({ prefix: options.config.prefix, deviceId: options.config.deviceId, resultQos: options.config.resultQos }, this.device);
    this.connection = new BrokerConnection(this.config, url, this.encoding, this.log);
    this.connection.on('state', (change) => this.emit('state', change));
    this.connection.on('online', () => {
      this.delivery?.pump();
      for (const parts of this.partDeliveries.values()) parts.pump();
    });
    this.connection.on('message', (topic, payload) => this.emit('message', topic, payload));
    this.live = new LivePublisher(this.encoding, { online: () => this.connection.state === 'online', send: (m, what) => this.connection.send(m, what) });
  }

  get state(): PublisherState {
    return this.connection.state;
  }

  /** Opens the outbox and starts connecting; resolves without waiting for the broker. */
  async start(): Promise<void> {
    if (this.connection.state !== 'closed' || this.connection.started || this.closing) throw new PublisherError(wording.alreadyStarted);
    const tlsFiles = await readTlsFiles(this.config);
    const outbox = await RejectOutbox.open(this.outboxDir, { maxEntries: this.config.outboxMax, logger: this.log });
    const connection = this.connection;
    const delivery = new RejectDelivery(
      outbox,
      {
        canSend: () => connection.connected && (connection.state === 'online' || connection.state === 'closing'),
        shuttingDown: () => shuttingDown(connection.state),
        send: (reject) => this.sendReject(reject),
      },
      { retryMs: this.config.reconnect.initialMs, log: this.log },
    );
    delivery.on('acked', (ack) => this.emit('rejectAcked', ack));
    delivery.on('refused', (err) => this.emit('rejectRefused', err));
    try {
      await this.openPartOutboxes();
      connection.open(clientOptions(this.config, tlsFiles, this.encoding.newSession(), this.config.reconnect.initialMs));
    } catch (err) {
      await outbox.close();
      for (const parts of this.partDeliveries.values()) await parts.outbox.close();
      this.partDeliveries.clear();
      throw err;
    }
    this.delivery = delivery;
  }

  /** One durable part outbox per camera, delivered like rejects (stored first, one in flight, in order, removed on PUBACK). */
  private async openPartOutboxes(): Promise<void> {
    const connection = this.connection;
    for (const camera of this.device.cameras) {
      const outbox = await RejectOutbox.openKind(partOutboxDir(this.outboxDir, camera), partKind, { maxEntries: this.config.outboxMax, logger: this.log });
      const delivery = new RejectDelivery<PartVerdictInput, PartVerdictPayload>(
        outbox,
        {
          canSend: () => connection.connected && (connection.state === 'online' || connection.state === 'closing'),
          shuttingDown: () => shuttingDown(connection.state),
          send: (part) => this.sendSignal(this.encoding.part(part)),
        },
        { retryMs: this.config.reconnect.initialMs, log: this.log, timeOf: (part) => part.decidedTs },
      );
      delivery.on('acked', (ack) => this.emit('partAcked', ack));
      this.partDeliveries.set(camera, delivery);
    }
  }

  /** The preamble messages (if any) without waiting, then the last one at QoS 1 until its PUBACK. */
  private sendSignal(messages: OutgoingMessage[]): Promise<void> {
    const signal = messages.pop()!;
    this.connection.send(messages, 'preamble');
    return this.connection.publish(signal);
  }

  /** The reject's preamble (if the encoding has one) without waiting, then the reject itself at QoS 1 until its PUBACK. */
  private sendReject(payload: RejectPayload): Promise<void> {
    const messages = this.encoding.reject(payload);
    const signal = messages.pop()!;
    this.connection.send(messages, 'reject preamble');
    return this.connection.publish(signal);
  }

  private assertStarted(what: string): void {
    if (!this.connection.started || !this.delivery) throw new PublisherError(wording.notStarted(what));
    if (shuttingDown(this.connection.state)) throw new PublisherError(wording.notRunning(what, this.connection.state));
  }

  /**
   * Stores a reject durably, then sends it (in order, after all older pending
   * rejects). Resolves with the stored payload (with its `seq`) once it is on
   * disk — not when the broker has it (see the `rejectAcked` event). Rejects
   * with OutboxFullError when the outbox is full: that reject was NOT stored.
   */
  async publishReject(input: RejectInput): Promise<RejectPayload> {
    // Accepted while closing too: it is stored, and sent now or at the next start.
    const delivery = this.delivery;
    if (!delivery || this.connection.state === 'closed') throw new PublisherError(`cannot publish a reject: the MQTT publisher is ${delivery ? 'closed' : 'not started'}`);
    return delivery.store(parsePayload(rejectInputSchema, input, 'reject payload'));
  }

  /**
   * Stores a part verdict durably in its camera's part outbox, which gives it
   * the camera's next part `seq` (replacing the one it came with), then sends
   * it at QoS 1 in order after the camera's older pending verdicts. Resolves
   * with the stored payload once it is on disk; rejects with OutboxFullError
   * when the part outbox is full.
   */
  async publishPart(input: PartVerdictInput): Promise<PartVerdictPayload> {
    const delivery = this.partDeliveries.get(input.camera);
    if (!this.delivery || this.connection.state === 'closed') throw new PublisherError(`cannot publish a part verdict: the MQTT publisher is ${this.delivery ? 'closed' : 'not started'}`);
    if (!delivery) throw new PublisherError(`cannot publish a part verdict of camera ${JSON.stringify(input.camera)}: the device has no such camera`);
    const { seq: _ignored, ...verdict } = input as PartVerdictInput & { seq?: number };
    return delivery.store(verdict);
  }

  /** Publishes a camera's part counters (QoS 1, retained); the latest is re-published after each reconnect. False when offline. */
  publishCounters(camera: string, payload: PartCountersPayload): boolean {
    this.assertStarted('publish part counters');
    validateTopicId('camera id', camera);
    const checked = parsePayload(partCountersPayloadSchema, payload, `counters payload of camera ${camera}`);
    const online = this.connection.state === 'online';
    const messages = this.encoding.counters(camera, checked, online);
    if (online) this.connection.send(messages, 'part counters');
    return online;
  }

  /** Subscribes to `filter` now and after every reconnect; its messages come as `message` events. */
  subscribe(filter: string): void {
    this.connection.subscribe(filter);
  }

  /** Publishes one frame result (QoS mqtt.resultQos). Returns false when offline (the result is dropped and counted). */
  publishResult(camera: string, payload: ResultPayload): boolean {
    this.assertStarted('publish a result');
    return this.live.result(camera, payload);
  }

  /** Publishes a refined mask, as PNG bytes or run-length JSON (QoS 0). Returns false when offline. */
  publishMask(camera: string, mask: Buffer | MaskPayload): boolean {
    this.assertStarted('publish a mask');
    return this.live.mask(camera, mask);
  }

  /** Publishes a camera's health (QoS 0, retained). The latest one is re-published after each reconnect. */
  publishHealth(camera: string, payload: HealthPayload): boolean {
    this.assertStarted('publish health');
    return this.live.health(camera, payload);
  }

  /** Changes what the status message lists (cameras, products) and re-publishes it when online. */
  updateDevice(update: Partial<DeviceDescription>): void {
    this.assertStarted('update the device status');
    for (const camera of update.cameras ?? []) validateTopicId('camera id', camera);
    this.device = checkDevice({ ...this.device, ...update });
    const messages = this.encoding.describe(this.device, this.connection.state === 'online');
    // The last will is sent with each CONNECT, so the next connection carries the new description.
    this.connection.setWill(this.encoding.will());
    this.connection.send(messages, 'device description');
  }

  /** Resolves true once the reject `seq` is acknowledged by the broker, false after timeoutMs. */
  waitForReject(seq: number, timeoutMs: number): Promise<boolean> {
    return this.delivery ? this.delivery.waitForReject(seq, timeoutMs) : Promise.resolve(true);
  }

  /** Resolves once the reject outbox and every part outbox are empty (true) or after timeoutMs (false). */
  async waitForDrain(timeoutMs: number): Promise<boolean> {
    const all = [...(this.delivery ? [this.delivery] : []), ...this.partDeliveries.values()];
    const drained = await Promise.all(all.map((d: { waitForDrain(ms: number): Promise<boolean> }) => d.waitForDrain(timeoutMs)));
    return drained.every(Boolean);
  }

  /**
   * Resolves with the state change that entered `state` (at once when already
   * there); rejects after timeoutMs naming the last problem.
   */
  waitForState(state: PublisherState, timeoutMs: number): Promise<PublisherStateChange> {
    return this.connection.waitForState(state, timeoutMs);
  }

  stats(): PublisherStats {
    const outbox = this.delivery?.outbox.stats();
    const connection = this.connection;
    const s: PublisherStats = {
      state: connection.state,
      pendingRejects: outbox?.pending ?? 0,
      lastRejectSeq: outbox?.lastSeq ?? 0,
      sentRejects: this.delivery?.sent ?? 0,
      refusedRejects: this.delivery?.refused ?? 0,
      pendingParts: [...this.partDeliveries.values()].reduce((n, d) => n + d.outbox.size, 0),
      sentParts: [...this.partDeliveries.values()].reduce((n, d) => n + d.sent, 0),
      quarantinedRejects: outbox?.quarantined ?? 0,
      ...this.live.counters,
      reconnects: connection.reconnects,
    };
    if (connection.lastProblem) {
      s.lastError = connection.lastProblem.reason;
      s.lastFault = connection.lastProblem.fault;
      s.lastErrorAt = connection.lastProblem.at;
    }
    if (connection.onlineSince !== undefined) s.onlineSince = connection.onlineSince;
    return s;
  }

  /**
   * Tries, within timeoutMs, to deliver the pending rejects and to publish the
   * retained `offline` status, then disconnects. Rejects still pending stay in
   * the outbox and are sent first at the next start.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.closing) this.closing = this.doClose(options.timeoutMs ?? 5000);
    return this.closing;
  }

  private async doClose(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    const connection = this.connection;
    const delivery = this.delivery;
    const parts = [...this.partDeliveries.values()];
    const closeOutboxes = async () => {
      await delivery?.outbox.close();
      for (const p of parts) await p.outbox.close();
    };
    if (!connection.started || connection.state === 'closed') {
      await closeOutboxes();
      return;
    }
    connection.beginClose();
    delivery?.stopRetrying();
    for (const p of parts) p.stopRetrying();
    if (delivery && connection.connected && !(await delivery.waitForDrain(left()))) {
      this.log.warn({ pending: delivery.outbox.size }, wording.rejectsLeftAtClose(delivery.outbox.size));
    }
    if (connection.connected && !(await Promise.all(parts.map((p) => p.waitForDrain(left())))).every(Boolean)) {
      const pending = parts.reduce((n, p) => n + p.outbox.size, 0);
      this.log.warn({ pending }, `${pending} part verdict(s) not acknowledged before closing; they stay in the part outboxes and are sent first at the next start`);
    }
    // The encoding's goodbye (status offline, or Sparkplug DDEATHs and NDEATH); waits for the acknowledged ones.
    await connection.sayGoodbye(left());
    await connection.end(left());
    await closeOutboxes();
    connection.finishClose();
  }
}
