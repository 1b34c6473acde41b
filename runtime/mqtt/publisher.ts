/**
 * Publishes a device's results, masks, health and reject signals to the MQTT
 * broker (mqtt.js, MQTT 3.1.1) and keeps the device's retained `status`.
 *
 * What the messages look like is the encoding's business (`mqtt.encoding`,
 * runtime/mqtt/encoding.ts): linesight's JSON topics, or Sparkplug B with
 * births, deaths and DDATA. Connection handling, the outbox and the delivery
 * rules below are the same for both. With Sparkplug a reject in flight when
 * the connection drops is encoded again after the reconnect (its `seq`
 * belonged to the old session) instead of being re-sent as it was.
 *
 * Connection state machine (typed `state` events):
 *
 *   closed --start()--> connecting --CONNACK--> online
 *   connecting/online --connection lost, refused, TLS failure--> offline
 *   offline --reconnect attempt--> connecting
 *   any --close()--> closing --> closed
 *
 * Reconnects are made by mqtt.js; the delay doubles after each failed attempt
 * from `reconnect.initialMs` up to `reconnect.maxMs` and is reset once online.
 * A refused login (bad user name or password, not authorized) is retried the
 * same way, so the device recovers by itself once the broker's account is
 * fixed; the `offline` state carries `fault: 'auth'` and a reason naming the
 * config keys to check.
 *
 * Rejects: `publishReject` first stores the reject in the durable outbox
 * (runtime/mqtt/outbox.ts) and only then sends it, at QoS 1, strictly in
 * outbox order with AT MOST ONE REJECT IN FLIGHT: the next one is sent only
 * after the broker's PUBACK for the previous one, and the outbox entry is
 * removed only on that PUBACK. One in flight makes the order trivially
 * certain (across reconnects and restarts the oldest pending reject always
 * goes first) and still gives one reject per broker round trip — about a
 * thousand per second on a LAN, far above any line's reject rate. A reject
 * in flight when the connection drops is re-sent by mqtt.js after the
 * reconnect; after a process restart the outbox re-sends it. Delivery is
 * therefore at-least-once and receivers de-duplicate by `seq` (see
 * rejectPayloadSchema).
 *
 * Results, masks and health are live data: while offline they are not queued
 * (a stale result is useless and an unbounded queue would exhaust memory over
 * a long outage); they are counted in `stats().droppedResults` etc. The
 * latest health per camera is retained by the broker and re-published on
 * every reconnect.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigError } from '../../config/errors.ts';
import { createLogger, type Logger } from '../../config/logger.ts';
import { mqttClientId, sparkplugIds, type MqttConfig } from '../../config/mqtt.ts';
import type { DeviceDescription, MqttEncoding, OutgoingMessage } from './encoding.ts';
import { JsonEncoding } from './json-encoding.ts';
import { OutboxFullError, RejectOutbox } from './outbox.ts';
import {
  healthPayloadSchema,
  maskPayloadSchema,
  parsePayload,
  PayloadError,
  rejectInputSchema,
  resultPayloadSchema,
  statusPayloadSchema,
  type HealthPayload,
  type MaskPayload,
  type RejectInput,
  type RejectPayload,
  type ResultPayload,
} from './payloads.ts';
import { SparkplugEncoding } from './sparkplug-encoding.ts';
import { validateTopicId } from './topics.ts';

export type { DeviceDescription } from './encoding.ts';

export type PublisherState = 'connecting' | 'online' | 'offline' | 'closing' | 'closed';

/** What went wrong with the connection, for dashboards and alarms. */
export type ConnectionFault = 'auth' | 'refused' | 'tls' | 'network';

export interface PublisherStateChange {
  state: PublisherState;
  previous: PublisherState;
  /** A sentence for technicians. */
  reason: string;
  fault?: ConnectionFault;
}

export interface RejectAcked {
  seq: number;
  camera: string;
  /** The frame's arrival time (the reject's `ts`). */
  frameTs: number;
  /** When the broker's PUBACK arrived (ms since epoch); ackedAt - frameTs is frame-to-PUBACK latency. */
  ackedAt: number;
}

export interface PublisherEvents {
  state: [PublisherStateChange];
  rejectAcked: [RejectAcked];
  /** A reject could not be stored because the outbox is full (it was NOT sent). */
  rejectRefused: [OutboxFullError];
}

export interface PublisherStats {
  state: PublisherState;
  /** Rejects stored and not yet acknowledged by the broker. */
  pendingRejects: number;
  /** Rejects acknowledged by the broker since start. */
  sentRejects: number;
  /** Rejects refused because the outbox was full. */
  refusedRejects: number;
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

export class PublisherError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PublisherError';
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the broker running and listening on that port?)',
  ECONNRESET: 'the broker closed the connection',
  ETIMEDOUT: 'no answer (timed out)',
  EHOSTUNREACH: 'host unreachable (check the network)',
  ENETUNREACH: 'network unreachable (check the network)',
  ENOTFOUND: 'host name not found (check the url and DNS)',
  EAI_AGAIN: 'host name lookup failed (check DNS)',
  EPIPE: 'the connection broke',
};

const TLS_CODES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the broker's certificate is not signed by a trusted CA (set mqtt.tls.ca to the CA that signed it)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the broker's certificate is not signed by a trusted CA (set mqtt.tls.ca to the CA that signed it)",
  SELF_SIGNED_CERT_IN_CHAIN: "the broker's certificate chain ends in an untrusted CA (set mqtt.tls.ca to that CA)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed and not trusted (set mqtt.tls.ca to it)",
  CERT_HAS_EXPIRED: "the broker's certificate has expired",
  CERT_NOT_YET_VALID: "the broker's certificate is not valid yet (check the device clock)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the broker's certificate is not issued for this host name (use the name in the certificate in mqtt.url)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the broker requires a client certificate (set mqtt.tls.cert and mqtt.tls.key)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the broker rejected the client certificate',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the broker does not trust the client certificate's CA",
};

/** Turns an mqtt.js / socket / TLS error into a fault kind and a sentence for technicians. */
export function describeConnectionError(err: Error & { code?: unknown }, url: string, username?: string): { fault: ConnectionFault; reason: string } {
  const code = err.code;
  if (typeof code === 'number') {
    // CONNACK return codes of MQTT 3.1.1 (mqtt.js ErrorWithReasonCode).
    if (code === 4 || code === 5 || code === 134 || code === 135) {
      const who = username ? `user "${username}"` : 'an anonymous client';
      return {
        fault: 'auth',
        reason: `broker ${url} refused the login of ${who}: ${code === 4 || code === 134 ? 'bad user name or password' : 'not authorized'} (check mqtt.username, mqtt.password and the broker's accounts)`,
      };
    }
    return { fault: 'refused', reason: `broker ${url} refused the connection: ${err.message} (check mqtt.clientId and the broker's settings)` };
  }
  const text = `${typeof code === 'string' ? code : ''} ${err.message}`;
  if (/CERT|SSL|TLS|certificate|self.signed|handshake|alert/i.test(text)) {
    const known = typeof code === 'string' ? TLS_CODES[code] : undefined;
    // OpenSSL messages carry a long prefix; keep the readable tail ("tlsv13 alert certificate required").
    if (known) return { fault: 'tls', reason: `TLS with broker ${url} failed: ${known}` };
    const detail = /routines:[^:]*:([^:]+)/.exec(err.message)?.[1] ?? err.message;
    return { fault: 'tls', reason: `TLS with broker ${url} failed: ${detail} (check mqtt.tls.ca, mqtt.tls.cert, mqtt.tls.key and that the url's host matches the broker certificate)` };
  }
  const known = typeof code === 'string' ? NETWORK_CODES[code] : undefined;
  return { fault: 'network', reason: `cannot reach broker ${url}: ${known ?? err.message}` };
}

async function readTlsFile(key: 'ca' | 'cert' | 'key', path: string | undefined): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (err) {
    throw new ConfigError(`mqtt.tls.${key}: cannot read "${path}" (${(err as Error).message})`);
  }
}

export class MqttPublisher extends EventEmitter<PublisherEvents> {
  readonly config: MqttConfig;
  readonly url: string;
  private readonly outboxDir: string;
  private device: DeviceDescription;
  private readonly log: Logger;
  private client: MqttClient | undefined;
  private outbox: RejectOutbox | undefined;
  private current: PublisherState = 'closed';
  private reconnectDelay: number;
  private sending = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private readonly encoding: MqttEncoding;
  private closing: Promise<void> | undefined;
  private lastReasonLogged = '';
  private lastChange: PublisherStateChange | undefined;
  private counters = {
    sentRejects: 0,
    refusedRejects: 0,
    publishedResults: 0,
    droppedResults: 0,
    publishedMasks: 0,
    droppedMasks: 0,
    publishedHealth: 0,
    reconnects: 0,
  };
  /** The problem of the current connection attempt (cleared once online). */
  private problem: { fault: ConnectionFault; reason: string } | undefined;
  /** The last problem seen, kept after recovery for diagnosis. */
  private lastProblem: { fault: ConnectionFault; reason: string; at: number } | undefined;
  private onlineSince: number | undefined;

  constructor(options: MqttPublisherOptions) {
    super();
    this.config = options.config;
    const url = options.url ?? options.config.url;
    if (!url) throw new ConfigError('mqtt.url is not set and no embedded broker URL was given');
    this.url = url;
    this.outboxDir = options.outboxDir;
    this.device = MqttPublisher.checkDevice(options.device);
    this.log = (options.logger ?? createLogger('mqtt')).child({ device: options.config.deviceId });
    this.reconnectDelay = options.config.reconnect.initialMs;
    this.encoding =
      options.config.encoding === 'sparkplug'
        ? new SparkplugEncoding({ ids: sparkplugIds(options.config), device: this.device, stateDir: options.outboxDir, logger: this.log })
        : new JsonEncoding({ prefix: options.config.prefix, deviceId: options.config.deviceId, resultQos: options.config.resultQos }, this.device);
  }

  private static checkDevice(device: DeviceDescription): DeviceDescription {
    parsePayload(statusPayloadSchema, { state: 'online', ...device }, 'device status');
    return { version: device.version, cameras: [...device.cameras], products: [...device.products] };
  }

  get state(): PublisherState {
    return this.current;
  }

  /** Publishes messages without waiting for them; a failure is only logged (a QoS 1 one as a warning). */
  private send(client: MqttClient, messages: OutgoingMessage[], what: string): void {
    for (const m of messages) {
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => {
        if (err) this.log[m.qos === 1 ? 'warn' : 'debug']({ err, topic: m.topic }, `${what} on ${m.topic} not ${m.qos === 1 ? 'acknowledged by the broker' : 'delivered'}`);
      });
    }
  }

  private setState(state: PublisherState, reason: string, fault?: ConnectionFault): void {
    const previous = this.current;
    if (previous === state) return;
    this.current = state;
    const change: PublisherStateChange = fault ? { state, previous, reason, fault } : { state, previous, reason };
    this.lastChange = change;
    if (state === 'offline') {
      // One log line per distinct problem, not one per retry.
      if (reason !== this.lastReasonLogged) this.log.warn({ state, fault }, reason);
      this.lastReasonLogged = reason;
    } else if (state !== 'connecting') {
      this.log.info({ state }, reason);
      this.lastReasonLogged = '';
    }
    this.emit('state', change);
  }

  /** Opens the outbox and starts connecting; resolves without waiting for the broker. */
  async start(): Promise<void> {
    if (this.current !== 'closed' || this.client || this.closing) throw new PublisherError('MQTT publisher already started');
    const tls = this.config.tls;
    const [ca, cert, key] = await Promise.all([readTlsFile('ca', tls?.ca), readTlsFile('cert', tls?.cert), readTlsFile('key', tls?.key)]);
    this.outbox = await RejectOutbox.open(this.outboxDir, { maxEntries: this.config.outboxMax, logger: this.log });
    const options: IClientOptions = {
      clientId: mqttClientId(this.config),
      protocolVersion: 4,
      clean: true,
      keepalive: this.config.keepaliveSeconds,
      connectTimeout: this.config.connectTimeoutMs,
      reconnectPeriod: this.reconnectDelay,
      reconnectOnConnackError: true,
      queueQoSZero: false,
      // Command subscriptions are made on every connect, before the births.
      resubscribe: false,
      will: this.encoding.newSession(),
    };
    if (this.config.username !== undefined) options.username = this.config.username;
    if (this.config.password !== undefined) options.password = this.config.password;
    if (tls) {
      options.rejectUnauthorized = tls.rejectUnauthorized;
      if (ca) options.ca = ca;
      if (cert) options.cert = cert;
      if (key) options.key = key;
    }
    let client: MqttClient;
    try {
      client = mqtt.connect(this.url, options);
    } catch (err) {
      await this.outbox.close();
      this.outbox = undefined;
      throw new ConfigError(`mqtt.url "${this.url}": ${(err as Error).message}`);
    }
    this.setState('connecting', `connecting to broker ${this.url}`);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('error', (err) => {
      this.problem = describeConnectionError(err as Error & { code?: unknown }, this.url, this.config.username);
      this.lastProblem = { ...this.problem, at: Date.now() };
    });
    client.on('close', () => this.onClose());
    client.on('message', (topic, payload) => this.onCommand(topic, payload));
    client.on('reconnect', () => {
      // Each CONNECT opens a new session with its own last will (Sparkplug: the next bdSeq).
      client.options.will = this.encoding.newSession();
      this.counters.reconnects++;
      // Back off: the next attempt after this one waits twice as long, up to the maximum.
      this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.config.reconnect.maxMs);
      client.options.reconnectPeriod = this.reconnectDelay;
      if (this.current === 'offline') this.setState('connecting', `reconnecting to broker ${this.url}`);
    });
  }

  private onConnect(): void {
    const client = this.client;
    if (!client) return;
    // Rejects are small packets: send them at once (no Nagle delay), as the broker side does.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.reconnectDelay = this.config.reconnect.initialMs;
    client.options.reconnectPeriod = this.reconnectDelay;
    this.problem = undefined;
    this.onlineSince = Date.now();
    if (this.current === 'closing' || this.current === 'closed') return;
    this.setState('online', `connected to broker ${this.url}`);
    const commands = this.encoding.commandFilters();
    if (commands.length > 0) {
      client.subscribe(commands, { qos: 1 }, (err) => {
        if (err) this.log.warn({ err }, `cannot subscribe to ${commands.join(', ')}: ${err.message}`);
      });
    }
    this.send(client, this.encoding.online(), 'online announcement');
    void this.pumpRejects();
  }

  private onCommand(topic: string, payload: Buffer): void {
    const client = this.client;
    if (!client || this.current !== 'online') return;
    try {
      const answer = this.encoding.command(topic, payload);
      if (answer.length > 0) this.log.info({ topic }, `command on ${topic}: publishing ${answer.length} message(s)`);
      this.send(client, answer, 'command answer');
    } catch (err) {
      this.log.warn({ err, topic }, (err as Error).message);
    }
  }

  private onClose(): void {
    this.onlineSince = undefined;
    if (this.encoding.sessionSequenced && this.client) {
      // Its sequence number belonged to the lost session: the reject goes out again, encoded
      // anew, after the next connection's births (it stays in the outbox until acknowledged).
      for (const id of Object.keys(this.client.outgoing)) this.client.removeOutgoingMessage(Number(id));
    }
    if (this.current === 'closing' || this.current === 'closed') return;
    const problem = this.problem ?? { fault: 'network' as const, reason: `lost the connection to broker ${this.url}` };
    this.problem = problem;
    this.lastProblem = { ...problem, at: Date.now() };
    const retry = this.client?.options.reconnectPeriod ?? this.reconnectDelay;
    this.setState('offline', `${problem.reason}; retrying in ${(retry / 1000).toFixed(1)} s`, problem.fault);
  }

  /**
   * Sends pending rejects, oldest first, one at a time; each outbox entry is
   * removed on its PUBACK. Runs until the outbox is empty or the connection is
   * gone; restarted on every connect and every new reject.
   */
  private async pumpRejects(): Promise<void> {
    const client = this.client;
    const outbox = this.outbox;
    if (this.sending || !client || !outbox) return;
    this.sending = true;
    let failed = false;
    try {
      while ((this.current === 'online' || this.current === 'closing') && client.connected) {
        const next = await outbox.oldest();
        if (!next) break;
        await this.sendReject(client, next);
        const ackedAt = Date.now();
        await outbox.ack(next.seq);
        this.counters.sentRejects++;
        this.emit('rejectAcked', { seq: next.seq, camera: next.camera, frameTs: next.ts, ackedAt });
      }
    } catch (err) {
      // The entry stays in the outbox and goes out again after the next (re)connect or retry.
      failed = true;
      const closing = this.current === 'closing' || this.current === 'closed';
      this.log[closing ? 'debug' : 'warn']({ err }, `reject not acknowledged yet: ${(err as Error).message}`);
    } finally {
      this.sending = false;
      if (outbox.size === 0) for (const wake of this.drainWaiters.splice(0)) wake();
    }
    if (outbox.size === 0 || this.current !== 'online' || !client.connected) return;
    if (failed) {
      // Retry later rather than spin on an error that persists while the connection looks up.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        void this.pumpRejects();
      }, this.config.reconnect.initialMs);
    } else {
      // A reject appended while the last send completed may have found the pump busy.
      void this.pumpRejects();
    }
  }

  private sendReject(client: MqttClient, payload: RejectPayload): Promise<void> {
    const messages = this.encoding.reject(payload);
    const signal = messages.pop()!;
    this.send(client, messages, 'reject preamble');
    return new Promise((resolve, reject) => {
      client.publish(signal.topic, signal.payload, { qos: signal.qos, retain: signal.retain }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private assertStarted(what: string): { client: MqttClient; outbox: RejectOutbox } {
    if (!this.client || !this.outbox) throw new PublisherError(`cannot ${what}: the MQTT publisher is not started`);
    if (this.current === 'closing' || this.current === 'closed') throw new PublisherError(`cannot ${what}: the MQTT publisher is ${this.current}`);
    return { client: this.client, outbox: this.outbox };
  }

  /**
   * Stores a reject durably, then sends it (in order, after all older pending
   * rejects). Resolves with the stored payload (with its `seq`) once it is on
   * disk — not when the broker has it (see the `rejectAcked` event). Rejects
   * with OutboxFullError when the outbox is full: that reject was NOT stored.
   */
  async publishReject(input: RejectInput): Promise<RejectPayload> {
    // Accepted while closing too: it is stored, and sent now or at the next start.
    const outbox = this.outbox;
    if (!outbox || this.current === 'closed') throw new PublisherError(`cannot publish a reject: the MQTT publisher is ${this.outbox ? 'closed' : 'not started'}`);
    const checked = parsePayload(rejectInputSchema, input, 'reject payload');
    let stored: RejectPayload;
    try {
      stored = await outbox.append(checked);
    } catch (err) {
      if (err instanceof OutboxFullError) {
        this.counters.refusedRejects++;
        this.emit('rejectRefused', err);
      }
      throw err;
    }
    void this.pumpRejects();
    return stored;
  }

  /** Publishes one frame result (QoS mqtt.resultQos). Returns false when offline (the result is dropped and counted). */
  publishResult(camera: string, payload: ResultPayload): boolean {
    const { client } = this.assertStarted('publish a result');
    validateTopicId('camera id', camera);
    const checked = parsePayload(resultPayloadSchema, payload, `result payload of camera ${camera}`);
    if (this.current !== 'online') {
      this.counters.droppedResults++;
      return false;
    }
    this.send(client, this.encoding.result(camera, checked), 'result');
    this.counters.publishedResults++;
    return true;
  }

  /** Publishes a refined mask, as PNG bytes or run-length JSON (QoS 0). Returns false when offline. */
  publishMask(camera: string, mask: Buffer | MaskPayload): boolean {
    const { client } = this.assertStarted('publish a mask');
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
    if (this.current !== 'online') {
      this.counters.droppedMasks++;
      return false;
    }
    this.send(client, [message], 'mask');
    this.counters.publishedMasks++;
    return true;
  }

  /** Publishes a camera's health (QoS 0, retained). The latest one is re-published after each reconnect. */
  publishHealth(camera: string, payload: HealthPayload): boolean {
    const { client } = this.assertStarted('publish health');
    validateTopicId('camera id', camera);
    const checked = parsePayload(healthPayloadSchema, payload, `health payload of camera ${camera}`);
    const online = this.current === 'online';
    const messages = this.encoding.health(camera, checked, online);
    if (!online) return false;
    this.send(client, messages, 'health');
    this.counters.publishedHealth++;
    return true;
  }

  /** Changes what the status message lists (cameras, products) and re-publishes it when online. */
  updateDevice(update: Partial<DeviceDescription>): void {
    const { client } = this.assertStarted('update the device status');
    for (const camera of update.cameras ?? []) validateTopicId('camera id', camera);
    this.device = MqttPublisher.checkDevice({ ...this.device, ...update });
    const messages = this.encoding.describe(this.device, this.current === 'online');
    // The last will is sent with each CONNECT, so the next connection carries the new description.
    client.options.will = this.encoding.will();
    this.send(client, messages, 'device description');
  }

  /** Resolves once the outbox is empty (true) or after timeoutMs (false). */
  /** Resolves true once the reject `seq` is acknowledged by the broker, false after timeoutMs. */
  waitForReject(seq: number, timeoutMs: number): Promise<boolean> {
    if (!this.outbox || !this.outbox.pendingSeqs().includes(seq)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onAck = (ack: RejectAcked) => {
        if (ack.seq !== seq) return;
        clearTimeout(timer);
        this.off('rejectAcked', onAck);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off('rejectAcked', onAck);
        resolve(false);
      }, timeoutMs);
      this.on('rejectAcked', onAck);
    });
  }

  waitForDrain(timeoutMs: number): Promise<boolean> {
    if (!this.outbox || this.outbox.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      this.drainWaiters.push(wake);
    });
  }

  /**
   * Resolves with the state change that entered `state` (at once when already
   * there); rejects after timeoutMs naming the last problem.
   */
  waitForState(state: PublisherState, timeoutMs: number): Promise<PublisherStateChange> {
    if (this.current === state && this.lastChange) return Promise.resolve(this.lastChange);
    return new Promise((resolve, reject) => {
      const onState = (change: PublisherStateChange) => {
        if (change.state !== state) return;
        clearTimeout(timer);
        this.off('state', onState);
        resolve(change);
      };
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(new PublisherError(`MQTT publisher did not become ${state} within ${timeoutMs} ms (now ${this.current}${this.problem ? `: ${this.problem.reason}` : ''})`));
      }, timeoutMs);
      this.on('state', onState);
    });
  }

  stats(): PublisherStats {
    const outbox = this.outbox?.stats();
    const s: PublisherStats = {
      state: this.current,
      pendingRejects: outbox?.pending ?? 0,
      lastRejectSeq: outbox?.lastSeq ?? 0,
      ...this.counters,
    };
    if (this.lastProblem) {
      s.lastError = this.lastProblem.reason;
      s.lastFault = this.lastProblem.fault;
      s.lastErrorAt = this.lastProblem.at;
    }
    if (this.onlineSince !== undefined) s.onlineSince = this.onlineSince;
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
    const client = this.client;
    const outbox = this.outbox;
    if (!client || this.current === 'closed') {
      await outbox?.close();
      this.current = 'closed';
      return;
    }
    this.setState('closing', 'closing the MQTT connection');
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (client.connected) {
      if (!(await this.waitForDrain(left()))) {
        this.log.warn({ pending: outbox?.size }, `closing with ${outbox?.size} reject(s) not yet acknowledged; they are sent at the next start`);
      }
    }
    if (client.connected) {
      // The encoding's goodbye (status offline, or Sparkplug DDEATHs and NDEATH); waits for the acknowledged ones.
      await Promise.all(
        this.encoding.offline().map(
          (m) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, m.qos === 0 ? 0 : left());
              client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, () => {
                clearTimeout(timer);
                resolve();
              });
            }),
        ),
      );
    }
    // A graceful DISCONNECT when nothing is in flight; otherwise cut the connection (whatever was
    // in flight is a reject still in the outbox or a live result not worth waiting for).
    const force = !client.connected || Object.keys(client.outgoing).length > 0;
    client.options.reconnectPeriod = 0;
    await new Promise<void>((resolve) => {
      // mqtt.js does not call back when the socket was already gone; do not wait for it then.
      const timer = setTimeout(resolve, Math.max(left(), 200));
      client.end(force, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await outbox?.close();
    this.client = undefined;
    this.setState('closed', 'MQTT connection closed');
  }
}
