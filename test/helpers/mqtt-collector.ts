/** Subscribes with an mqtt.js client and collects the messages per topic, for assertions. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface CollectedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  receivedAt: number;
}

export class MqttCollector {
  readonly client: MqttClient;
  private readonly byTopic = new Map<string, CollectedMessage[]>();
  private listeners = new Set<() => void>();

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      const list = this.byTopic.get(topic) ?? [];
      list.push({ topic, payload, retain: packet.retain, qos: packet.qos, receivedAt: Date.now() });
      this.byTopic.set(topic, list);
      for (const listener of [...this.listeners]) listener();
    });
  }

  /**
   * Connects and subscribes (QoS 1) to `filters`. With `options.clean: false`
   * and a fixed clientId the broker keeps the session (and queues messages)
   * while the collector is disconnected.
   */
  static async connect(url: string, filters: string[], options: IClientOptions = {}): Promise<MqttCollector> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 5000, ...options });
    const collector = new MqttCollector(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return collector;
  }

  messages(topic: string): CollectedMessage[] {
    return [...(this.byTopic.get(topic) ?? [])];
  }

  json<T = unknown>(topic: string): T[] {
    return this.messages(topic).map((m) => JSON.parse(m.payload.toString()) as T);
  }

  topics(): string[] {
    return [...this.byTopic.keys()];
  }

  /** Resolves once `check()` returns a value other than undefined; rejects after timeoutMs describing what arrived. */
  waitUntil<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const poll = () => {
        const value = check();
        if (value === undefined) return;
        this.listeners.delete(poll);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(poll);
        const got = this.topics().map((t) => `${t}: ${this.byTopic.get(t)?.length}`).join(', ') || 'nothing';
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${got}`));
      }, timeoutMs);
      this.listeners.add(poll);
      poll();
    });
  }

  /** Resolves with the messages of `topic` once at least `count` arrived. */
  waitForCount(topic: string, count: number, timeoutMs = 5000): Promise<CollectedMessage[]> {
    return this.waitUntil(() => {
      const list = this.byTopic.get(topic) ?? [];
      return list.length >= count ? [...list] : undefined;
    }, timeoutMs, `${count} message(s) on ${topic}`);
  }

  /** Resolves with the first message on `topic` whose JSON payload satisfies `match`. */
  waitForJson<T = unknown>(topic: string, match: (payload: T) => boolean, timeoutMs = 5000): Promise<T> {
    return this.waitUntil(() => {
      for (const m of this.byTopic.get(topic) ?? []) {
        const payload = JSON.parse(m.payload.toString()) as T;
        if (match(payload)) return payload;
      }
      return undefined;
    }, timeoutMs, `a matching message on ${topic}`);
  }

  clear(): void {
    this.byTopic.clear();
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
