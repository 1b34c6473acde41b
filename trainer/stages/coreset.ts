/**
 * Enrollment's model-fitting stage: the (adapted) patch features reduced by
 * a PCA or a random projection, then fitted by the product's scorer — PatchCore's memory bank
 * (always: every artifact carries one) and, for PaDiM, a Gaussian per
 * position over the bank samples and posed views.
 */
import { performance } from 'node:perf_hooks';
import type { ManifestDraft } from '../../product/artifact.ts';
import { seededRandom } from '../../models/components/random.ts';
import { reduceRows } from '../../models/components/pca.ts';
import { fitPcaReduction, fitRandomReduction, type FeatureReduction } from '../../models/features/reduction.ts';
import type { EnrollSettings } from '../../config/enroll.ts';
import { adaptRows, foldAdaptor, type FeatureAdaptor } from '../../models/adapt/feature-adaptor.ts';
import { fitMemoryBank } from '../../models/patchcore/fit.ts';
import { fitPositionGaussians, type PositionGaussians } from '../../models/padim/gaussian.ts';
import { EnrollError } from '../golden-samples.ts';
import { need, since, type EnrollContext, type PatchFeatures, type StageProgress } from './context.ts';

interface ReducedFeatures {
  rows: Float32Array;
  dim: number;
  reduction?: FeatureReduction;
  info: ManifestDraft['reduction'];
}

/**
 * Reduction of the patch features (PatchCore reduces its embedding too): the
 * search cost is linear in the dimension. PCA keeps the axes most variance
 * sits in; a random projection keeps every direction alike (its manifest
 * `explainedVariance` is the projected variance over the original). The
 * adaptor is linear and folds into the reduction the graphs apply.
 */
function reduceFeatures(features: PatchFeatures, adaptor: FeatureAdaptor | undefined, settings: Pick<EnrollSettings, 'featureDim' | 'featureReduction' | 'seed'>): ReducedFeatures {
  const { channels } = features;
  const { featureDim, seed } = settings;
  const count = features.images * features.positions;
  const adapted = adaptor ? adaptRows(features.raw, count, adaptor) : features.raw;
  let out: ReducedFeatures = { rows: adapted, dim: channels, info: null };
  if (featureDim > 0 && featureDim < channels) {
    const random = settings.featureReduction === 'random';
    const fitted = random ? fitRandomReduction(adapted, count, channels, featureDim, seed + 6, seededRandom(seed + 1)) : fitPcaReduction(adapted, count, channels, featureDim, seededRandom(seed + 1));
    const rows = reduceRows(adapted, count, channels, fitted.reduction);
    out = { rows, dim: featureDim, reduction: fitted.reduction, info: { from: channels, to: featureDim, explainedVariance: fitted.explainedVariance, ...(random ? { method: 'random' as const } : {}) } };
  }
  if (!adaptor) return out;
  try {
    return { ...out, reduction: foldAdaptor(adaptor, out.reduction), info: out.info ?? { from: channels, to: channels, explainedVariance: 1 } };
  } catch {
    throw new EnrollError('feature adaptation diverged (its map cannot be folded into the scoring graph); enroll again with adapt: none or a larger adaptation.weightDecay');
  }
}

export async function coresetStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings, timings } = ctx;
  const features = need(ctx.features, 'the patch features', 'features');
  const { bank: bankSamples } = need(ctx.split, 'the hold-out split', 'load');
  let start = performance.now();
  const reduced = reduceFeatures(features, ctx.adaptor, settings);
  const { rows, dim } = reduced;
  timings.reductionMs = since(start);

  start = performance.now();
  // Added views widen the candidates, not the bank: it keeps coresetRatio of the samples' own patches, so scoring costs the same.
  const samplePatches = bankSamples.length * features.positions;
  const bank = fitMemoryBank(rows, samplePatches * features.bankViews, dim, settings, progress, Math.max(1, Math.round(samplePatches * settings.coresetRatio)));
  timings.coresetMs = since(start);

  let padim: PositionGaussians | undefined;
  if (settings.scorer === 'padim') {
    if (settings.reweightNeighbours > 0) throw new EnrollError('reweightNeighbours reweights the memory bank\'s image score; PaDiM scores patches by their Gaussians (use reweightNeighbours: 0)');
    start = performance.now();
    if (dim > 256) throw new EnrollError(`PaDiM keeps a ${dim}x${dim} covariance per position; set featureDim to 256 or less`);
    padim = fitPositionGaussians(rows, features.images, features.positions, dim, settings.padimEpsilon);
    timings.padimMs = since(start);
  }
  ctx.model = { dim, reduction: reduced.reduction, reductionInfo: reduced.info, bank, padim };
}
