/**
 * The index of kept inspection records (`<dataDir>/records/index.sqlite`):
 * its tables and the queries that read it. The runtime writes records and
 * reviews (runtime/records/); the trainer and the CLI only read them, so the
 * schema lives here, below both.
 *
 * SQLite through better-sqlite3 rather than node:sqlite: the device runs
 * Node 20, where node:sqlite does not exist (it arrived in Node 22, behind
 * a flag at first). better-sqlite3 is synchronous, which suits an index
 * whose queries take well under a millisecond, and it has prepared
 * statements and WAL mode, so the web UI reads while the runtime writes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type RecordVerdict = 'ok' | 'reject' | 'no_verdict';
export type ReviewLabel = 'defect' | 'good' | 'missed';
export const REVIEW_LABELS: readonly ReviewLabel[] = ['defect', 'good', 'missed'];

/** One kept record as listed: what was decided, and what the operator said about it. */
export interface RecordRow {
  id: number;
  ts: number;
  camera: string;
  product: string;
  version: string | null;
  verdict: RecordVerdict;
  score: number | null;
  threshold: number | null;
  partId: string | null;
  /** Folder of the record's files, relative to the records folder. */
  dir: string;
  bytes: number;
  label: ReviewLabel | null;
  defectType: string | null;
}

export interface RecordFilter {
  camera?: string;
  product?: string;
  version?: string;
  verdict?: RecordVerdict;
  /** Only records at or after / before these times (epoch ms). */
  from?: number;
  to?: number;
  /** true: only reviewed records; false: only unreviewed ones. */
  reviewed?: boolean;
  label?: ReviewLabel;
}

export interface RecordPage {
  /** How many records match; with a filter, counted up to COUNT_CAP (then `totalCapped`). */
  total: number;
  totalCapped: boolean;
  records: RecordRow[];
}

/** The files of a record, inside its folder. */
export const RECORD_FILES = { image: 'image.png', map: 'map.png', mask: 'mask.png' } as const;

export function recordsDir(dataDir: string): string {
  return join(dataDir, 'records');
}

export function recordsIndexPath(dataDir: string): string {
  return join(recordsDir(dataDir), 'index.sqlite');
}

/**
 * Tables: `records` (one row per kept part, with its latest label),
 * `reviews` (every verdict an operator gave, append-only: triggers refuse
 * updates and deletes), `defect_types` (per product, in the order the
 * number keys pick them), and production statistics of every part, kept or
 * not: `part_counts` (per quarter hour) and `part_scores` (the recent ones).
 */
export const RECORDS_SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  camera TEXT NOT NULL,
  product TEXT NOT NULL,
  version TEXT,
  verdict TEXT NOT NULL CHECK (verdict IN ('ok', 'reject', 'no_verdict')),
  score REAL,
  threshold REAL,
  part_id TEXT,
  dir TEXT NOT NULL UNIQUE,
  bytes INTEGER NOT NULL,
  label TEXT CHECK (label IN ('defect', 'good', 'missed')),
  defect_type TEXT
);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE INDEX IF NOT EXISTS records_product ON records (product, id);
CREATE INDEX IF NOT EXISTS records_camera ON records (camera, id);
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  who TEXT NOT NULL,
  record_id INTEGER NOT NULL,
  old_label TEXT,
  new_label TEXT,
  old_type TEXT,
  new_type TEXT
);
CREATE INDEX IF NOT EXISTS reviews_record ON reviews (record_id, id);
CREATE TRIGGER IF NOT EXISTS reviews_no_update BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'the review log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS reviews_no_delete BEFORE DELETE ON reviews BEGIN SELECT RAISE(ABORT, 'the review log is append-only'); END;
CREATE TABLE IF NOT EXISTS defect_types (
  product TEXT NOT NULL,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (product, name)
);
CREATE TABLE IF NOT EXISTS part_counts (
  bucket INTEGER NOT NULL,
  camera TEXT NOT NULL,
  product TEXT NOT NULL,
  version TEXT NOT NULL,
  ok INTEGER NOT NULL,
  reject INTEGER NOT NULL,
  no_verdict INTEGER NOT NULL,
  PRIMARY KEY (bucket, camera, product, version)
);
CREATE TABLE IF NOT EXISTS part_scores (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  camera TEXT NOT NULL,
  product TEXT NOT NULL,
  version TEXT NOT NULL,
  verdict TEXT NOT NULL,
  score REAL NOT NULL,
  threshold REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS part_scores_product ON part_scores (product, version, id);
CREATE TABLE IF NOT EXISTS score_reference (
  product TEXT NOT NULL,
  version TEXT NOT NULL,
  scores TEXT NOT NULL,
  PRIMARY KEY (product, version)
);
`;

const COLUMNS = 'id, ts, camera, product, version, verdict, score, threshold, part_id AS partId, dir, bytes, label, defect_type AS defectType';

/** The WHERE clause and its parameters for a filter. */
export function filterClause(filter: RecordFilter): { where: string; params: Record<string, string | number> } {
  const parts: string[] = [];
  const params: Record<string, string | number> = {};
  for (const key of ['camera', 'product', 'version', 'verdict', 'label'] as const) {
    const value = filter[key];
    if (value === undefined) continue;
    parts.push(`${key} = @${key}`);
    params[key] = value;
  }
  if (filter.from !== undefined) {
    parts.push('ts >= @from');
    params.from = filter.from;
  }
  if (filter.to !== undefined) {
    parts.push('ts < @to');
    params.to = filter.to;
  }
  if (filter.reviewed !== undefined) parts.push(filter.reviewed ? 'label IS NOT NULL' : 'label IS NULL');
  return { where: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/** Filtered listings count matches up to this many, so a page stays instant however many records there are. */
export const COUNT_CAP = 10_000;

/** Records matching a filter, newest first, `limit` of them after `offset`, with how many match. */
export function listRecords(db: Database.Database, filter: RecordFilter, page: { offset?: number; limit?: number } = {}): RecordPage {
  const { where, params } = filterClause(filter);
  const limit = Math.max(1, Math.min(1000, page.limit ?? 50));
  const offset = Math.max(0, page.offset ?? 0);
  const countSql = where ? `SELECT count(*) AS n FROM (SELECT 1 FROM records ${where} LIMIT ${COUNT_CAP + 1})` : 'SELECT count(*) AS n FROM records';
  const counted = (db.prepare(countSql).get(params) as { n: number }).n;
  const records = db.prepare(`SELECT ${COLUMNS} FROM records ${where} ORDER BY id DESC LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset }) as RecordRow[];
  return { total: Math.min(counted, where ? COUNT_CAP : counted), totalCapped: where !== '' && counted > COUNT_CAP, records };
}

export function getRecord(db: Database.Database, id: number): RecordRow | undefined {
  return db.prepare(`SELECT ${COLUMNS} FROM records WHERE id = ?`).get(id) as RecordRow | undefined;
}

/** Records of a product (and version) an operator has labelled, oldest first. */
export function labelledRecords(db: Database.Database, query: { product: string; version?: string }): RecordRow[] {
  const { where, params } = filterClause({ product: query.product, version: query.version, reviewed: true });
  return db.prepare(`SELECT ${COLUMNS} FROM records ${where} ORDER BY id`).all(params) as RecordRow[];
}

/** A product's defect types, in number-key order. */
export function defectTypes(db: Database.Database, product: string): string[] {
  return (db.prepare('SELECT name FROM defect_types WHERE product = ? ORDER BY position, name').all(product) as { name: string }[]).map((r) => r.name);
}

/** Opens the index read-only; undefined when nothing was recorded yet. */
export function openRecordsIndexReadOnly(dataDir: string): Database.Database | undefined {
  const path = recordsIndexPath(dataDir);
  if (!existsSync(path)) return undefined;
  return new Database(path, { readonly: true, fileMustExist: true });
}
