/**
 * Counts of every part (OK, NG, no verdict per quarter hour, camera and
 * product version) and its score, kept in the records index for production
 * statistics. Parts are counted in memory and written in one transaction
 * every few seconds, so the line never waits for the disk; the newest
 * `keepScores` scores stay, and the first good scores of each version are
 * kept aside as the reference drift is measured against.
 */
import type Database from 'better-sqlite3';
import type { RecordVerdict } from '../../product/records-index.ts';
import { bucketOf, type CountRow } from './statistics.ts';

export interface CountedPart {
  ts: number;
  camera: string;
  product: string;
  version: string | null;
  verdict: RecordVerdict;
  score: number | null;
  threshold: number | null;
}

export interface ScoreRow {
  ts: number;
  camera: string;
  product: string;
  version: string;
  verdict: string;
  score: number;
  threshold: number;
}

export class ProductionLog {
  private counts = new Map<string, CountRow>();
  private scores: ScoreRow[] = [];
  private readonly sql;

  constructor(
    private readonly db: Database.Database,
    private readonly opts: { keepScores: number; referenceParts: number },
  ) {
    this.sql = {
      count: db.prepare(
        `INSERT INTO part_counts (bucket, camera, product, version, ok, reject, no_verdict) VALUES (@bucket, @camera, @product, @version, @ok, @reject, @noVerdict)
         ON CONFLICT (bucket, camera, product, version) DO UPDATE SET ok = ok + excluded.ok, reject = reject + excluded.reject, no_verdict = no_verdict + excluded.no_verdict`,
      ),
      score: db.prepare('INSERT INTO part_scores (ts, camera, product, version, verdict, score, threshold) VALUES (@ts, @camera, @product, @version, @verdict, @score, @threshold)'),
      prune: db.prepare('DELETE FROM part_scores WHERE id <= (SELECT max(id) FROM part_scores) - ?'),
      hasReference: db.prepare('SELECT 1 FROM score_reference WHERE product = ? AND version = ?'),
      firstGood: db.prepare("SELECT score FROM part_scores WHERE product = ? AND version = ? AND verdict = 'ok' ORDER BY id LIMIT ?"),
      saveReference: db.prepare('INSERT OR IGNORE INTO score_reference (product, version, scores) VALUES (?, ?, ?)'),
    };
  }

  /** Counts one part (in memory until the next flush). */
  add(part: CountedPart): void {
    const version = part.version ?? '';
    const bucket = bucketOf(part.ts);
    const key = `${bucket}\u0000${part.camera}\u0000${part.product}\u0000${version}`;
    const row = this.counts.get(key) ?? { bucket, camera: part.camera, product: part.product, version, ok: 0, reject: 0, noVerdict: 0 };
    if (part.verdict === 'ok') row.ok++;
    else if (part.verdict === 'reject') row.reject++;
    else row.noVerdict++;
    this.counts.set(key, row);
    if (part.score !== null && part.threshold !== null) this.scores.push({ ts: part.ts, camera: part.camera, product: part.product, version, verdict: part.verdict, score: part.score, threshold: part.threshold });
  }

  /** Writes what was counted since the last flush, in one transaction. */
  flush(): void {
    if (!this.counts.size && !this.scores.length) return;
    const counts = [...this.counts.values()];
    const scores = this.scores;
    this.counts = new Map();
    this.scores = [];
    const versions = new Set(scores.map((s) => `${s.product}\u0000${s.version}`));
    this.db.transaction(() => {
      for (const c of counts) this.sql.count.run(c);
      for (const s of scores) this.sql.score.run(s);
      for (const pv of versions) this.keepReference(...(pv.split('\u0000') as [string, string]));
      this.sql.prune.run(this.opts.keepScores);
    })();
  }

  private keepReference(product: string, version: string): void {
    if (this.sql.hasReference.get(product, version)) return;
    const first = (this.sql.firstGood.all(product, version, this.opts.referenceParts) as { score: number }[]).map((r) => r.score);
    if (first.length >= this.opts.referenceParts) this.sql.saveReference.run(product, version, JSON.stringify(first));
  }
}

/** Counted parts per quarter hour in [from, to), optionally of one camera or product. */
export function countRows(db: Database.Database, q: { from: number; to: number; camera?: string; product?: string }): CountRow[] {
  return db
    .prepare(
      `SELECT bucket, camera, product, version, ok, reject, no_verdict AS noVerdict FROM part_counts
       WHERE bucket >= @from AND bucket < @to AND (@camera IS NULL OR camera = @camera) AND (@product IS NULL OR product = @product) ORDER BY bucket`,
    )
    .all({ from: q.from, to: q.to, camera: q.camera ?? null, product: q.product ?? null }) as CountRow[];
}

/** The newest `limit` scores, newest first, optionally of one camera or product. */
export function recentScores(db: Database.Database, q: { limit: number; camera?: string; product?: string }): ScoreRow[] {
  return db
    .prepare(
      `SELECT ts, camera, product, version, verdict, score, threshold FROM part_scores
       WHERE (@camera IS NULL OR camera = @camera) AND (@product IS NULL OR product = @product) ORDER BY id DESC LIMIT @limit`,
    )
    .all({ limit: q.limit, camera: q.camera ?? null, product: q.product ?? null }) as ScoreRow[];
}

/** The reference good scores of a product version, when enough parts were seen. */
export function referenceScores(db: Database.Database, product: string, version: string): number[] | undefined {
  const row = db.prepare('SELECT scores FROM score_reference WHERE product = ? AND version = ?').get(product, version) as { scores: string } | undefined;
  return row ? (JSON.parse(row.scores) as number[]) : undefined;
}
