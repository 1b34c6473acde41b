/**
 * Enrollment's model-fitting stage: the (adapted) patch features reduced by
 * a PCA, then fitted by the product's scorer — PatchCore's memory bank
 * (always: every artifact carries one) and, for PaDiM, a Gaussian per
 * position over the bank samples and posed views.
 */
import { performance } from 'node:perf_hooks';
import type { ManifestDraft } from '../../product/artifact.ts';
import { seededRandom } from '../../models/components/random.ts';
import { reduceRows } from '../../models/components/pca.ts';
import { fitPcaReduction, type FeatureReduction } from '../../models/features/reduction.ts';
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
 * PCA reduction of the patch features (PatchCore reduces its embedding too):
 * the search cost is linear in the dimension and most variance sits in few
 * axes. The adaptor is linear and folds into the reduction the graphs apply.
 */
function reduceFeatures(features: PatchFeatures, adaptor: FeatureAdaptor | undefined, featureDim: number, seed: number): ReducedFeatures {
  const { channels } = features;
  const count = features.images * features.positions;
  const adapted = adaptor ? adaptRows(features.raw, count, adaptor) : features.raw;
  let out: ReducedFeatures = { rows: adapted, dim: channels, info: null };
  if (featureDim > 0 && featureDim < channels) {
    const pca = fitPcaReduction(adapted, count, channels, featureDim, seededRandom(seed + 1));
    const rows = reduceRows(adapted, count, channels, pca.reduction);
    out = { rows, dim: featureDim, reduction: pca.reduction, info: { from: channels, to: featureDim, explainedVariance: pca.explainedVariance } };
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
  const reduced = reduceFeatures(features, ctx.adaptor, settings.featureDim, settings.seed);
  const { rows, dim } = reduced;
  timings.reductionMs = since(start);

  start = performance.now();
  const bank = fitMemoryBank(rows, bankSamples.length * features.positions, dim, settings, progress);
  timings.coresetMs = since(start);

  let padim: PositionGaussians | undefined;
  if (settings.scorer === 'padim') {
    start = performance.now();
    if (dim > 256) throw new EnrollError(`PaDiM keeps a ${dim}x${dim} covariance per position; set featureDim to 256 or less`);
    padim = fitPositionGaussians(rows, features.images, features.positions, dim, settings.padimEpsilon);
    timings.padimMs = since(start);
  }
  ctx.model = { dim, reduction: reduced.reduction, reductionInfo: reduced.info, bank, padim };
}
