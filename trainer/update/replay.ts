/**
 * The replay of a product update: every reviewed record scored by the active
 * version and by the candidate, so the operator sees, before activating,
 * how many parts marked good now pass and how many confirmed and missed
 * defects still (or now) reject — side by side.
 */
import type { LoadedImage } from '../../product/image-io.ts';
import type { ProductScorer, Verdict } from '../../product/scorer.ts';

/** The operator's verdicts, as image files. */
export interface ReviewSet {
  /** Rejected parts the operator marked good (false rejects). */
  good: string[];
  /** Rejected parts the operator confirmed defective. */
  defects: { path: string; type?: string }[];
  /** Passed parts the operator marked as missed defects. */
  missed: { path: string; type?: string }[];
}

export type ReviewGroup = 'good' | 'defects' | 'missed';

export interface ReplayCounts {
  /** Parts marked good that pass. */
  goodPass: number;
  /** Confirmed defects that reject. */
  defectReject: number;
  /** Missed defects that reject. */
  missedReject: number;
}

export interface ReplayRecord {
  group: ReviewGroup;
  path: string;
  type?: string;
  active: { score: number; threshold: number; verdict: Verdict };
  candidate: { score: number; threshold: number; verdict: Verdict };
}

export interface Replay {
  /** Records per group. */
  totals: Record<ReviewGroup, number>;
  active: ReplayCounts;
  candidate: ReplayCounts;
  records: ReplayRecord[];
}

/** The reviewed records in replay order, one entry per image. */
export function reviewEntries(review: ReviewSet): { group: ReviewGroup; path: string; type?: string }[] {
  return [
    ...review.good.map((path) => ({ group: 'good' as const, path })),
    ...review.defects.map((d) => ({ group: 'defects' as const, ...d })),
    ...review.missed.map((d) => ({ group: 'missed' as const, ...d })),
  ];
}

/** Per-version counts from replayed records (pure). */
export function replayCounts(records: ReplayRecord[], which: 'active' | 'candidate'): ReplayCounts {
  const count = (group: ReviewGroup, verdict: Verdict) => records.filter((r) => r.group === group && r[which].verdict === verdict).length;
  return { goodPass: count('good', 'ok'), defectReject: count('defects', 'reject'), missedReject: count('missed', 'reject') };
}

/** Scores every reviewed image with both versions; `image(path)` reads it at the product's input size. */
export async function replayReview(
  review: ReviewSet,
  active: ProductScorer,
  candidate: ProductScorer,
  image: (path: string) => Promise<LoadedImage>,
  onProgress?: (done: number, total: number) => void,
): Promise<Replay> {
  const entries = reviewEntries(review);
  const records: ReplayRecord[] = [];
  for (const [i, entry] of entries.entries()) {
    const loaded = await image(entry.path);
    const a = await active.score(loaded);
    const c = await candidate.score(loaded);
    records.push({
      ...entry,
      active: { score: a.score, threshold: a.threshold, verdict: a.verdict },
      candidate: { score: c.score, threshold: c.threshold, verdict: c.verdict },
    });
    onProgress?.(i + 1, entries.length);
  }
  return {
    totals: { good: review.good.length, defects: review.defects.length, missed: review.missed.length },
    active: replayCounts(records, 'active'),
    candidate: replayCounts(records, 'candidate'),
    records,
  };
}
