/**
 * The reject outbox: a durable first-in-first-out queue on disk, one directory
 * per device, holding every reject signal until the broker has acknowledged it.
 *
 * The same rules serve each camera's part outbox (`parts/<camera>/` inside
 * the device's directory, holding part verdicts; see `partKind`).
 *
 * Layout of the directory:
 *   0000000000000042.json   one pending reject (seq 42), the full payload
 *   0000000000000042.json.tmp  a reject being written (ignored and removed on open)
 *   last-acked.json         the newest acknowledged reject
 *   seq                     a floor under the sequence: the highest seq when the
 *                           outbox was last opened or an entry last set aside
 *   lock                    the process using the outbox: pid, start time and
 *                           boot id (runtime/mqtt/outbox-lock.ts)
 *   sparkplug-bdseq.json    the Sparkplug bdSeq of the last connection (written by
 *                           the Sparkplug encoding; the outbox leaves it alone)
 *   parts/<camera>/         that camera's part outbox (same layout)
 *   *.corrupt               an entry that could not be read, set aside (kept for
 *                           inspection, never sent, counted in `stats().quarantined`)
 *
 * Durability: `append` writes a temp file, fsyncs it, renames it to its final
 * name and fsyncs the directory before it resolves, so a reject the runtime
 * was told is stored survives a power cut or SIGKILL at any point. A SIGKILL
 * during the write leaves at most a `.tmp` file, which the next `open` removes
 * (that reject's `append` never resolved, so nothing believed stored is lost).
 *
 * Sequence numbers start at 1, are assigned by `append`, strictly increase and
 * are never reused, even after all entries were acknowledged and the process
 * restarted, and even after an operator deleted set-aside `.corrupt` entries.
 * The highest seq ever assigned is always on disk: as a pending entry, as
 * `last-acked.json`, or, once its entry was set aside, in `seq` (written
 * durably before the entry is renamed to `.corrupt`, and on open when the
 * directory holds a higher seq than it says). On open the sequence continues
 * after the highest of all of them. `append` itself writes only the entry, so
 * storing a reject costs one file fsync and one directory fsync.
 *
 * Bound: at most `maxEntries` pending rejects. When it is full, `append`
 * REFUSES the new reject with an OutboxFullError (logged at error level and
 * counted in `stats().refused`) instead of dropping an older one: a full
 * outbox means the broker has been unreachable for a very long time, and a
 * silent drop would ship a defective part unnoticed; the refusal is an alarm
 * the runtime must surface (the line should be stopped or parts diverted).
 *
 * Hand-written rather than a queue library: the durability rules above (fsync
 * of file and directory, temp-file cleanup, seq that survives an empty queue)
 * are the whole point, and no installed package gives them.
 */
import type { z } from 'zod';
import { mkdir, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createLogger, type Logger } from '../../config/logger.ts';
import { OutboxError, OutboxFullError, type Outbox, type OutboxStats } from './outbox-contract.ts';
import { currentOwner, formatLock, lockHeld, parseLock, systemProbe } from './outbox-lock.ts';
import { partVerdictInputSchema, partVerdictPayloadSchema, type PartVerdictInput, type PartVerdictPayload } from '../parts/payloads.ts';
import { parsePayload, rejectInputSchema, rejectPayloadSchema, type RejectInput, type RejectPayload } from './payloads.ts';

export { OutboxError, OutboxFullError, type Outbox, type OutboxStats } from './outbox-contract.ts';

/** What an outbox holds: its schemas and how its entries are named in log lines. */
export interface OutboxKind<I, P extends { seq: number }> {
  /** e.g. `reject` or `part verdict`. */
  noun: string;
  inputSchema: z.ZodType<I>;
  payloadSchema: z.ZodType<P>;
  /** Says which entry it is, for the log (e.g. `camera cam1, frame cam1-42`). */
  describe(input: I): string;
}

/** The reject outbox's kind: reject signals (runtime/mqtt/payloads.ts). */
export const rejectKind: OutboxKind<RejectInput, RejectPayload> = {
  noun: 'reject',
  inputSchema: rejectInputSchema,
  payloadSchema: rejectPayloadSchema,
  describe: (r) => `camera ${r.camera}, ${r.partId !== undefined ? `part ${r.partId}` : `frame ${r.frameId}`}`,
};

/** A camera's part outbox: its part verdicts (runtime/parts/payloads.ts), `seq` counting the camera's parts. */
export const partKind: OutboxKind<PartVerdictInput, PartVerdictPayload> = {
  noun: 'part verdict',
  inputSchema: partVerdictInputSchema,
  payloadSchema: partVerdictPayloadSchema,
  describe: (p) => `camera ${p.camera}, part ${p.partId}`,
};

/** The part outbox of `camera` inside a device's outbox directory. */
export const partOutboxDir = (outboxDir: string, camera: string): string => join(outboxDir, 'parts', camera);

export interface OutboxOptions {
  /** Most pending rejects (default 100 000). */
  maxEntries?: number;
  logger?: Logger;
}


const ENTRY = /^(\d{16})\.json$/;
const CORRUPT = /^(\d{16})\.json\.corrupt$/;
const LAST_ACKED = 'last-acked.json';
const SEQ = 'seq';
const LOCK = 'lock';

const entryName = (seq: number): string => `${String(seq).padStart(16, '0')}.json`;

/** Directories opened by this process (a second open in the same process is a bug). */
const openDirs = new Set<string>();

/** What the outbox directory holds when it is opened. */
interface DirectoryContents {
  /** Pending seqs, ascending. */
  seqs: number[];
  /** Highest seq ever assigned. */
  maxSeq: number;
  /** Entries set aside as `.corrupt`. */
  quarantined: number;
  /** What the `seq` file says (0 when there is none). */
  seqFloor: number;
}

/** Writes a file and flushes it to disk (a temp file, renamed into place by the caller). */
async function writeSynced(path: string, text: string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Records durably that every seq up to `seq` was handed out. */
async function writeSeqFloor(dir: string, seq: number): Promise<void> {
  await writeSynced(join(dir, `${SEQ}.tmp`), `${seq}\n`);
  await rename(join(dir, `${SEQ}.tmp`), join(dir, SEQ));
  await fsyncDir(dir);
}

/** Makes a rename or unlink in `dir` durable. */
async function fsyncDir(dir: string): Promise<void> {
  // Some platforms cannot open or fsync a directory; the rename is still atomic there.
  const unsupported = (err: unknown) => ['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((err as NodeJS.ErrnoException).code ?? '');
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    if (unsupported(err)) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    if (!unsupported(err)) throw err;
  } finally {
    await handle.close();
  }
}

/** Takes the lock (see runtime/mqtt/outbox-lock.ts); a lock whose writer is gone is taken over. */
async function takeLock(dir: string): Promise<void> {
  const path = join(dir, LOCK);
  try {
    const holder = parseLock(await readFile(path, 'utf8'));
    if (holder && holder.pid !== process.pid && lockHeld(holder, systemProbe)) {
      throw new OutboxError(`reject outbox ${dir} is in use by process ${holder.pid}; only one linesight runtime per device may run`);
    }
  } catch (err) {
    if (err instanceof OutboxError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutboxError(`reject outbox ${dir}: cannot read ${path} (${(err as Error).message})`);
  }
  await writeFile(path, formatLock(currentOwner()));
}

/** Reads the directory: pending seqs, the highest seq ever assigned, set-aside entries; removes temp files. */
async function scanDirectory(dir: string, log: Logger, payloadSchema: z.ZodType<{ seq: number }>): Promise<DirectoryContents> {
  const seqs: number[] = [];
  let maxSeq = 0;
  let removedTemp = 0;
  let quarantined = 0;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      await unlink(join(dir, name));
      removedTemp++;
      continue;
    }
    const m = ENTRY.exec(name);
    if (m) {
      const seq = Number(m[1]);
      seqs.push(seq);
      maxSeq = Math.max(maxSeq, seq);
    }
    const corrupt = CORRUPT.exec(name);
    if (corrupt) {
      quarantined++;
      maxSeq = Math.max(maxSeq, Number(corrupt[1])); // its seq was handed out: never reuse it
    }
  }
  seqs.sort((a, b) => a - b);
  const seqFloor = await readSeq(dir, log);
  maxSeq = Math.max(maxSeq, await readLastAcked(dir, log, payloadSchema), seqFloor);
  if (removedTemp > 0) {
    await fsyncDir(dir);
    log.warn({ removedTemp }, `reject outbox: removed ${removedTemp} half-written file(s) left by an interrupted write`);
  }
  return { seqs, maxSeq, quarantined, seqFloor };
}

/** The highest seq ever assigned, as the `seq` file says (0 when there is none). */
async function readSeq(dir: string, log: Logger): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, SEQ), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const seq = Number(text.trim());
  if (Number.isSafeInteger(seq) && seq >= 0) return seq;
  log.error(`reject outbox: ${SEQ} is unreadable; sequence numbers continue from the entries`);
  return 0;
}

async function readLastAcked(dir: string, log: Logger, payloadSchema: z.ZodType<{ seq: number }>): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, LAST_ACKED), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  try {
    return parsePayload(payloadSchema, JSON.parse(text), LAST_ACKED).seq;
  } catch (err) {
    log.error({ err }, `reject outbox: ${LAST_ACKED} is unreadable; sequence numbers continue from the pending entries`);
    return 0;
  }
}

export class RejectOutbox<I = RejectInput, P extends { seq: number } = RejectPayload> implements Outbox<I, P> {
  readonly dir: string;
  readonly maxEntries: number;
  private readonly log: Logger;
  /** Pending seqs in ascending order. */
  private readonly seqs: number[];
  private maxSeq: number;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private counters = { appended: 0, acked: 0, refused: 0, quarantined: 0 };

  private constructor(dir: string, found: DirectoryContents, maxEntries: number, log: Logger, private readonly kind: OutboxKind<I, P>) {
    this.dir = dir;
    this.seqs = found.seqs;
    this.maxSeq = found.maxSeq;
    this.counters.quarantined = found.quarantined;
    this.maxEntries = maxEntries;
    this.log = log;
  }

  /** Opens (creating if needed) the reject outbox in `dir`, removes half-written temp files and locks it. */
  static open(dir: string, options: OutboxOptions = {}): Promise<RejectOutbox> {
    return RejectOutbox.openKind(dir, rejectKind, options);
  }

  /** Opens an outbox of another kind (the same durability rules; e.g. a camera's part verdicts). */
  static async openKind<I, P extends { seq: number }>(dir: string, kind: OutboxKind<I, P>, options: OutboxOptions = {}): Promise<RejectOutbox<I, P>> {
    const abs = resolve(dir);
    const log = (options.logger ?? createLogger('outbox')).child({ outbox: abs });
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new OutboxError(`reject outbox ${abs}: maxEntries must be a whole number >= 1, got ${maxEntries}`);
    if (openDirs.has(abs)) throw new OutboxError(`reject outbox ${abs} is already open in this process`);
    try {
      await mkdir(abs, { recursive: true });
    } catch (err) {
      throw new OutboxError(`reject outbox ${abs}: cannot create the directory (${(err as Error).message})`);
    }
    await takeLock(abs);
    openDirs.add(abs);
    try {
      const found = await scanDirectory(abs, log, kind.payloadSchema);
      const { seqs, quarantined } = found;
      // Set-aside entries of older versions may hold the highest seq: record it before anyone deletes them.
      if (quarantined > 0 && found.maxSeq > found.seqFloor) await writeSeqFloor(abs, found.maxSeq);
      if (seqs.length > 0) log.info({ pending: seqs.length, first: seqs[0], last: seqs.at(-1) }, `reject outbox: ${seqs.length} reject(s) still wait for the broker`);
      if (quarantined > 0) log.error({ quarantined }, `reject outbox: ${quarantined} unreadable reject(s) set aside as *.corrupt in ${abs}; they were never sent`);
      return new RejectOutbox<I, P>(abs, found, maxEntries, log, kind);
    } catch (err) {
      openDirs.delete(abs);
      await unlink(join(abs, LOCK)).catch(() => {});
      throw err;
    }
  }

  /** Runs mutations one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private assertOpen(): void {
    if (this.closed) throw new OutboxError(`reject outbox ${this.dir} is closed`);
  }

  /** Number of pending rejects. */
  get size(): number {
    return this.seqs.length;
  }

  /** Highest seq ever assigned. */
  get lastSeq(): number {
    return this.maxSeq;
  }

  /**
   * Stores a reject durably and gives it the next seq. Resolves only once the
   * entry is on disk; rejects with OutboxFullError when the outbox is full.
   */
  append(input: I): Promise<P> {
    return this.serial(async () => {
      this.assertOpen();
      const checked = parsePayload(this.kind.inputSchema, input, `${this.kind.noun} payload`);
      if (this.seqs.length >= this.maxEntries) {
        this.counters.refused++;
        const message =
          `${this.kind.noun} outbox ${this.dir} is full: ${this.seqs.length} ${this.kind.noun}s wait for the broker (mqtt.outboxMax = ${this.maxEntries}). ` +
          `The ${this.kind.noun} of ${this.kind.describe(checked)} was NOT stored: check the broker and the network now.`;
        this.log.error({ refused: this.counters.refused, entry: this.kind.describe(checked) }, message);
        throw new OutboxFullError(message);
      }
      const seq = this.maxSeq + 1;
      const payload = parsePayload(this.kind.payloadSchema, { ...checked, seq }, `${this.kind.noun} payload`);
      const final = join(this.dir, entryName(seq));
      try {
        await writeSynced(`${final}.tmp`, JSON.stringify(payload));
        await rename(`${final}.tmp`, final);
        await fsyncDir(this.dir);
      } catch (err) {
        // A full or read-only disk: nothing half-written stays behind, and the caller learns the reject was not stored.
        await unlink(`${final}.tmp`).catch(() => {});
        await unlink(final).catch(() => {});
        this.counters.refused++;
        const code = (err as NodeJS.ErrnoException).code;
        const entry = this.kind.describe(checked);
        const message =
          `${this.kind.noun} outbox ${this.dir}: cannot store the ${this.kind.noun} of ${entry} ` +
          `(${code === 'ENOSPC' ? 'the disk is full' : code === 'EROFS' ? 'the disk is read-only' : (code ?? (err as Error).message)}); it was NOT stored`;
        this.log.error({ refused: this.counters.refused, entry, code }, message);
        throw new OutboxError(message);
      }
      this.maxSeq = seq;
      this.seqs.push(seq);
      this.counters.appended++;
      return payload;
    });
  }

  /** Pending seqs, oldest first. */
  pendingSeqs(): number[] {
    return [...this.seqs];
  }

  /**
   * The oldest pending reject, or undefined when none is pending. An entry
   * that cannot be read is set aside as `.corrupt` (and logged) and the next
   * one is returned.
   */
  oldest(): Promise<P | undefined> {
    return this.serial(async () => {
      this.assertOpen();
      while (this.seqs.length > 0) {
        const entry = await this.read(this.seqs[0]!);
        if (entry) return entry;
      }
      return undefined;
    });
  }

  /** All pending rejects, oldest first (reads every entry: for tools and tests). */
  pending(): Promise<P[]> {
    return this.serial(async () => {
      this.assertOpen();
      const out: P[] = [];
      for (const seq of [...this.seqs]) {
        const entry = await this.read(seq);
        if (entry) out.push(entry);
      }
      return out;
    });
  }

  private async read(seq: number): Promise<P | undefined> {
    const name = entryName(seq);
    try {
      const payload = parsePayload(this.kind.payloadSchema, JSON.parse(await readFile(join(this.dir, name), 'utf8')), name);
      if (payload.seq !== seq) throw new OutboxError(`${name} holds seq ${payload.seq}`);
      return payload;
    } catch (err) {
      this.counters.quarantined++;
      this.log.error({ err, seq }, `reject outbox: entry ${name} is unreadable; set aside as ${name}.corrupt and skipped`);
      // The set-aside file may be deleted later: the highest seq must survive it.
      await writeSeqFloor(this.dir, this.maxSeq).catch((e: unknown) => this.log.error({ err: e }, `reject outbox: cannot write ${SEQ} (${(e as Error).message})`));
      await rename(join(this.dir, name), join(this.dir, `${name}.corrupt`)).catch(() => {});
      await fsyncDir(this.dir).catch(() => {});
      this.remove(seq);
      return undefined;
    }
  }

  private remove(seq: number): boolean {
    const at = this.seqs[0] === seq ? 0 : this.seqs.indexOf(seq);
    if (at < 0) return false;
    this.seqs.splice(at, 1);
    return true;
  }

  /**
   * Removes an acknowledged reject. Returns false when `seq` was not pending.
   * The newest entry is kept as `last-acked.json` (see the header).
   */
  ack(seq: number): Promise<boolean> {
    return this.serial(async () => {
      this.assertOpen();
      if (!this.seqs.includes(seq)) return false;
      const path = join(this.dir, entryName(seq));
      if (seq === this.maxSeq) await rename(path, join(this.dir, LAST_ACKED));
      else await unlink(path);
      await fsyncDir(this.dir);
      this.remove(seq);
      this.counters.acked++;
      return true;
    });
  }

  stats(): OutboxStats {
    return { pending: this.seqs.length, lastSeq: this.maxSeq, ...this.counters };
  }

  /** Waits for running writes, releases the lock. Pending entries stay on disk. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => {
      this.closed = true;
    });
    openDirs.delete(this.dir);
    await unlink(join(this.dir, LOCK)).catch(() => {});
  }
}
