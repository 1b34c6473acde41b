/**
 * Enrollment's pose alignment stage: a spatial transformer trained on the
 * golden samples puts every one of them into the product's canonical pose;
 * every later stage sees the aligned samples.
 */
import { alignGoldenSamples, ALIGNMENT_SHEET_FILE } from '../align-golden.ts';
import { need, type EnrollContext, type StageProgress } from './context.ts';
import { quantizeAlignedBackbone } from './load.ts';

export async function alignStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings } = ctx;
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const split = need(ctx.split, 'the hold-out split', 'load');
  const aligned = await alignGoldenSamples({
    images: golden.images,
    size: ctx.size,
    bank: split.bank,
    heldOut: split.heldOut,
    settings: settings.stn,
    // The memory bank is position-free and measured no gain from them.
    posedViews: settings.scorer === 'padim' ? settings.stn.posedViews : 0,
    seed: settings.seed,
    session: ctx.session,
    extractor: need(ctx.models, 'the feature extractor', 'load').extractor,
    onStep: progress,
  });
  if ('skipped' in aligned) {
    ctx.notes.push(aligned.skipped);
    await quantizeAlignedBackbone(ctx);
    return;
  }
  golden.images.forEach((image, i) => (image.data = aligned.aligned[i]!));
  ctx.posedViews = aligned.views;
  ctx.alignment = aligned.manifest;
  ctx.stn = aligned.weights;
  Object.assign(ctx.timings, aligned.timings);
  if (settings.contactSheet) ctx.attachments[ALIGNMENT_SHEET_FILE] = aligned.contactSheet;
  await quantizeAlignedBackbone(ctx);
}
