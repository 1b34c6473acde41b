/**
 * Reject delivery: the pump that moves rejects from the outbox to the broker.
 *
 * Rules (the reject guarantee of linesight):
 *   - a reject is stored in the outbox before anything is sent;
 *   - rejects go out strictly in outbox order, AT MOST ONE IN FLIGHT: the
 *     next one is sent only after the broker's PUBACK for the previous one;
 *   - an outbox entry is removed only on that PUBACK.
 * One in flight makes the order trivially certain (across reconnects and
 * restarts the oldest pending reject always goes first) and still gives one
 * reject per broker round trip, about a thousand per second on a LAN, far
 * above any line's reject rate. A failed send leaves the entry in the outbox;
 * it goes out again after the next (re)connect or a retry, so delivery is
 * at-least-once and receivers de-duplicate by `seq`.
 *
 * The connection is reached through a RejectLink, the queue through the
 * Outbox interface, so the rules can be tested without a broker or a disk.
 * Part verdicts (one outbox per camera) are delivered by the same pump under
 * the same rules.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../config/logger.ts';
import { wording } from './connection-errors.ts';
import { OutboxFullError, type Outbox } from './outbox-contract.ts';
import type { RejectInput, RejectPayload } from './payloads.ts';
import { waitFor } from './wait.ts';

export interface RejectAcked {
  seq: number;
  camera: string;
  /** The frame's time on the camera's frame clock (the reject's `ts`). */
  frameTs: number;
  /** When the broker's PUBACK arrived (ms since epoch); ackedAt - frameTs is frame-to-PUBACK latency. */
  ackedAt: number;
}

/** The connection, as reject delivery sees it. */
export interface RejectLink<P = RejectPayload> {
  /** True while a reject may be sent: connected and online, or connected and closing (the last flush). */
  canSend(): boolean;
  /** True once the publisher is closing: failures are expected and nothing is retried. */
  shuttingDown(): boolean;
  /** Sends one reject; resolves on the broker's PUBACK, rejects when it cannot be acknowledged. */
  send(entry: P): Promise<void>;
}

export interface RejectDeliveryEvents {
  acked: [RejectAcked];
  /** A reject could not be stored because the outbox is full (it was NOT sent). */
  refused: [OutboxFullError];
  /** The outbox became empty. */
  drained: [];
}

export interface RejectDeliveryOptions<P = RejectPayload> {
  /** Wait before retrying after a failed send while the connection still looks up. */
  retryMs: number;
  log: Logger;
  /** The time an acknowledgement's latency counts from (default: the entry's `ts`). */
  timeOf?: (entry: P) => number;
}

/** What every delivered entry carries. */
type Deliverable = { seq: number; camera: string };

export class RejectDelivery<I = RejectInput, P extends Deliverable = RejectPayload> extends EventEmitter<RejectDeliveryEvents> {
  /** Rejects acknowledged by the broker since start. */
  sent = 0;
  /** Rejects refused because the outbox was full. */
  refused = 0;
  private sending = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly outbox: Outbox<I, P>,
    private readonly link: RejectLink<P>,
    private readonly options: RejectDeliveryOptions<P>,
  ) {
    super();
  }

  /** Stores a reject (resolving once stored) and starts sending; rethrows OutboxFullError after counting it. */
  async store(input: I): Promise<P> {
    let stored: P;
    try {
      stored = await this.outbox.append(input);
    } catch (err) {
      if (err instanceof OutboxFullError) {
        this.refused++;
        this.emit('refused', err);
      }
      throw err;
    }
    this.pump();
    return stored;
  }

  /** Sends pending rejects, if any and if the link allows; called on every connect and every new reject. */
  pump(): void {
    void this.run();
  }

  /** No more retries (closing). */
  stopRetrying(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Resolves true once reject `seq` is acknowledged (at once when it is not pending), false after timeoutMs. */
  async waitForReject(seq: number, timeoutMs: number): Promise<boolean> {
    if (!this.outbox.pendingSeqs().includes(seq)) return true;
    const acked = await waitFor<RejectAcked>((deliver) => {
      const onAck = (ack: RejectAcked) => ack.seq === seq && deliver(ack);
      this.on('acked', onAck);
      return () => this.off('acked', onAck);
    }, timeoutMs);
    return acked !== undefined;
  }

  /** Resolves true once the outbox is empty (at once when it is), false after timeoutMs. */
  async waitForDrain(timeoutMs: number): Promise<boolean> {
    if (this.outbox.size === 0) return true;
    const drained = await waitFor<true>((deliver) => {
      const onDrained = () => deliver(true);
      this.on('drained', onDrained);
      return () => this.off('drained', onDrained);
    }, timeoutMs);
    return drained === true;
  }

  private timeOf(entry: P, fallback: number): number {
    if (this.options.timeOf) return this.options.timeOf(entry);
    const ts = (entry as { ts?: unknown }).ts;
    return typeof ts === 'number' ? ts : fallback;
  }

  /** Runs until the outbox is empty or the link is gone; one run at a time. */
  private async run(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let failed = false;
    try {
      while (this.link.canSend()) {
        const next = await this.outbox.oldest();
        if (!next) break;
        await this.link.send(next);
        const ackedAt = Date.now();
        await this.outbox.ack(next.seq);
        this.sent++;
        this.emit('acked', { seq: next.seq, camera: next.camera, frameTs: this.timeOf(next, ackedAt), ackedAt });
      }
    } catch (err) {
      // The entry stays in the outbox and goes out again after the next (re)connect or retry.
      failed = true;
      this.options.log[this.link.shuttingDown() ? 'debug' : 'warn']({ err }, wording.rejectNotAcked(err as Error));
    } finally {
      this.sending = false;
      if (this.outbox.size === 0) this.emit('drained');
    }
    if (this.outbox.size === 0 || !this.link.canSend() || this.link.shuttingDown()) return;
    if (failed) {
      // Retry later rather than spin on an error that persists while the connection looks up.
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, this.options.retryMs);
    } else {
      // A reject appended while the last send completed may have found the pump busy.
      this.pump();
    }
  }
}
