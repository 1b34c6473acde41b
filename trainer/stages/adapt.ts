/**
 * Enrollment's feature adaptation stage (papers/cutswap.txt §III-B): a
 * linear adaptor trained to tell good patches from synthetic defects; it
 * folds into the feature reduction, so the bank is built on adapted features.
 */
import { performance } from 'node:perf_hooks';
import { trainFeatureAdaptor } from '../../models/adapt/train.ts';
import { need, since, type EnrollContext, type StageProgress } from './context.ts';

export async function adaptStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings } = ctx;
  if (settings.adapt === 'none') throw new Error('feature adaptation needs an adapt method');
  const features = need(ctx.features, 'the patch features', 'features');
  if (ctx.adaptSamples.length === 0) throw new Error('feature adaptation needs the samples of the negatives stage, which has not run');
  const a = settings.adaptation;
  const start = performance.now();
  const trained = await trainFeatureAdaptor(ctx.adaptSamples, features.channels, { ...a, seed: settings.seed, onEpoch: progress });
  ctx.timings.adaptMs = since(start);
  ctx.adaptor = trained.adaptor;
  ctx.adaptation = {
    method: settings.adapt,
    samples: ctx.adaptSamples.length,
    epochs: a.epochs,
    backend: trained.backend,
    trainSeconds: trained.trainMs / 1000,
    finalLoss: trained.losses.at(-1)!,
    accuracy: trained.accuracy,
    change: trained.change,
  };
}
