/**
 * One score per part from its per-frame scores. A part is seen on several
 * frames; a single noisy frame must not decide it, and near-threshold flicker
 * must not split it into several verdicts: the part is scored once, from the
 * frames where it is fully in view, and compared with the threshold once.
 *
 * Rules:
 * - `max`: the highest frame score.
 * - `debounced-max` (default): the k-th highest score, k = `debounceFrames`,
 *   i.e. the highest score that at least k frames reached. With fewer frames
 *   than k, the lowest of them (every frame must agree).
 * - `median`: the median frame score (lower median for an even count).
 */
import type { AggregationSettings } from '../../config/parts.ts';

/** The part's score under `settings`; null when there is no score to aggregate. */
export function aggregateScores(scores: readonly number[], settings: AggregationSettings): number | null {
  if (scores.length === 0) return null;
  const sorted = [...scores].sort((a, b) => b - a); // highest first
  switch (settings.rule) {
    case 'max':
      return sorted[0]!;
    case 'debounced-max':
      return sorted[Math.min(settings.debounceFrames, sorted.length) - 1]!;
    case 'median':
      return sorted[Math.floor(sorted.length / 2)]!;
  }
}

/** A score at or over the threshold rejects the part (the comparison the scorer makes per frame). */
export function partVerdict(score: number, threshold: number): 'ok' | 'reject' {
  return score >= threshold ? 'reject' : 'ok';
}
