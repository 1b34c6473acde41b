/**
 * Production statistics as pure functions over counted parts and scores:
 * parts, OK, NG and reject rate per hour and per shift, a histogram of
 * recent scores against the threshold, and how far the good parts' scores
 * have drifted from a reference (lighting or material changing shows up
 * here before it shows up as rejects).
 */
import { clockMinutes } from '../../config/records.ts';

/** Parts counted in one quarter hour on one camera for one product version. */
export interface CountRow {
  bucket: number;
  camera: string;
  product: string;
  version: string;
  ok: number;
  reject: number;
  noVerdict: number;
}

export interface Tally {
  key: string;
  start: number;
  parts: number;
  ok: number;
  ng: number;
  noVerdict: number;
  /** NG / parts; null without parts. */
  rejectRate: number | null;
}

export const BUCKET_MS = 15 * 60_000;

export function bucketOf(ts: number): number {
  return Math.floor(ts / BUCKET_MS) * BUCKET_MS;
}

/**
 * The start (epoch ms, local time) of the shift `ts` falls in. `shifts` are
 * local `HH:MM` start times; a time before the day's first start belongs to
 * the previous day's last shift.
 */
export function shiftStart(ts: number, shifts: readonly string[]): number {
  const starts = shifts.map(clockMinutes).sort((a, b) => a - b);
  const d = new Date(ts);
  const minute = d.getHours() * 60 + d.getMinutes();
  const today = starts.filter((s) => s <= minute).pop();
  const day = new Date(d.getFullYear(), d.getMonth(), d.getDate() - (today === undefined ? 1 : 0));
  const start = today ?? starts[starts.length - 1]!;
  return new Date(day.getFullYear(), day.getMonth(), day.getDate(), Math.floor(start / 60), start % 60).getTime();
}

function localLabel(ts: number): string {
  const d = new Date(ts);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** Sums counts into groups keyed by `startOf(bucket)`, oldest first. */
export function tallyBy(rows: readonly CountRow[], startOf: (bucket: number) => number): Tally[] {
  const groups = new Map<number, Tally>();
  for (const r of rows) {
    const start = startOf(r.bucket);
    const t = groups.get(start) ?? { key: localLabel(start), start, parts: 0, ok: 0, ng: 0, noVerdict: 0, rejectRate: null };
    t.ok += r.ok;
    t.ng += r.reject;
    t.noVerdict += r.noVerdict;
    t.parts += r.ok + r.reject + r.noVerdict;
    groups.set(start, t);
  }
  const tallies = [...groups.values()].sort((a, b) => a.start - b.start);
  for (const t of tallies) t.rejectRate = t.parts ? t.ng / t.parts : null;
  return tallies;
}

export const perHour = (rows: readonly CountRow[]) => tallyBy(rows, (b) => Math.floor(b / 3_600_000) * 3_600_000);
export const perShift = (rows: readonly CountRow[], shifts: readonly string[]) => tallyBy(rows, (b) => shiftStart(b, shifts));

export interface Histogram {
  /** Lower edge of each bin; the last bin also takes everything above. */
  edges: number[];
  counts: number[];
  threshold: number;
}

/** Scores in `bins` equal bins from 0 to twice the threshold (or the largest score, if higher). */
export function scoreHistogram(scores: readonly number[], threshold: number, bins = 40): Histogram {
  const top = Math.max(2 * threshold, ...scores, 1e-9);
  const width = top / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const s of scores) counts[Math.min(bins - 1, Math.max(0, Math.floor(s / width)))]!++;
  return { edges: counts.map((_, i) => i * width), counts, threshold };
}

export function median(values: readonly number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two empirical distribution functions (0 = same, 1 = disjoint). */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  if (!a.length || !b.length) return 0;
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

export interface Drift {
  /** Median of recent good scores minus the reference median, in units of the threshold. */
  medianShift: number;
  ks: number;
  referenceCount: number;
  recentCount: number;
  warning: string | undefined;
}

/** How far recent good parts' scores moved from the reference; null without enough of either. */
export function scoreDrift(reference: readonly number[], recent: readonly number[], threshold: number, warnAt: number, minCount = 10): Drift | null {
  if (reference.length < minCount || recent.length < minCount || !(threshold > 0)) return null;
  const medianShift = (median(recent)! - median(reference)!) / threshold;
  const ks = ksStatistic(reference, recent);
  const warning =
    Math.abs(medianShift) > warnAt
      ? `good parts' median score moved by ${medianShift.toFixed(2)} thresholds from the reference (warning above ${warnAt}); check lighting, focus and material`
      : undefined;
  return { medianShift, ks, referenceCount: reference.length, recentCount: recent.length, warning };
}
