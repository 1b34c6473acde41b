/**
 * The manifest an enrollment writes, drawn from what its stages left: the
 * model's shape and settings, the chosen thresholds and the calibration
 * evidence behind them, the golden samples and their roles, the timings.
 */
import { createRequire } from 'node:module';
import type { ManifestDraft } from '../../product/artifact.ts';
import type { RefineModel } from '../../models/refine/f2pad-model.ts';
import { pixelThreshold, summarise } from '../calibrate.ts';
import { need, type EnrollContext } from './context.ts';

const trainerVersion: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

function calibrationRecord(ctx: EnrollContext, heldOut: number): ManifestDraft['calibration'] {
  const { settings } = ctx;
  const { calibrationMethod } = need(ctx.models, 'the feature extractor', 'load');
  const c = need(ctx.calibration, 'the calibration scores', 'calibrate');
  return {
    heldOut,
    margin: settings.thresholdMargin,
    imageScores: summarise(c.heldOutScores),
    pixelMax: Math.max(...c.pixelMaxima),
    method: settings.calibrate,
    targetFrr: settings.targetFrr,
    leftOut: c.leftOutScores.length,
    ...(c.leftOutScores.length ? { leftOutScores: summarise(c.leftOutScores) } : {}),
    negatives: { method: calibrationMethod, count: c.negativeScores.length, ...(c.negativeScores.length ? { scores: summarise(c.negativeScores) } : {}) },
    ...(c.jitterScores.length
      ? { jitter: { views: settings.calibrationJitterViews, ranges: settings.calibrationJitter, scores: c.heldOutScores.length + c.jitterScores.length, jitteredScores: summarise(c.jitterScores) } }
      : {}),
    choices: c.choices,
  };
}

export function manifestDraft(ctx: EnrollContext, refine: RefineModel | undefined): ManifestDraft {
  const { settings, attachments, notes } = ctx;
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { backbone, extractor, precision, int8 } = need(ctx.models, 'the feature extractor', 'load');
  const { heldOut } = need(ctx.split, 'the hold-out split', 'load');
  const { dim, reductionInfo, bank, padim } = need(ctx.model, 'the fitted model', 'coreset');
  const c = need(ctx.calibration, 'the calibration scores', 'calibrate');
  if (precision === 'int8' && !int8) throw new Error('an int8 enrollment reached its manifest without calibrated activation ranges');
  const heldSet = new Set(heldOut);
  return {
    productId: ctx.opts.productId,
    createdAt: new Date().toISOString(),
    trainerVersion,
    backbone: { id: backbone.id, sha256: backbone.sha256 },
    precision,
    ...(int8 ? { int8: { calibration: 'minmax' as const, samples: int8.samples, ranges: int8.ranges } } : {}),
    inputSize: ctx.size,
    layers: extractor.layers,
    aggregation: settings.aggregation,
    featureDim: dim,
    reduction: reductionInfo,
    adaptation: ctx.adaptation,
    alignment: ctx.alignment,
    ...(padim ? { scorer: 'padim' as const, padim: { epsilon: settings.padimEpsilon, dim, tolerance: settings.padimTolerance } } : {}),
    grid: { width: extractor.shape.width, height: extractor.shape.height },
    sigma: settings.sigma,
    ...(settings.reweightNeighbours > 0 ? { reweight: { neighbours: settings.reweightNeighbours } } : {}),
    coreset: {
      ratio: settings.coresetRatio,
      size: bank.size,
      totalPatches: bank.totalPatches,
      projectionDim: settings.projectionDim,
      seed: settings.seed,
      ...(settings.bankAugment !== 'none' ? { augment: settings.bankAugment } : {}),
    },
    thresholds: { image: c.choices[settings.calibrate].threshold, pixel: pixelThreshold(c.pixelMaxima, settings.thresholdMargin) },
    calibration: calibrationRecord(ctx, heldOut.length),
    ...(refine ? { refine: { priorComponents: settings.priorComponents, references: refine.references.length } } : {}),
    goldenSamples: {
      count: golden.images.length,
      files: golden.images.map((img, i) => ({ name: img.name, sha256: img.sha256, role: heldSet.has(i) ? 'heldOut' : 'bank' })),
      skipped: golden.skipped,
    },
    ...(Object.keys(attachments).length ? { attachments: Object.keys(attachments) } : {}),
    ...(notes.length ? { notes } : {}),
    timings: ctx.timings,
  };
}
