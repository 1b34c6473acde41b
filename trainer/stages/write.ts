/**
 * Enrollment's last stage: F2PAD's mask-refinement model, the
 * synthetic-negatives contact sheet, the manifest, and the product artifact
 * written (and activated unless told not to), then versions beyond
 * `enroll.keepVersions` pruned.
 */
import { performance } from 'node:perf_hooks';
import { writeProductArtifact } from '../../product/artifact.ts';
import { pruneProductVersions } from '../../product/versions.ts';
import { seededRandom } from '../../models/components/random.ts';
import { fitPixelPrior, samplePixels } from '../../models/refine/pixel-prior.ts';
import type { RefineModel } from '../../models/refine/f2pad-model.ts';
import { syntheticContactSheet } from '../contact-sheet.ts';
import type { GoldenSet } from '../golden-samples.ts';
import { manifestDraft } from './manifest.ts';
import { need, since, type EnrollContext, type StageProgress } from './context.ts';

/** File name of the synthetic-negatives contact sheet next to the manifest. */
export const CONTACT_SHEET_FILE = 'synthetic-negatives.png';

/**
 * F2PAD's pixel prior (colours of the bank's golden samples) and the golden
 * references it in-paints defects from, spread over the bank's samples.
 */
function refineModel(bankImages: GoldenSet['images'], settings: { refineReferences: number; priorComponents: number; seed: number }): RefineModel {
  const colours = samplePixels(bankImages, 20000, seededRandom(settings.seed + 2));
  const prior = fitPixelPrior(colours, settings.priorComponents, seededRandom(settings.seed + 3));
  const count = Math.min(settings.refineReferences, bankImages.length);
  // 8-bit, as they were decoded from 8-bit image files.
  const references = Array.from({ length: count }, (_, k) => Uint8Array.from(bankImages[Math.floor((k * bankImages.length) / count)]!.data));
  return { prior, references };
}

export async function writeStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings, attachments, opts } = ctx;
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const { bank: bankSamples } = need(ctx.split, 'the hold-out split', 'load');
  const model = need(ctx.model, 'the fitted model', 'coreset');
  const { sheet } = need(ctx.calibration, 'the calibration scores', 'calibrate');
  const start = performance.now();
  const refine = settings.refineReferences > 0 ? refineModel(bankSamples.map((i) => golden.images[i]!), settings) : undefined;
  ctx.timings.refineModelMs = since(start);
  if (settings.contactSheet && sheet.length > 0) attachments[CONTACT_SHEET_FILE] = await syntheticContactSheet(sheet);

  const draft = manifestDraft(ctx, refine);
  progress(0, 1);
  const written = await writeProductArtifact(opts.dataDir, draft, model.bank.rows, { activate: opts.activate, reduction: model.reduction, refine, stn: ctx.stn, padim: model.padim, attachments });
  // Retention (enroll.keepVersions): the new version, the active one and the rollback target always stay.
  await pruneProductVersions(opts.dataDir, draft.productId, settings.keepVersions);
  progress(1, 1);
  ctx.result = { ...written, manifest: draft };
}
