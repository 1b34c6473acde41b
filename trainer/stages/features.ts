/**
 * Enrollment's feature stage: the patch features of the bank samples, then
 * of the posed views (PaDiM's Gaussians only), stacked sample-major.
 */
import { performance } from 'node:perf_hooks';
import { need, since, type EnrollContext, type StageProgress } from './context.ts';

export async function featuresStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { extractor } = need(ctx.models, 'the feature extractor', 'load');
  const { bank } = need(ctx.split, 'the hold-out split', 'load');
  const start = performance.now();
  const { channels } = extractor.shape;
  const positions = extractor.positions;
  const images = [...bank.map((i) => golden.images[i]!.data), ...ctx.posedViews];
  const raw = new Float32Array(images.length * positions * channels);
  for (const [i, data] of images.entries()) {
    const { rows } = await extractor.extract({ data });
    raw.set(rows, i * positions * channels);
    progress(i + 1, images.length);
  }
  ctx.timings.featuresMs = since(start);
  ctx.features = { raw, images: images.length, positions, channels };
}
