/**
 * A SCADA-like Sparkplug B subscriber for tests: every message the edge nodes
 * of a group publish, in arrival order, decoded with the specification's
 * schema (test/helpers/sparkplug-decoder.ts).
 */
import type { Test } from 'tap';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodeSparkplug, metricsByName, type DecodedPayload } from './sparkplug-decoder.ts';

export interface Seen {
  topic: string;
  /** NBIRTH, DDATA, ... */
  type: string;
  /** The camera, for device messages. */
  device?: string;
  qos: number;
  payload: DecodedPayload;
}

/** A SCADA-like subscriber: every message the edge nodes of a group publish, in arrival order, decoded (commands to them left out). */
export class SparkplugWatcher {
  readonly seen: Seen[] = [];
  private readonly waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const [, , type = '', , camera] = topic.split('/');
      if (type === 'NCMD' || type === 'DCMD') return;
      const seen: Seen = { topic, type, qos: packet.qos, payload: decodeSparkplug(payload) };
      if (camera !== undefined) seen.device = camera;
      this.seen.push(seen);
      for (const w of [...this.waiters]) w();
    });
  }

  static async connect(t: Test, url: string, groupId: string, options: IClientOptions = {}): Promise<SparkplugWatcher> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 100, connectTimeout: 5000, ...options });
    const watcher = new SparkplugWatcher(client);
    await client.subscribeAsync(`spBv1.0/${groupId}/#`, { qos: 1 });
    t.teardown(() => client.endAsync(true));
    return watcher;
  }

  of(type: string, camera?: string): Seen[] {
    return this.seen.filter((s) => s.type === type && (camera === undefined || s.device === camera));
  }

  /** Resolves once `check()` returns a value; rejects after timeoutMs listing what arrived. */
  waitUntil<T>(check: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const poll = () => {
        const value = check();
        if (value === undefined) return;
        this.waiters.delete(poll);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(poll);
        const got = this.seen.slice(-8).map((s) => `${s.type}${s.device ? `/${s.device}` : ''} seq ${s.payload.seq}`);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.seen.length} messages, last: ${got.join(', ') || 'none'}`));
      }, timeoutMs);
      this.waiters.add(poll);
      poll();
    });
  }

  waitForCount(type: string, count: number, timeoutMs?: number): Promise<Seen[]> {
    return this.waitUntil(() => (this.of(type).length >= count ? this.of(type) : undefined), `${count} ${type}`, timeoutMs);
  }
}

export const bdSeqOf = (s: Seen | undefined) => (s ? metricsByName(s.payload).bdSeq?.value : undefined);

/** The messages of a session: from its NBIRTH on (NDEATH carries no seq). */
export function seqsFrom(seen: Seen[], birthIndex: number, end = seen.length): number[] {
  return seen.slice(birthIndex, end).filter((s) => s.type !== 'NDEATH').map((s) => s.payload.seq as number);
}

/** True when every seq is the previous one + 1, 255 wrapping to 0. */
export const consecutive = (seqs: number[]) => seqs.every((s, i) => i === 0 || s === (seqs[i - 1]! + 1) % 256);
