/**
 * Enrollment's feature stage: the patch features of the bank samples, then
 * of their flipped / turned views (`bankAugment`, memory-bank candidates
 * only), then of the posed views (PaDiM's Gaussians only), stacked
 * image-major: bank samples, view after view of every bank sample, posed views.
 */
import { performance } from 'node:perf_hooks';
import { transformSquare, viewSymmetries } from '../../models/augment/dihedral.ts';
import { EnrollError } from '../golden-samples.ts';
import { need, since, type EnrollContext, type StageProgress } from './context.ts';

export async function featuresStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { extractor } = need(ctx.models, 'the feature extractor', 'load');
  const { bank } = need(ctx.split, 'the hold-out split', 'load');
  const { settings, size } = ctx;
  const symmetries = viewSymmetries(settings.bankAugment);
  if (symmetries.length > 0 && settings.scorer === 'padim') {
    throw new EnrollError('bankAugment adds views to the position-free memory bank; PaDiM keeps a Gaussian per position, which a turned view would scramble (use bankAugment: none)');
  }
  if (symmetries.length > 0 && size.width !== size.height) throw new EnrollError('bankAugment turns square images only');
  const start = performance.now();
  const { channels } = extractor.shape;
  const positions = extractor.positions;
  const bankImages = bank.map((i) => golden.images[i]!.data);
  // Views are made one at a time as they are extracted (a dihedral set is 7 extra copies of every sample).
  const sources: (() => Float32Array)[] = [
    ...bankImages.map((data) => () => data),
    ...symmetries.flatMap((s) => bankImages.map((data) => () => transformSquare(data, size.width, 3, s))),
    ...ctx.posedViews.map((data) => () => data),
  ];
  const raw = new Float32Array(sources.length * positions * channels);
  for (const [i, source] of sources.entries()) {
    const { rows } = await extractor.extract({ data: source() });
    raw.set(rows, i * positions * channels);
    progress(i + 1, sources.length);
  }
  ctx.timings.featuresMs = since(start);
  ctx.features = { raw, images: sources.length, positions, channels, bankViews: 1 + symmetries.length };
}
