/**
 * Enrollment: golden samples -> (optional) spatial transformer putting them
 * into one canonical pose -> patch features -> (optional) feature
 * adaptation on synthetic negatives -> the scorer's model (PatchCore's
 * memory bank, PaDiM's Gaussians) -> reject threshold calibrated on good
 * parts the model has not seen and on synthetic negatives -> product
 * artifact. The stages are the product's one stage list (ENROLL_STAGES);
 * each runs in its own unit under stages/.
 */
import { ENROLL_STAGES, type EnrollResult } from '../product/enrollment-progress.ts';
import { sessionOptions } from '../models/session.ts';
import { newContext, type EnrollContext, type EnrollOptions, type StageRuns } from './stages/context.ts';
import { loadStage } from './stages/load.ts';
import { alignStage } from './stages/align.ts';
import { featuresStage } from './stages/features.ts';
import { negativesStage } from './stages/negatives.ts';
import { adaptStage } from './stages/adapt.ts';
import { coresetStage } from './stages/coreset.ts';
import { calibrateStage } from './stages/calibrate.ts';
import { writeStage } from './stages/write.ts';

export type { EnrollOptions } from './stages/context.ts';
export { CONTACT_SHEET_FILE } from './stages/write.ts';

/** What each stage of the list runs. */
const STAGE_RUNS: StageRuns = {
  load: loadStage,
  align: alignStage,
  features: featuresStage,
  negatives: negativesStage,
  adapt: adaptStage,
  coreset: coresetStage,
  calibrate: calibrateStage,
  write: writeStage,
};

export async function enrollProduct(opts: EnrollOptions): Promise<EnrollResult> {
  const ctx = await runEnrollment(opts);
  if (!ctx.result) throw new Error('enrollment ended without writing the product');
  return ctx.result;
}

/** Every stage of an enrollment; the run's context, with what each stage left (e.g. the calibration scores). */
export async function runEnrollment(opts: EnrollOptions): Promise<EnrollContext> {
  const ctx = newContext(opts, sessionOptions(opts.inference));
  for (const stage of ENROLL_STAGES) {
    if (!stage.runs(opts.settings)) continue;
    await STAGE_RUNS[stage.id](ctx, (done, total) => opts.onProgress?.({ stage: stage.id, done, total }));
  }
  return ctx;
}
