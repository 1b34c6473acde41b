/**
 * An in-memory reject outbox with the file outbox's rules (increasing seq,
 * oldest first, removed on ack, refusal when full), for testing reject
 * delivery without a disk.
 */
import { OutboxError, OutboxFullError, type Outbox, type OutboxStats } from '../../runtime/mqtt/outbox-contract.ts';
import type { RejectInput, RejectPayload } from '../../runtime/mqtt/payloads.ts';

export class MemoryOutbox implements Outbox {
  private readonly entries: RejectPayload[] = [];
  private maxSeq = 0;
  private closed = false;
  private counters = { appended: 0, acked: 0, refused: 0 };

  constructor(private readonly maxEntries = 100_000) {}

  get size(): number {
    return this.entries.length;
  }

  get lastSeq(): number {
    return this.maxSeq;
  }

  async append(input: RejectInput): Promise<RejectPayload> {
    this.assertOpen();
    if (this.entries.length >= this.maxEntries) {
      this.counters.refused++;
      throw new OutboxFullError(`memory outbox is full: ${this.entries.length} rejects wait; frame ${input.frameId} was NOT stored`);
    }
    const stored = { ...input, seq: ++this.maxSeq };
    this.entries.push(stored);
    this.counters.appended++;
    return stored;
  }

  async oldest(): Promise<RejectPayload | undefined> {
    this.assertOpen();
    return this.entries[0];
  }

  async ack(seq: number): Promise<boolean> {
    this.assertOpen();
    const at = this.entries.findIndex((e) => e.seq === seq);
    if (at < 0) return false;
    this.entries.splice(at, 1);
    this.counters.acked++;
    return true;
  }

  pendingSeqs(): number[] {
    return this.entries.map((e) => e.seq);
  }

  stats(): OutboxStats {
    return { pending: this.entries.length, lastSeq: this.maxSeq, ...this.counters, quarantined: 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new OutboxError('memory outbox is closed');
  }
}
