/**
 * Where kept inspection records go: each record's image, anomaly map and
 * mask as PNG files in a folder of its own under `<dataDir>/records/`, and
 * a row in the SQLite index (schema in product/records-index.ts) with what
 * was decided and what an operator said about it.
 *
 * The store keeps itself bounded: after every write, records older than
 * `maxDays` go, then the oldest until the total is under `maxBytes` — never
 * the newest one. Before every write it checks the disk's free space and
 * skips (and counts) the record when that is under `minFreeBytes`, so kept
 * evidence never fills the disk the products and the reject outbox live on.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openSqlite, type SqliteDatabase } from '../../product/sqlite.ts';
import type { RecordsSettings } from '../../config/records.ts';
import {
  defectTypes,
  getRecord,
  labelledRecords,
  listRecords,
  RECORD_FILES,
  RECORDS_SCHEMA,
  type RecordFilter,
  type RecordPage,
  type RecordRow,
  type ReviewLabel,
  recordsDir,
  recordsIndexPath,
} from '../../product/records-index.ts';

export type RecordFileKind = keyof typeof RECORD_FILES;

/** A record to keep; its files are PNG bytes, absent when there was no frame to show. */
export type NewRecord = Pick<RecordRow, 'ts' | 'camera' | 'product' | 'version' | 'verdict' | 'score' | 'threshold' | 'partId'> & {
  files: Partial<Record<RecordFileKind, Buffer>>;
};

/** One entry of the append-only review log. */
export interface ReviewEntry {
  id: number;
  ts: number;
  who: string;
  recordId: number;
  oldLabel: ReviewLabel | null;
  newLabel: ReviewLabel | null;
  oldType: string | null;
  newType: string | null;
}

export interface ReviewInput {
  /** The new label; null takes the label away (an undo). */
  label: ReviewLabel | null;
  type?: string | null;
  who: string;
  ts?: number;
}

export interface RecordStoreStats {
  records: number;
  bytes: number;
  written: number;
  /** Records not written because the disk was below `minFreeBytes`. */
  skippedLowDisk: number;
  deletedByAge: number;
  deletedBySize: number;
  /** Free bytes on the data disk at the last check. */
  freeBytes: number | null;
}

export interface RecordStore {
  add(record: NewRecord): Promise<RecordRow | undefined>;
  list(filter: RecordFilter, page?: { offset?: number; limit?: number }): RecordPage;
  get(id: number): RecordRow | undefined;
  filePath(row: RecordRow, kind: RecordFileKind): string;
  review(id: number, input: ReviewInput): RecordRow;
  reviews(recordId?: number): ReviewEntry[];
  reviewedRecords(query: { product: string; version?: string }): RecordRow[];
  defectTypes(product: string): string[];
  setDefectTypes(product: string, names: string[]): void;
  enforceRetention(now?: number): Promise<void>;
  stats(): RecordStoreStats;
  /** A warning for health, or undefined when the store is fine. */
  healthWarning(): string | undefined;
  /** The open index, for statistics kept next to the records. */
  readonly db: SqliteDatabase;
  close(): void;
}

export type FreeSpace = (dir: string) => Promise<number>;

/** Free bytes available to this process on the disk holding `dir`. */
export const diskFreeBytes: FreeSpace = async (dir) => {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
};

export type RecordLimits = Pick<RecordsSettings, 'maxBytes' | 'maxDays' | 'minFreeBytes'>;

export class RecordLabelError extends Error {}

/** Folder name of a record: its day, then its time, camera and a random tail. */
function recordFolder(record: NewRecord): string {
  const day = new Date(record.ts).toISOString().slice(0, 10);
  const tail = Math.random().toString(36).slice(2, 8);
  return `${day}/${record.ts}-${record.camera.replace(/[^A-Za-z0-9_-]/g, '_')}-${tail}`;
}

export class SqliteRecordStore implements RecordStore {
  readonly db: SqliteDatabase;
  private readonly root: string;
  private readonly counters = { written: 0, skippedLowDisk: 0, deletedByAge: 0, deletedBySize: 0, freeBytes: null as number | null };
  private totalBytes: number;
  private readonly sql;

  constructor(
    dataDir: string,
    private readonly limits: RecordLimits,
    private readonly freeSpace: FreeSpace = diskFreeBytes,
  ) {
    this.root = recordsDir(dataDir);
    mkdirSync(this.root, { recursive: true });
    this.db = openSqlite(recordsIndexPath(dataDir));
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec(RECORDS_SCHEMA);
    this.sql = {
      insert: this.db.prepare(
        'INSERT INTO records (ts, camera, product, version, verdict, score, threshold, part_id, dir, bytes) VALUES (@ts, @camera, @product, @version, @verdict, @score, @threshold, @partId, @dir, @bytes)',
      ),
      totalBytes: this.db.prepare('SELECT coalesce(sum(bytes), 0) AS n FROM records'),
      count: this.db.prepare('SELECT count(*) AS n FROM records'),
      olderThan: this.db.prepare('SELECT id, dir, bytes FROM records WHERE ts < ? AND id < (SELECT max(id) FROM records) ORDER BY id LIMIT 500'),
      oldest: this.db.prepare('SELECT id, dir, bytes FROM records WHERE id < (SELECT max(id) FROM records) ORDER BY id LIMIT 100'),
      delete: this.db.prepare('DELETE FROM records WHERE id = ?'),
      label: this.db.prepare('UPDATE records SET label = @label, defect_type = @type WHERE id = @id'),
      logReview: this.db.prepare(
        'INSERT INTO reviews (ts, who, record_id, old_label, new_label, old_type, new_type) VALUES (@ts, @who, @recordId, @oldLabel, @newLabel, @oldType, @newType)',
      ),
      reviews: this.db.prepare('SELECT id, ts, who, record_id AS recordId, old_label AS oldLabel, new_label AS newLabel, old_type AS oldType, new_type AS newType FROM reviews ORDER BY id'),
      reviewsOf: this.db.prepare(
        'SELECT id, ts, who, record_id AS recordId, old_label AS oldLabel, new_label AS newLabel, old_type AS oldType, new_type AS newType FROM reviews WHERE record_id = ? ORDER BY id',
      ),
      clearTypes: this.db.prepare('DELETE FROM defect_types WHERE product = ?'),
      addType: this.db.prepare('INSERT INTO defect_types (product, name, position) VALUES (?, ?, ?)'),
    };
    this.totalBytes = (this.sql.totalBytes.get() as { n: number }).n;
  }

  async add(record: NewRecord): Promise<RecordRow | undefined> {
    const free = await this.freeSpace(this.root);
    this.counters.freeBytes = free;
    if (free < this.limits.minFreeBytes) {
      this.counters.skippedLowDisk++;
      return undefined;
    }
    const dir = recordFolder(record);
    await mkdir(join(this.root, dir), { recursive: true });
    let bytes = 0;
    for (const [kind, body] of Object.entries(record.files) as [RecordFileKind, Buffer][]) {
      await writeFile(join(this.root, dir, RECORD_FILES[kind]), body);
      bytes += body.length;
    }
    const { files: _files, ...row } = record;
    const id = Number(this.sql.insert.run({ ...row, dir, bytes }).lastInsertRowid);
    this.totalBytes += bytes;
    this.counters.written++;
    await this.enforceRetention(record.ts);
    return this.get(id);
  }

  list(filter: RecordFilter, page?: { offset?: number; limit?: number }): RecordPage {
    return listRecords(this.db, filter, page);
  }

  get(id: number): RecordRow | undefined {
    return getRecord(this.db, id);
  }

  filePath(row: RecordRow, kind: RecordFileKind): string {
    return join(this.root, row.dir, RECORD_FILES[kind]);
  }

  /** Labels a record and appends the change to the review log (and its JSONL mirror), in one transaction. */
  review(id: number, input: ReviewInput): RecordRow {
    const entry = this.db.transaction(() => {
      const row = this.get(id);
      if (!row) throw new RecordLabelError(`there is no record ${id}`);
      if (input.label === 'missed' && row.verdict !== 'ok') throw new RecordLabelError(`record ${id} was not passed (${row.verdict}); mark it "defect" or "good", "missed" is for parts that passed`);
      if (input.label === 'defect' && row.verdict === 'ok') throw new RecordLabelError(`record ${id} passed; a defective part that passed is "missed"`);
      const type = input.label === 'defect' || input.label === 'missed' ? (input.type ?? null) : null;
      const change = { ts: input.ts ?? Date.now(), who: input.who, recordId: id, oldLabel: row.label, newLabel: input.label, oldType: row.defectType, newType: type };
      this.sql.label.run({ id, label: input.label, type });
      this.sql.logReview.run(change);
      return change;
    })();
    appendFileSync(join(this.root, 'reviews.jsonl'), `${JSON.stringify(entry)}\n`);
    return this.get(id)!;
  }

  reviews(recordId?: number): ReviewEntry[] {
    return (recordId === undefined ? this.sql.reviews.all() : this.sql.reviewsOf.all(recordId)) as ReviewEntry[];
  }

  reviewedRecords(query: { product: string; version?: string }): RecordRow[] {
    return labelledRecords(this.db, query);
  }

  defectTypes(product: string): string[] {
    return defectTypes(this.db, product);
  }

  setDefectTypes(product: string, names: string[]): void {
    this.db.transaction(() => {
      this.sql.clearTypes.run(product);
      names.forEach((name, i) => this.sql.addType.run(product, name, i));
    })();
  }

  /** Deletes records older than `maxDays`, then the oldest until under `maxBytes`; the newest record always stays. */
  async enforceRetention(now = Date.now()): Promise<void> {
    const cutoff = now - this.limits.maxDays * 86_400_000;
    for (let batch = this.sql.olderThan.all(cutoff) as Doomed[]; batch.length; batch = this.sql.olderThan.all(cutoff) as Doomed[]) {
      this.counters.deletedByAge += await this.remove(batch);
    }
    while (this.totalBytes > this.limits.maxBytes) {
      const batch = this.sql.oldest.all() as Doomed[];
      if (!batch.length) break;
      const over = this.totalBytes - this.limits.maxBytes;
      let freed = 0;
      const doomed = batch.filter((r) => {
        if (freed >= over) return false;
        freed += r.bytes;
        return true;
      });
      this.counters.deletedBySize += await this.remove(doomed);
    }
  }

  private async remove(rows: Doomed[]): Promise<number> {
    this.db.transaction(() => {
      for (const r of rows) this.sql.delete.run(r.id);
    })();
    for (const r of rows) {
      this.totalBytes -= r.bytes;
      await rm(join(this.root, r.dir), { recursive: true, force: true });
    }
    return rows.length;
  }

  stats(): RecordStoreStats {
    return { records: (this.sql.count.get() as { n: number }).n, bytes: this.totalBytes, ...this.counters };
  }

  healthWarning(): string | undefined {
    const free = this.counters.freeBytes;
    if (free !== null && free < this.limits.minFreeBytes) {
      return `records: the data disk has ${(free / 1e6).toFixed(0)} MB free, under records.minFreeBytes (${(this.limits.minFreeBytes / 1e6).toFixed(0)} MB); ${this.counters.skippedLowDisk} records were not kept`;
    }
    return undefined;
  }

  close(): void {
    this.db.close();
  }
}

interface Doomed {
  id: number;
  dir: string;
  bytes: number;
}
