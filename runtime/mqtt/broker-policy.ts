/**
 * What the embedded broker allows, as pure decisions: who may log in, who
 * may publish where, how large a packet may be, how much retained data it
 * keeps. The broker (embedded-broker.ts) asks these at every connect and
 * publish; keeping them pure makes each rule checkable on hand-written
 * inputs.
 *
 * The runtime's own client is the one logging in with the runtime's account
 * and client id: only it publishes under the device's topics (results,
 * rejects, the retained status), and nobody can take its client id over.
 * Other clients (a PLC, a technician's tool) subscribe freely and publish
 * where `clientPublishTopics` allows (triggers, commands) or outside the
 * device's topics.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The embedded broker's limits and accounts (mqtt.embeddedBroker.* in the device config). */
export interface BrokerPolicyOptions {
  /** The runtime's account; when set, every client must log in (anonymous clients are refused). */
  username?: string;
  password?: string;
  /** Client id of the runtime's own client (its publisher). */
  runtimeClientId?: string;
  /** Topic filters only the runtime's client may publish to (`linesight/line3/#`, the status topic). */
  protectedTopics?: readonly string[];
  /** Topic filters other clients may publish to even inside `protectedTopics` (triggers, commands). */
  clientPublishTopics?: readonly string[];
  /** Largest MQTT packet a client other than the runtime's may send, in bytes (applies once `runtimeClientId` is set). */
  maxMessageBytes?: number;
  /** Largest packet the runtime's own client may send (masks can be large). */
  runtimeMaxMessageBytes?: number;
  /** Retained messages kept at most, and their total payload bytes. */
  maxRetainedMessages?: number;
  maxRetainedBytes?: number;
}

export type BrokerLimits = Required<Pick<BrokerPolicyOptions, 'maxMessageBytes' | 'runtimeMaxMessageBytes' | 'maxRetainedMessages' | 'maxRetainedBytes'>>;

export const BROKER_POLICY_DEFAULTS: Readonly<BrokerLimits> = {
  maxMessageBytes: 64 * 1024,
  runtimeMaxMessageBytes: 16 * 1024 * 1024,
  maxRetainedMessages: 1000,
  maxRetainedBytes: 16 * 1024 * 1024,
};

/** True when `topic` matches the MQTT filter (`+` one level, `#` the rest, including the parent level). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1 && !(i === 0 && topic.startsWith('$'));
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && t[0]!.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Compares secrets in constant time (hashes first, so lengths do not leak either). */
export function sameSecret(given: string | Buffer | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export type LoginDecision = { ok: true; runtime: boolean } | { ok: false; returnCode: 2 | 4 | 5; reason: string };

/**
 * Whether a CONNECT is accepted. `runtimeConnected` says whether a client
 * with the runtime's id is connected now: a second one is refused instead
 * of taking the id over (MQTT's default would disconnect the first).
 */
export function decideLogin(policy: BrokerPolicyOptions, login: { clientId: string; username?: string; password?: Buffer | string }, runtimeConnected: boolean): LoginDecision {
  const credentialsRequired = policy.username !== undefined;
  const isRuntimeAccount = credentialsRequired && login.username === policy.username && sameSecret(login.password, policy.password ?? '');
  if (credentialsRequired && login.username === undefined) return { ok: false, returnCode: 5, reason: 'anonymous clients are refused (the broker has credentials)' };
  if (credentialsRequired && !isRuntimeAccount) return { ok: false, returnCode: 4, reason: `bad user name or password for "${login.username}"` };
  const claimsRuntimeId = policy.runtimeClientId !== undefined && login.clientId === policy.runtimeClientId;
  if (claimsRuntimeId && runtimeConnected) return { ok: false, returnCode: 2, reason: `client id "${login.clientId}" is in use by the runtime's own client` };
  return { ok: true, runtime: claimsRuntimeId };
}

export type PublishDecision = { ok: true } | { ok: false; reason: string };

/** Whether a client may publish to `topic` (the runtime's client may publish anywhere). */
export function decidePublish(policy: BrokerPolicyOptions, topic: string, fromRuntime: boolean): PublishDecision {
  if (fromRuntime) return { ok: true };
  const allowed = (policy.clientPublishTopics ?? []).some((filter) => topicMatches(filter, topic));
  if (allowed) return { ok: true };
  const protectedBy = (policy.protectedTopics ?? []).find((filter) => topicMatches(filter, topic));
  if (protectedBy !== undefined) return { ok: false, reason: `only the runtime publishes to ${topic} (${protectedBy})` };
  return { ok: true };
}

/**
 * Retained messages by topic with their payload sizes, so a publish that
 * would exceed the count or byte budget is refused before it is stored.
 * An empty retained payload deletes the topic's message (MQTT) and is
 * always allowed.
 */
export class RetainedBudget {
  private readonly sizes = new Map<string, number>();
  private bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.sizes.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Checks a retained publish and, when allowed, counts it. */
  admit(topic: string, payloadBytes: number): PublishDecision {
    const previous = this.sizes.get(topic);
    if (payloadBytes === 0) {
      if (previous !== undefined) {
        this.sizes.delete(topic);
        this.bytes -= previous;
      }
      return { ok: true };
    }
    const count = this.sizes.size + (previous === undefined ? 1 : 0);
    const bytes = this.bytes - (previous ?? 0) + payloadBytes;
    if (count > this.maxMessages) return { ok: false, reason: `the broker keeps at most ${this.maxMessages} retained messages` };
    if (bytes > this.maxBytes) return { ok: false, reason: `retained messages would take ${bytes} bytes, more than the ${this.maxBytes} allowed` };
    this.sizes.set(topic, payloadBytes);
    this.bytes = bytes;
    return { ok: true };
  }
}

/**
 * Reads the MQTT fixed headers of a client's byte stream and reports the
 * first packet longer than the limit, before its body is buffered anywhere.
 * Fed every chunk the socket delivers, in order.
 */
export class PacketSizeGuard {
  private remaining = 0;
  private header: number[] = [];

  constructor(public limit: number) {}

  /** The size of an oversized packet in this chunk, or undefined when every packet so far fits. */
  push(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      this.header.push(chunk[i]!);
      i++;
      // header[0] is the packet type; then 1 to 4 bytes of remaining length, 7 bits each.
      if (this.header.length < 2) continue;
      const last = this.header.at(-1)!;
      if (last & 0x80 && this.header.length < 5) continue;
      let length = 0;
      for (let b = this.header.length - 1; b >= 1; b--) length = length * 128 + (this.header[b]! & 0x7f);
      this.header = [];
      if (length > this.limit) return length;
      this.remaining = length;
    }
    return undefined;
  }
}
