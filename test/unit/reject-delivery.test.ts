import t from 'tap';
import { createLogger } from '../../config/logger.ts';
import type { RejectPayload } from '../../runtime/mqtt/payloads.ts';
import { RejectDelivery, type RejectAcked, type RejectLink } from '../../runtime/mqtt/reject-delivery.ts';
import { MemoryOutbox } from '../helpers/memory-outbox.ts';

const quiet = createLogger('reject-delivery-test').child({}, { level: 'silent' });
const reject = (i: number) => ({ ts: 1_700_000_000_000 + i, frameId: `cam1-${i}`, score: 2, threshold: 1, camera: 'cam1', product: 'bottle-cap' });

/** A broker link under the test's control: each send waits until the test acknowledges or fails it. */
class FakeLink implements RejectLink {
  up = true;
  closing = false;
  readonly sent: RejectPayload[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private pending: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private waiters: Array<() => void> = [];

  canSend(): boolean {
    return this.up;
  }
  shuttingDown(): boolean {
    return this.closing;
  }
  send(r: RejectPayload): Promise<void> {
    this.sent.push(r);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    for (const w of this.waiters.splice(0)) w();
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
  /** Waits until `count` sends were made. */
  async sends(count: number): Promise<void> {
    while (this.sent.length < count) await new Promise<void>((r) => this.waiters.push(r));
  }
  puback(): void {
    this.inFlight--;
    this.pending.shift()!.resolve();
  }
  fail(message: string): void {
    this.inFlight--;
    this.pending.shift()!.reject(new Error(message));
  }
}

const setup = (maxEntries?: number) => {
  const outbox = new MemoryOutbox(maxEntries);
  const link = new FakeLink();
  const delivery = new RejectDelivery(outbox, link, { retryMs: 20, log: quiet });
  const acked: RejectAcked[] = [];
  delivery.on('acked', (a) => acked.push(a));
  return { outbox, link, delivery, acked };
};

t.test('one reject in flight, in outbox order, removed only on PUBACK', async (t) => {
  const { outbox, link, delivery, acked } = setup();
  const stored = [];
  for (let i = 0; i < 3; i++) stored.push(await delivery.store(reject(i)));
  t.same(stored.map((s) => s.seq), [1, 2, 3]);
  await link.sends(1);
  t.equal(link.sent.length, 1, 'only the oldest is sent before its PUBACK');
  t.same(outbox.pendingSeqs(), [1, 2, 3], 'still stored while in flight');
  for (let i = 0; i < 3; i++) {
    await link.sends(i + 1);
    link.puback();
  }
  t.ok(await delivery.waitForDrain(1000));
  t.same(link.sent.map((s) => s.seq), [1, 2, 3]);
  t.same(acked.map((a) => a.seq), [1, 2, 3]);
  t.equal(acked[0]!.frameTs, reject(0).ts);
  t.equal(link.maxInFlight, 1);
  t.equal(delivery.sent, 3);
  t.equal(outbox.size, 0);
});

t.test('a failed send keeps the reject and retries it first', async (t) => {
  const { outbox, link, delivery, acked } = setup();
  await delivery.store(reject(0));
  await delivery.store(reject(1));
  await link.sends(1);
  link.fail('connection lost');
  await link.sends(2);
  t.same(link.sent.map((s) => s.seq), [1, 1], 'the same reject again after the retry delay');
  link.puback();
  await link.sends(3);
  link.puback();
  t.ok(await delivery.waitForDrain(1000));
  t.same(acked.map((a) => a.seq), [1, 2]);
  t.equal(outbox.size, 0);
});

t.test('nothing is sent while the link is down; a pump after it is back sends everything in order', async (t) => {
  const { link, delivery } = setup();
  link.up = false;
  for (let i = 0; i < 3; i++) await delivery.store(reject(i));
  await new Promise((r) => setTimeout(r, 30));
  t.equal(link.sent.length, 0);
  t.equal(await delivery.waitForDrain(20), false, 'not drained within the timeout');
  link.up = true;
  delivery.pump();
  for (let i = 0; i < 3; i++) {
    await link.sends(i + 1);
    link.puback();
  }
  t.ok(await delivery.waitForDrain(1000));
  t.same(link.sent.map((s) => s.seq), [1, 2, 3]);
});

t.test('waitForReject resolves on that reject’s PUBACK, and at once for one not pending', async (t) => {
  const { link, delivery } = setup();
  await delivery.store(reject(0));
  const second = await delivery.store(reject(1));
  t.equal(await delivery.waitForReject(99, 1000), true, 'not pending: nothing to wait for');
  const waiting = delivery.waitForReject(second.seq, 1000);
  await link.sends(1);
  link.puback();
  await link.sends(2);
  link.puback();
  t.equal(await waiting, true);
  t.equal(await delivery.waitForReject(second.seq, 10), true);
  link.up = false;
  const third = await delivery.store(reject(2));
  t.equal(await delivery.waitForReject(third.seq, 20), false, 'false after the timeout');
});

t.test('a full outbox refuses, counts and signals', async (t) => {
  const { link, delivery } = setup(1);
  link.up = false;
  await delivery.store(reject(0));
  const refused: Error[] = [];
  delivery.on('refused', (e) => refused.push(e));
  await t.rejects(delivery.store(reject(1)), { name: 'OutboxFullError' });
  t.equal(delivery.refused, 1);
  t.equal(refused.length, 1);
});

t.test('while shutting down a failure is not retried', async (t) => {
  const { outbox, link, delivery } = setup();
  await delivery.store(reject(0));
  await link.sends(1);
  link.closing = true;
  link.fail('closing');
  await new Promise((r) => setTimeout(r, 60));
  t.equal(link.sent.length, 1, 'no retry');
  t.same(outbox.pendingSeqs(), [1], 'kept for the next start');
});
