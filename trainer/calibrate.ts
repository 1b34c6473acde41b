/**
 * Reject-threshold calibration without real defects (pure functions).
 *
 * Inputs are image scores of good parts the memory bank has not seen (held-out
 * golden samples, and bank samples scored with their own patches left out of
 * the bank) and of synthetic negatives made from held-out samples. Three ways
 * to turn them into the image threshold:
 *
 * - `maxnormal` (anomalib's convention when no defects are known): a margin
 *   above the highest held-out good score;
 * - `f1synthetic` (anomalib's F1-adaptive threshold, with synthetic negatives
 *   standing in for the unknown defects): the threshold of best F1;
 * - `cutswap`: the lowest threshold — so the most synthetic negatives caught —
 *   whose expected false-reject rate on good parts meets the target. The rate
 *   comes from a Gumbel fit to the good scores: an image score is the maximum
 *   of many patch distances, and maxima follow the Gumbel law, whose tail
 *   reaches past the few dozen scores a technician's golden samples give.
 *
 * Camera jitter (setting `calibrationJitterViews`): each held-out golden
 * sample is also scored under a few camera-like jitters (turn, zoom, shift,
 * gain, offset, sensor noise; models/augment/camera-jitter.ts). Those scores
 * join the held-out ones as good scores of parts the model has not seen, so
 * every method sees how good parts vary between captures: maxnormal's
 * highest score and the F1 split include them, and cutswap's threshold is the
 * quantile at the target false-reject rate of all good scores together
 * (`frrQuantile`: held-out x (1 + views) plus the left-out bank scores).
 *
 * Every method reports the same two expectations for the technician: the
 * false-reject rate on good parts (from the Gumbel fit) and the share of
 * synthetic negatives it would miss.
 */

import type { CalibrationMethod } from '../config/enroll.ts';

export interface ThresholdChoice {
  threshold: number;
  /** Expected false-reject rate on good parts (Gumbel tail above the threshold). */
  expectedFrr: number;
  /** Share of synthetic negatives scoring below the threshold (null without negatives). */
  expectedMiss: number | null;
}

export interface Gumbel {
  location: number;
  scale: number;
}

const EULER_GAMMA = 0.5772156649015329;

/** Method-of-moments Gumbel (maximum) fit: scale = std sqrt(6) / pi, location = mean - gamma scale. */
export function fitGumbel(scores: number[]): Gumbel {
  if (scores.length < 2) throw new Error('a Gumbel fit needs at least two scores');
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const variance = scores.reduce((a, b) => a + (b - mean) ** 2, 0) / (scores.length - 1);
  const scale = Math.max((Math.sqrt(variance) * Math.sqrt(6)) / Math.PI, 1e-9 * Math.max(1, Math.abs(mean)));
  return { location: mean - EULER_GAMMA * scale, scale };
}

/** P(score > t). */
export function gumbelTail(g: Gumbel, t: number): number {
  return 1 - Math.exp(-Math.exp(-(t - g.location) / g.scale));
}

/** The t with P(score > t) = tail. */
export function gumbelThreshold(g: Gumbel, tail: number): number {
  if (!(tail > 0 && tail < 1)) throw new Error(`target false-reject rate ${tail} must lie strictly between 0 and 1`);
  return g.location - g.scale * Math.log(-Math.log(1 - tail));
}

/**
 * The threshold a share `targetFrr` of good parts scores above: the
 * (1 - targetFrr) quantile of the Gumbel law fitted to the good scores.
 * A target of 0.5 % lies beyond the highest of the few hundred scores
 * calibration has, so the fitted law, not the sample, gives the quantile.
 */
export function frrQuantile(goodScores: number[], targetFrr: number): number {
  return gumbelThreshold(fitGumbel(goodScores.length >= 2 ? goodScores : [...goodScores, ...goodScores]), targetFrr);
}

/**
 * The threshold of best F1 with negatives as the positive class (score >= t
 * is flagged); on ties the larger threshold, halfway to the next good score.
 */
export function f1Threshold(normal: number[], negative: number[]): number {
  if (negative.length === 0) throw new Error('an F1 threshold needs negatives');
  const all = [...normal.map((s) => ({ s, neg: 0 })), ...negative.map((s) => ({ s, neg: 1 }))].sort((a, b) => b.s - a.s);
  let tp = 0;
  let fp = 0;
  let best = { f1: -1, index: 0 };
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.neg) tp++;
    else fp++;
    if (i + 1 < all.length && all[i + 1]!.s === all[i]!.s) continue;
    const f1 = (2 * tp) / (2 * tp + fp + (negative.length - tp));
    if (f1 > best.f1) best = { f1, index: i };
  }
  const at = all[best.index]!.s;
  const below = all[best.index + 1]?.s;
  return below === undefined ? at : (at + below) / 2;
}

function choice(threshold: number, gumbel: Gumbel, negative: number[]): ThresholdChoice {
  return {
    threshold,
    expectedFrr: gumbelTail(gumbel, threshold),
    expectedMiss: negative.length ? negative.filter((s) => s < threshold).length / negative.length : null,
  };
}

export interface CalibrationInput {
  /** Scores of held-out golden samples (never in the bank). */
  heldOut: number[];
  /** Scores of camera-jittered views of the held-out golden samples (empty without jitter). */
  jittered?: number[];
  /** Scores of bank samples against the bank without their own patches. */
  leftOut: number[];
  /** Scores of synthetic negatives made from held-out samples. */
  negative: number[];
}

/** Every method's threshold and expectations, from one set of scores. */
export function thresholdChoices(input: CalibrationInput, opts: { targetFrr: number; margin: number }): Record<CalibrationMethod, ThresholdChoice> {
  if (input.heldOut.length === 0) throw new Error('calibration needs at least one held-out golden sample');
  const unseen = [...input.heldOut, ...(input.jittered ?? [])];
  const good = [...unseen, ...input.leftOut];
  const gumbel = fitGumbel(good.length >= 2 ? good : [...good, ...good]);
  const maxHeld = Math.max(...unseen);
  return {
    maxnormal: choice(maxHeld * (1 + opts.margin), gumbel, input.negative),
    f1synthetic: choice(input.negative.length ? f1Threshold(good, input.negative) : maxHeld, gumbel, input.negative),
    cutswap: choice(frrQuantile(good, opts.targetFrr), gumbel, input.negative),
  };
}

/** The pixel threshold: a margin above the highest anomaly-map value of a held-out golden sample. */
export function pixelThreshold(pixelMaxima: number[], margin: number): number {
  if (pixelMaxima.length === 0) throw new Error('calibration needs at least one held-out golden sample');
  return Math.max(...pixelMaxima) * (1 + margin);
}

export function summarise(scores: number[]): { min: number; max: number; mean: number } {
  return { min: Math.min(...scores), max: Math.max(...scores), mean: scores.reduce((a, b) => a + b, 0) / scores.length };
}

/** Splits sample indices into bank and held-out sets, reproducibly for a seed. */
export function splitHoldout(count: number, fraction: number, random: () => number): { bank: number[]; heldOut: number[] } {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const held = fraction > 0 ? Math.min(count - 1, Math.max(1, Math.round(count * fraction))) : 0;
  return { heldOut: order.slice(0, held).sort((a, b) => a - b), bank: order.slice(held).sort((a, b) => a - b) };
}
