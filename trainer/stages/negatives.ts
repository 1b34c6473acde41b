/**
 * Enrollment's synthetic-defect stage, before feature adaptation
 * (papers/cutswap.txt §III-B): every bank sample's pooled patch features as
 * a good example, and those of synthetic negatives made from it, labelled
 * with the kind of defect they imitate.
 */
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../../models/components/random.ts';
import { syntheticClass } from '../../models/augment/synthetic-defects.ts';
import { poolRows, type AdaptSample } from '../../models/adapt/train.ts';
import { makeNegatives } from '../synthetic-negatives.ts';
import { imageRows, need, since, type EnrollContext, type StageProgress } from './context.ts';

export async function negativesStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings } = ctx;
  if (settings.adapt === 'none') throw new Error('synthetic negatives for adaptation need an adapt method');
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { extractor, saliency } = need(ctx.models, 'the feature extractor', 'load');
  const { bank } = need(ctx.split, 'the hold-out split', 'load');
  const features = need(ctx.features, 'the patch features', 'features');
  const start = performance.now();
  const grid = { width: extractor.shape.width, height: extractor.shape.height };
  const { channels } = features;
  const samples: AdaptSample[] = [];
  const random = seededRandom(settings.seed + 4);
  for (const [i, idx] of bank.entries()) {
    samples.push({ rows: poolRows(imageRows(features, i), grid, channels, 2), label: 0 });
    const { negatives } = await makeNegatives(golden.images[idx]!, settings.adaptation.negativesPerImage, settings.adapt, random, saliency);
    for (const n of negatives) samples.push({ rows: poolRows((await extractor.extract(n.image)).rows, grid, channels, 2), label: syntheticClass(n.kind) });
    progress(i + 1, bank.length);
  }
  ctx.timings.negativesMs = since(start);
  ctx.adaptSamples = samples;
}
