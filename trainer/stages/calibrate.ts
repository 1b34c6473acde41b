/**
 * Enrollment's calibration stage: scores of good parts the model has not
 * seen (held-out samples, as captured and under `calibrationJitterViews`
 * camera jitters; for the memory bank also bank samples scored without
 * their own patches) and of synthetic negatives made from the
 * held-out samples, from which the reject threshold is chosen.
 */
import { performance } from 'node:perf_hooks';
import { jitteredViews } from '../../models/augment/camera-jitter.ts';
import { seededRandom } from '../../models/components/random.ts';
import { valueRange } from '../../models/components/value-range.ts';
import { leftOutScores } from '../../models/patchcore/model.ts';
import { createPatchScorer } from '../../product/scorer.ts';
import { thresholdChoices } from '../calibrate.ts';
import type { ContactSheetRow } from '../contact-sheet.ts';
import { makeNegatives } from '../synthetic-negatives.ts';
import { imageRows, need, since, type EnrollContext, type StageProgress } from './context.ts';

/** Golden samples shown on the synthetic-negatives contact sheet. */
const CONTACT_SHEET_ROWS = 4;

export async function calibrateStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings, session } = ctx;
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { extractor, saliency, calibrationMethod } = need(ctx.models, 'the feature extractor', 'load');
  const { heldOut, bank: bankSamples } = need(ctx.split, 'the hold-out split', 'load');
  const features = need(ctx.features, 'the patch features', 'features');
  const model = need(ctx.model, 'the fitted model', 'coreset');
  const start = performance.now();
  // The bank's left-out scores apply to the memory bank only; PaDiM calibrates on held-out samples.
  const leftOutCount = model.padim ? 0 : bankSamples.length;
  const views = settings.calibrationJitterViews;
  const total = heldOut.length * (1 + views + settings.calibrationNegatives) + leftOutCount;
  let calibrated = 0;
  const step = () => progress(++calibrated, total);
  const scorer = await createPatchScorer(extractor, { bank: model.bank.rows, reduction: model.reduction, padim: model.padim }, { sigma: settings.sigma, padimTolerance: settings.padimTolerance, reweightNeighbours: settings.reweightNeighbours }, session);
  const heldOutScores: number[] = [];
  const jitterScores: number[] = [];
  const jitterRandom = seededRandom(settings.seed + 6);
  const pixelMaxima: number[] = [];
  const negativeScores: number[] = [];
  const sheet: ContactSheetRow[] = [];
  const random = seededRandom(settings.seed + 5);
  for (const idx of heldOut) {
    const image = golden.images[idx]!;
    const result = await scorer.score(image);
    heldOutScores.push(result.score);
    pixelMaxima.push(valueRange(result.map).max);
    step();
    for (const view of await jitteredViews(image, views, settings.calibrationJitter, jitterRandom)) {
      jitterScores.push((await scorer.score(view)).score);
      step();
    }
    if (settings.calibrationNegatives === 0) continue;
    const made = await makeNegatives(image, settings.calibrationNegatives, calibrationMethod, random, saliency);
    for (const n of made.negatives) {
      negativeScores.push((await scorer.score(n.image)).score);
      step();
    }
    if (sheet.length < CONTACT_SHEET_ROWS) sheet.push({ golden: image, saliency: made.saliency, negatives: made.negatives.slice(0, 4) });
  }
  // Bank samples scored without their own patches: more good scores from parts
  // the bank has (almost) not seen, for the tail of the good-score distribution.
  const leftOut = await leftOutScores(model.bank, leftOutCount, features.positions, (i) => imageRows(features, i), { channels: features.channels, reduction: model.reduction, session, reweightNeighbours: settings.reweightNeighbours }, step);
  await scorer.release();
  await saliency?.release();
  const choices = thresholdChoices({ heldOut: heldOutScores, jittered: jitterScores, leftOut, negative: negativeScores }, { targetFrr: settings.targetFrr, margin: settings.thresholdMargin });
  ctx.timings.calibrateMs = since(start);
  ctx.calibration = { heldOutScores, jitterScores, leftOutScores: leftOut, negativeScores, pixelMaxima, choices, sheet };
}

