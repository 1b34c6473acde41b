/**
 * The device's connection to the broker: one mqtt.js client (MQTT 3.1.1)
 * driven through the state machine of runtime/mqtt/connection-state.ts, with
 * typed `state` events carrying a sentence and a fault kind.
 *
 * Reconnects are made by mqtt.js; the delay doubles after each failed attempt
 * from `reconnect.initialMs` up to `reconnect.maxMs` and is reset once online.
 * A refused login (bad user name or password, not authorized) is retried the
 * same way, so the device recovers by itself once the broker's account is
 * fixed; the `offline` state carries `fault: 'auth'` and a reason naming the
 * config keys to check.
 *
 * On each connect the encoding's command topics are subscribed and its
 * online announcement (status or Sparkplug births) is sent; then `online` is
 * emitted so rejects can flow. With a session-sequenced encoding (Sparkplug)
 * a reject in flight when the connection drops is dropped from mqtt.js's
 * resend queue: its `seq` belonged to the old session, and reject delivery
 * sends it again, encoded anew, after the next connection's births.
 */
import { redactUrl } from '../../config/secrets.ts';
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigError } from '../../config/errors.ts';
import type { Logger } from '../../config/logger.ts';
import type { MqttConfig } from '../../config/mqtt.ts';
import { describeConnectionError, PublisherError, wording, type ConnectionFault, type ConnectionProblem } from './connection-errors.ts';
import { nextState, shuttingDown, type ConnectionEvent, type PublisherState } from './connection-state.ts';
import type { MqttEncoding, OutgoingMessage } from './encoding.ts';
import { waitFor, within } from './wait.ts';

export interface PublisherStateChange {
  state: PublisherState;
  previous: PublisherState;
  /** A sentence for technicians. */
  reason: string;
  fault?: ConnectionFault;
}

export interface ConnectionEvents {
  state: [PublisherStateChange];
  /** Connected, subscribed and announced: rejects may flow. */
  online: [];
  /** A message on a subscribed topic (the encoding's commands and those of `subscribe`). */
  message: [topic: string, payload: Buffer];
}

export class BrokerConnection extends EventEmitter<ConnectionEvents> {
  private client: MqttClient | undefined;
  private current: PublisherState = 'closed';
  private reconnectDelay: number;
  private lastChange: PublisherStateChange | undefined;
  private lastReasonLogged = '';
  /** The problem of the current connection attempt (cleared once online). */
  private problem: ConnectionProblem | undefined;
  /** The last problem seen, kept after recovery for diagnosis. */
  lastProblem: (ConnectionProblem & { at: number }) | undefined;
  onlineSince: number | undefined;
  /** Reconnect attempts since start. */
  reconnects = 0;
  /** The broker URL as logs and health show it (credentials redacted). */
  private readonly shownUrl: string;
  /** With `mqtt.servers`: every broker of the cluster, as logs show them. */
  private readonly shownServers: string | undefined;
  /** Topic filters subscribed on every connect besides the encoding's commands. */
  private readonly filters: string[] = [];

  constructor(
    private readonly config: MqttConfig,
    readonly url: string,
    private readonly encoding: MqttEncoding,
    private readonly log: Logger,
  ) {
    super();
    this.reconnectDelay = config.reconnect.initialMs;
    this.shownUrl = redactUrl(url);
    if (config.servers) this.shownServers = [this.shownUrl, ...config.servers].join(', ');
  }

  get state(): PublisherState {
    return this.current;
  }

  get started(): boolean {
    return this.client !== undefined;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Starts connecting (without waiting for the broker); `options` come from clientOptions(). */
  open(options: IClientOptions): void {
    let client: MqttClient;
    try {
      client = mqtt.connect(this.url, { ...options, reconnectPeriod: this.reconnectDelay });
    } catch (err) {
      throw new ConfigError(wording.badUrl(this.shownUrl, err as Error));
    }
    this.transition('start', wording.connecting(this.shownUrl));
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('error', (err) => {
      this.problem = describeConnectionError(err as Error & { code?: unknown }, this.brokerOf(client), this.config.username);
      this.lastProblem = { ...this.problem, at: Date.now() };
    });
    client.on('close', () => this.onClose(client));
    client.on('message', (topic, payload) => this.onCommand(client, topic, payload));
    client.on('reconnect', () => this.onReconnect(client));
  }

  /** Publishes messages without waiting for them; a failure is only logged (a QoS 1 one as a warning). */
  send(messages: OutgoingMessage[], what: string): void {
    const client = this.client;
    if (!client) return;
    for (const m of messages) {
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => {
        if (err) this.log[m.qos === 1 ? 'warn' : 'debug']({ err, topic: m.topic }, `${what} on ${m.topic} not ${m.qos === 1 ? 'acknowledged by the broker' : 'delivered'}`);
      });
    }
  }

  /** Publishes one message; resolves when mqtt.js reports it done (PUBACK for QoS 1), rejects on failure. */
  publish(m: OutgoingMessage): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new PublisherError(wording.notStarted('publish')));
    return new Promise((resolve, reject) => {
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Subscribes `filter` now (when connected) and after every reconnect; its messages are `message` events. */
  subscribe(filter: string): void {
    if (this.filters.includes(filter)) return;
    this.filters.push(filter);
    if (this.client?.connected) this.subscribeAll(this.client, [filter]);
  }

  private subscribeAll(client: MqttClient, filters: string[]): void {
    if (filters.length === 0) return;
    client.subscribe(filters, { qos: 1 }, (err) => {
      if (err) this.log.warn({ err }, `cannot subscribe to ${filters.join(', ')}: ${err.message}`);
    });
  }

  /** The last will of the next CONNECT. */
  setWill(will: OutgoingMessage): void {
    if (this.client) this.client.options.will = will;
  }

  /**
   * Resolves with the state change that entered `state` (at once when already
   * there); rejects after timeoutMs naming the last problem.
   */
  async waitForState(state: PublisherState, timeoutMs: number): Promise<PublisherStateChange> {
    if (this.current === state && this.lastChange) return this.lastChange;
    const change = await waitFor<PublisherStateChange>((deliver) => {
      const onState = (c: PublisherStateChange) => c.state === state && deliver(c);
      this.on('state', onState);
      return () => this.off('state', onState);
    }, timeoutMs);
    if (!change) throw new PublisherError(wording.stateTimeout(state, timeoutMs, this.current, this.problem));
    return change;
  }

  /** Enters `closing`: no new online announcement from now on. */
  beginClose(): void {
    this.transition('close', wording.closing);
  }

  /** Publishes the encoding's goodbye, waiting up to timeoutMs for the acknowledged ones. */
  async sayGoodbye(timeoutMs: number): Promise<void> {
    if (!this.connected) return;
    await Promise.all(this.encoding.offline().map((m) => within(this.publish(m).catch(() => {}), m.qos === 0 ? 0 : timeoutMs)));
  }

  /**
   * Disconnects: a graceful DISCONNECT when nothing is in flight, otherwise
   * the connection is cut (whatever was in flight is a reject still in the
   * outbox or a live result not worth waiting for). No reconnects after it.
   */
  async end(timeoutMs: number): Promise<void> {
    const client = this.client;
    if (client) {
      const force = !client.connected || Object.keys(client.outgoing).length > 0;
      client.options.reconnectPeriod = 0;
      // mqtt.js does not call back when the socket was already gone; do not wait for it then.
      await within(new Promise<void>((resolve) => client.end(force, {}, () => resolve())), Math.max(timeoutMs, 200));
      this.client = undefined;
    }
  }

  /** Enters `closed`, once everything the connection served is released. */
  finishClose(): void {
    this.transition('closed', wording.closed);
  }

  private transition(event: ConnectionEvent, reason: string, fault?: ConnectionFault): void {
    const previous = this.current;
    const state = nextState(previous, event);
    if (!state || state === previous) return;
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

  private onConnect(client: MqttClient): void {
    // Rejects are small packets: send them at once (no Nagle delay), as the broker side does.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.reconnectDelay = this.config.reconnect.initialMs;
    client.options.reconnectPeriod = this.reconnectDelay;
    this.problem = undefined;
    this.onlineSince = Date.now();
    if (shuttingDown(this.current)) return;
    this.transition('connack', wording.online(this.brokerOf(client)));
    this.subscribeAll(client, [...this.encoding.commandFilters(), ...this.filters]);
    this.send(this.encoding.online(), 'online announcement');
    this.emit('online');
  }

  /**
   * The broker of the client's current connection (attempt): with
   * `mqtt.servers` mqtt.js takes each attempt's host and port from the list,
   * so a technician reads which node of the cluster the device is on.
   */
  private brokerOf(client: MqttClient): string {
    if (!this.shownServers) return this.shownUrl;
    const { protocol, host, port } = client.options;
    const shownHost = host?.includes(':') ? `[${host}]` : host;
    return `${protocol ?? 'mqtt'}://${shownHost}:${port}`;
  }

  private onReconnect(client: MqttClient): void {
    // Each CONNECT opens a new session with its own last will (Sparkplug: the next bdSeq).
    client.options.will = this.encoding.newSession();
    this.reconnects++;
    // Back off: the next attempt after this one waits twice as long, up to the maximum.
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, this.config.reconnect.maxMs);
    client.options.reconnectPeriod = this.reconnectDelay;
    this.transition('reconnect', wording.reconnecting(this.shownServers ?? this.shownUrl));
  }

  private onCommand(client: MqttClient, topic: string, payload: Buffer): void {
    if (this.client !== client || this.current !== 'online') return;
    this.emit('message', topic, payload);
    try {
      const answer = this.encoding.command(topic, payload);
      if (answer.length > 0) this.log.info({ topic }, `command on ${topic}: publishing ${answer.length} message(s)`);
      this.send(answer, 'command answer');
    } catch (err) {
      this.log.warn({ err, topic }, (err as Error).message);
    }
  }

  private onClose(client: MqttClient): void {
    this.onlineSince = undefined;
    if (this.encoding.sessionSequenced) {
      // Its sequence number belonged to the lost session: the reject goes out again, encoded
      // anew, after the next connection's births (it stays in the outbox until acknowledged).
      for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
    }
    if (shuttingDown(this.current)) return;
    const problem = this.problem ?? { fault: 'network' as const, reason: wording.lost(this.brokerOf(client)) };
    this.problem = problem;
    this.lastProblem = { ...problem, at: Date.now() };
    const retry = client.options.reconnectPeriod ?? this.reconnectDelay;
    this.transition('lost', wording.offline(problem, retry), problem.fault);
  }
}
