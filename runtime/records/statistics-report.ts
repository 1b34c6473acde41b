/**
 * The Statistics page's numbers from the records index: parts, OK, NG and
 * reject rate per hour and per shift, a histogram of recent scores against
 * the threshold, and the drift of each product version's good scores from
 * its reference; also as CSV rows for export.
 */
import type Database from 'better-sqlite3';
import type { RecordsSettings } from '../../config/records.ts';
import { countRows, recentScores, referenceScores } from './production-log.ts';
import { type Drift, type Histogram, perHour, perShift, scoreDrift, scoreHistogram, type Tally } from './statistics.ts';

export interface StatisticsQuery {
  from: number;
  to: number;
  camera?: string;
  product?: string;
  /** Recent parts in the histogram and the drift. */
  recent?: number;
}

export interface VersionDrift extends Drift {
  product: string;
  version: string;
}

export interface StatisticsReport {
  from: number;
  to: number;
  perHour: Tally[];
  perShift: Tally[];
  histogram: Histogram | null;
  drift: VersionDrift[];
  warnings: string[];
}

export function statisticsReport(db: Database.Database, settings: RecordsSettings, q: StatisticsQuery): StatisticsReport {
  const rows = countRows(db, q);
  const scores = recentScores(db, { limit: q.recent ?? 1000, camera: q.camera, product: q.product });
  const threshold = scores[0]?.threshold;
  const histogram = threshold !== undefined ? scoreHistogram(scores.map((s) => s.score), threshold) : null;
  const drift: VersionDrift[] = [];
  const versions = new Map<string, { product: string; version: string; threshold: number; good: number[] }>();
  for (const s of scores) {
    const key = `${s.product}\u0000${s.version}`;
    const v = versions.get(key) ?? { product: s.product, version: s.version, threshold: s.threshold, good: [] };
    if (s.verdict === 'ok') v.good.push(s.score);
    versions.set(key, v);
  }
  for (const v of versions.values()) {
    const reference = referenceScores(db, v.product, v.version);
    const d = reference && scoreDrift(reference, v.good, v.threshold, settings.driftWarn);
    if (d) drift.push({ product: v.product, version: v.version, ...d });
  }
  return { from: q.from, to: q.to, perHour: perHour(rows), perShift: perShift(rows, settings.shifts), histogram, drift, warnings: drift.flatMap((d) => (d.warning ? [`${d.product} ${d.version}: ${d.warning}`] : [])) };
}

/** Tallies as CSV (one row per period). */
export function talliesCsv(tallies: readonly Tally[], period: string): string {
  const lines = [`${period},start_ms,parts,ok,ng,no_verdict,reject_rate`];
  for (const t of tallies) lines.push([t.key, t.start, t.parts, t.ok, t.ng, t.noVerdict, t.rejectRate ?? ''].join(','));
  return `${lines.join('\n')}\n`;
}
