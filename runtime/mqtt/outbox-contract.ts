/**
 * What reject delivery needs from a reject outbox: a first-in-first-out
 * queue that numbers each reject with the next `seq`, hands out the oldest
 * pending one and forgets it only when told it was acknowledged. The durable
 * file outbox (runtime/mqtt/outbox.ts) is the one the runtime uses; keeping
 * delivery behind this interface lets its ordering rules be tested on an
 * in-memory queue.
 */
import type { RejectInput, RejectPayload } from './payloads.ts';

export class OutboxFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboxFullError';
  }
}

export class OutboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboxError';
  }
}

export interface OutboxStats {
  pending: number;
  /** Highest seq ever assigned (0 when none yet). */
  lastSeq: number;
  appended: number;
  acked: number;
  /** Rejects refused because the outbox was full. */
  refused: number;
  /** Entries set aside as `.corrupt` because they could not be read: those found on open plus those set aside since. */
  quarantined: number;
}

/**
 * `I` is what is appended, `P` what is stored and sent: `I` with its `seq`
 * (rejects by default; the part outboxes hold part verdicts).
 */
export interface Outbox<I = RejectInput, P extends { seq: number } = RejectPayload> {
  /** Number of pending rejects. */
  readonly size: number;
  /** Highest seq ever assigned. */
  readonly lastSeq: number;
  /**
   * Stores a reject and gives it the next seq; resolves once it is stored.
   * Rejects with OutboxFullError when the outbox is full (the reject was NOT stored).
   */
  append(input: I): Promise<P>;
  /** The oldest pending reject, or undefined when none is pending. */
  oldest(): Promise<P | undefined>;
  /** Forgets an acknowledged reject; false when `seq` was not pending. */
  ack(seq: number): Promise<boolean>;
  /** Pending seqs, oldest first. */
  pendingSeqs(): number[];
  stats(): OutboxStats;
  /** Releases the outbox; pending rejects stay stored. */
  close(): Promise<void>;
}
