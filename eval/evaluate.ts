/**
 * Accuracy evaluation on MVTec-layout data: each category is enrolled from its
 * `train/good` images exactly as a technician would enroll a product, then
 * every test image is scored and compared with its ground truth.
 *
 * Metrics (per category, then the mean over categories):
 * - imageAUROC: image scores vs good/defective labels;
 * - pixelAUROC: anomaly-map values vs ground-truth pixels over all test images;
 * - aupro: area under the per-region-overlap curve up to FPR 0.3, normalised;
 * - f1max: best image-level F1 over all score thresholds;
 * - iou, dice: binary masks at the pixel threshold that maximises pixel F1
 *   (the protocol of papers/f2pad.txt), mean over defective test images,
 *   after the chosen mask refinement (`refine`: none, filter, threshold,
 *   f2pad — F2PAD starts from the same F1-optimal threshold mask as none), or
 *   at the product's own calibrated pixel threshold with the small-region
 *   filter (`calibrated`: what a device does without a per-image threshold),
 *   or F2PAD from that calibrated mask (`f2pad-calibrated`: what a device
 *   with `refine.mode: f2pad` does);
 * - fpPixelRate: predicted defect pixels outside the ground truth, as a share
 *   of all normal pixels of all test images;
 * - msPerRefine, iterations: medians over flagged images (image score over
 *   the product's threshold) of the refinement time and of the thresholds
 *   tried or F2PAD iterations run;
 * - msPerImage: median scoring time of one image (features, nearest neighbour, map);
 * - threshold, frr, recall: the product's calibrated image (reject) threshold,
 *   the share of good test images it rejects and the share of defective test
 *   images it rejects; targetFrr, frrRatio, frrWithin2x: the false-reject
 *   rate calibration aimed at, frr over it, and 1 when that ratio is at most
 *   2 (the mean: the share of categories that keep the promise);
 *   calibrationScores: the good scores the threshold was fitted to from the
 *   held-out samples (held-out x (1 + camera-jitter views));
 *   expectedFrr, expectedMiss: what enrollment predicted
 *   (false-reject rate on good parts, share of synthetic negatives missed);
 *   `calibrations` in the report gives the same for every calibration method
 *   side by side, from the same enrollment;
 * - adaptSeconds: feature-adaptation training time (0 without adaptation);
 * - align, stnSeconds, stnSsim, stnMsSsim, msPerAlign: pose alignment (stn or
 *   none), the spatial transformer's training time, its restoration quality on
 *   held-out golden samples, and the time it adds per image. With alignment,
 *   pixel metrics are taken in the aligned frame (ground truth carried into it);
 * - scorer: how patches are scored (patchcore or padim);
 * - byType: per defect type (folder name under test/), image AUROC of its
 *   images against all good test images, recall at the calibrated threshold
 *   and the image count (the mean: over the categories that have the type).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CalibrationMethod, EnrollSettings, InferenceSettings } from '../config/enroll.ts';
import { refineSettingsSchema, type RefineMode, type RefineSettings } from '../config/refine.ts';
import { minAreaAtInput } from '../models/refine/per-image-threshold.ts';
import { refineMask } from '../product/refine-mask.ts';

/** Mask stages an evaluation can measure. */
export const EVAL_STAGES = ['none', 'filter', 'calibrated', 'threshold', 'f2pad', 'f2pad-calibrated'] as const;
export type EvalStage = (typeof EVAL_STAGES)[number];
import { readImage, readMask } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import type { EnrollProgress } from '../product/enrollment-progress.ts';
import { readCategory } from './dataset.ts';
import { checkBackbone, checkDataset, DEFAULT_BACKBONE_DIR, linkBackbone } from './preflight.ts';
import type { ThresholdChoice } from '../trainer/calibrate.ts';
import { aupro, auroc, byDefectType, f1Max, maskScores, meanByDefectType, type DefectTypeMetrics } from './metrics.ts';
import { warpImage, type Similarity } from '../models/stn/pose.ts';
import { concatenate } from '../models/components/concatenate.ts';
import { median } from '../models/components/median.ts';

/** The refinement an eval stage runs and the pixel threshold its mask starts from: the product's calibrated one, or the F1-optimal one over the test set. */
export function stageMask(stage: EvalStage, calibrated: number, f1Optimal: number): [RefineMode, number] {
  if (stage === 'calibrated') return ['filter', calibrated];
  if (stage === 'f2pad-calibrated') return ['f2pad', calibrated];
  return [stage, f1Optimal];
}

export interface CategoryMetrics {
  imageAUROC: number;
  pixelAUROC: number;
  aupro: number;
  f1max: number;
  pixelF1max: number;
  iou: number;
  dice: number;
  msPerImage: number;
  refine: EvalStage;
  fpPixelRate: number;
  msPerRefine: number;
  iterations: number;
  enrollSeconds: number;
  adapt: string;
  adaptSeconds: number;
  /** Pose alignment before scoring: stn or none. */
  align: string;
  /** Spatial-transformer training time and its restoration quality on held-out golden samples (NaN without alignment). */
  stnSeconds: number;
  stnSsim: number;
  stnMsSsim: number;
  /** Median time the alignment adds per image. */
  msPerAlign: number;
  /** How patches are scored: patchcore (memory bank) or padim (Gaussian per position). */
  scorer: string;
  calibrate: string;
  threshold: number;
  frr: number;
  recall: number;
  expectedFrr: number;
  expectedMiss: number;
  /** The false-reject rate calibration aimed at (the product's `targetFrr`), frr / targetFrr, and 1 when that is at most 2. */
  targetFrr: number;
  frrRatio: number;
  frrWithin2x: number;
  /** Camera-jittered views per held-out sample at calibration, and the held-out good scores the threshold was fitted to. */
  calibrationViews: number;
  calibrationScores: number;
  testImages: number;
  goldenSamples: number;
  bankSize: number;
  /** Per defect type (folder under test/): image AUROC against all good test images, recall at `threshold`, image count. */
  byType: Record<string, DefectTypeMetrics>;
}

/** Reject decisions at one calibration method's threshold. */
export interface CalibrationMetrics {
  threshold: number;
  frr: number;
  recall: number;
  expectedFrr: number;
  expectedMiss: number;
}

/** Mask metrics of one refinement mode. */
export type StageMetrics = Pick<CategoryMetrics, 'refine' | 'iou' | 'dice' | 'fpPixelRate' | 'msPerRefine' | 'iterations'>;

export interface EvalReport {
  categories: Record<string, CategoryMetrics>;
  mean: CategoryMetrics;
  settings: Record<string, unknown>;
  /** Every refinement mode asked for, side by side (the first is the one in `categories`). */
  stages: Partial<Record<EvalStage, { categories: Record<string, StageMetrics>; mean: StageMetrics }>>;
  /** Every calibration method's threshold with its measured rates, side by side. */
  calibrations: Partial<Record<CalibrationMethod, { categories: Record<string, CalibrationMetrics>; mean: CalibrationMetrics }>>;
}

export interface EvalOptions {
  settings: EnrollSettings;
  inference: InferenceSettings;
  /** Mask refinement modes to measure; the first one fills the main metrics (default: none). */
  refine?: EvalStage[];
  refineSettings?: RefineSettings;
  /** Where the evaluation's products are written (default: a temporary folder, removed afterwards). */
  dataDir?: string;
  /** Where installed backbone weights are found when `dataDir` is not given (default: .linesight). */
  backboneDir?: string;
  onCategory?: (name: string, metrics: CategoryMetrics) => void;
  onProgress?: (category: string, stage: EnrollProgress['stage'] | 'test', done: number, total: number) => void;
}

/** Limit on measured over target false-reject rate within which calibration keeps its promise. */
export const FRR_PROMISE_FACTOR = 2;

/** Measured false-reject rate against the calibration's target: their ratio, and 1 when it is within FRR_PROMISE_FACTOR (NaN without a target). */
export function frrPromise(frr: number, targetFrr: number): { frrRatio: number; frrWithin2x: number } {
  if (!(targetFrr > 0) || !Number.isFinite(frr)) return { frrRatio: NaN, frrWithin2x: NaN };
  const frrRatio = frr / targetFrr;
  return { frrRatio, frrWithin2x: frrRatio <= FRR_PROMISE_FACTOR ? 1 : 0 };
}

/** Share of good images rejected and of defective images rejected at a threshold (score >= threshold rejects). */
export function rejectRates(scores: number[], labels: number[], threshold: number): { frr: number; recall: number } {
  let good = 0;
  let rejectedGood = 0;
  let bad = 0;
  let rejectedBad = 0;
  scores.forEach((s, i) => {
    if (labels[i] === 1) {
      bad++;
      if (s >= threshold) rejectedBad++;
    } else {
      good++;
      if (s >= threshold) rejectedGood++;
    }
  });
  return { frr: good ? rejectedGood / good : NaN, recall: bad ? rejectedBad / bad : NaN };
}

export async function evaluateCategory(
  root: string,
  category: string,
  dataDir: string,
  opts: EvalOptions,
): Promise<{ metrics: CategoryMetrics; stages: StageMetrics[]; calibrations: Partial<Record<CalibrationMethod, CalibrationMetrics>> }> {
  const data = await readCategory(root, category);
  const modes = opts.refine && opts.refine.length > 0 ? opts.refine : (['none'] as EvalStage[]);
  const refineSettings = opts.refineSettings ?? refineSettingsSchema.parse({});
  const productId = category.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+/, '') || 'category';
  const t0 = performance.now();
  const enrolled = await enrollProduct({
    productId,
    imagesDir: join(root, category, 'train', 'good'),
    dataDir,
    settings: opts.settings,
    inference: opts.inference,
    onProgress: (p) => opts.onProgress?.(category, p.stage, p.done, p.total),
  });
  const enrollSeconds = (performance.now() - t0) / 1000;
  const scorer = await ProductScorer.load(dataDir, productId, opts.inference, enrolled.version);
  const size = scorer.inputSize;

  const imageScores: number[] = [];
  const labels: number[] = [];
  const types: string[] = [];
  const maps: Float32Array[] = [];
  const masks: Uint8Array[] = [];
  const images: { data: Float32Array; width: number; height: number; minArea: number }[] = [];
  const times: number[] = [];
  const alignTimes: number[] = [];
  for (const [i, item] of data.test.entries()) {
    const image = await readImage(item.path, size);
    const t = performance.now();
    const result = await scorer.score(image);
    times.push(performance.now() - t);
    alignTimes.push(result.alignMs);
    imageScores.push(result.score);
    labels.push(item.label);
    types.push(item.defectType);
    maps.push(result.map);
    // Pixel metrics are taken in the frame the map belongs to: the aligned one when the product aligns.
    images.push({ data: result.image, width: size.width, height: size.height, minArea: minAreaAtInput(refineSettings.minRegionArea, { width: image.originalWidth, height: image.originalHeight }, size) });
    const truth = item.maskPath ? await readMask(item.maskPath, size) : new Uint8Array(size.width * size.height);
    masks.push(result.pose ? warpMask(truth, size.width, size.height, result.pose) : truth);
    opts.onProgress?.(category, 'test', i + 1, data.test.length);
  }

  const allPixels = concatenate(maps, Float32Array);
  const allTruth = concatenate(masks, Uint8Array);
  const pixelBest = f1Max(allPixels, allTruth);
  const stages: StageMetrics[] = [];
  for (const mode of modes) {
    let iou = 0;
    let dice = 0;
    let defective = 0;
    let falsePositives = 0;
    let normalPixels = 0;
    // Time and iterations are those of flagged images (score over the product's
    // image threshold): the frames a device refines.
    const refineTimes: number[] = [];
    const iterationCounts: number[] = [];
    for (const [i, map] of maps.entries()) {
      const image = images[i]!;
      const [refineMode, threshold] = stageMask(mode, scorer.manifest.thresholds.pixel, pixelBest.threshold);
      const refined = await refineMask(refineMode, { image, map, threshold, minRegionArea: image.minArea }, refineSettings, scorer);
      if (refined.mode !== refineMode) throw new Error(`${category}: refinement ${refineMode} could not run (${refined.fallback})`);
      if (imageScores[i]! >= scorer.manifest.thresholds.image) {
        refineTimes.push(refined.ms);
        iterationCounts.push(refined.iterations);
      }
      const s = maskScores(refined.mask, masks[i]!);
      falsePositives += s.fp;
      normalPixels += masks[i]!.length - masks[i]!.reduce((a, v) => a + (v ? 1 : 0), 0);
      if (labels[i] !== 1) continue;
      iou += s.iou;
      dice += s.dice;
      defective++;
    }
    stages.push({
      refine: mode,
      iou: defective ? iou / defective : NaN,
      dice: defective ? dice / defective : NaN,
      fpPixelRate: normalPixels ? falsePositives / normalPixels : 0,
      msPerRefine: median(refineTimes),
      iterations: median(iterationCounts),
    });
  }
  await scorer.release();
  const { manifest } = scorer;
  const atThreshold = (threshold: number, expected?: { expectedFrr: number; expectedMiss: number | null }): CalibrationMetrics => ({
    threshold,
    ...rejectRates(imageScores, labels, threshold),
    expectedFrr: expected?.expectedFrr ?? NaN,
    expectedMiss: expected?.expectedMiss ?? NaN,
  });
  const calibrations: Partial<Record<CalibrationMethod, CalibrationMetrics>> = {};
  for (const [method, c] of Object.entries(manifest.calibration.choices ?? {}) as [CalibrationMethod, ThresholdChoice][]) calibrations[method] = atThreshold(c.threshold, c);
  const method = manifest.calibration.method ?? 'maxnormal';
  // Products enrolled before calibration methods have no choices: their threshold, nothing expected.
  const calibrated = calibrations[method] ?? atThreshold(manifest.thresholds.image);
  const metrics: CategoryMetrics = {
    imageAUROC: auroc(imageScores, labels),
    pixelAUROC: auroc(allPixels, allTruth),
    aupro: aupro(maps, masks, size.width, size.height, 0.3),
    f1max: f1Max(imageScores, labels).f1,
    pixelF1max: pixelBest.f1,
    ...stages[0]!,
    msPerImage: median(times),
    enrollSeconds,
    adapt: manifest.adaptation?.method ?? 'none',
    adaptSeconds: manifest.adaptation?.trainSeconds ?? 0,
    align: manifest.alignment ? 'stn' : 'none',
    stnSeconds: manifest.alignment?.trainSeconds ?? NaN,
    stnSsim: manifest.alignment?.ssim.validation ?? NaN,
    stnMsSsim: manifest.alignment?.msSsim.validation ?? NaN,
    msPerAlign: median(alignTimes),
    scorer: manifest.scorer ?? 'patchcore',
    calibrate: method,
    ...calibrated,
    targetFrr: manifest.calibration.targetFrr ?? NaN,
    ...frrPromise(calibrated.frr, manifest.calibration.targetFrr ?? NaN),
    calibrationViews: manifest.calibration.jitter?.views ?? 0,
    calibrationScores: manifest.calibration.jitter?.scores ?? manifest.calibration.heldOut,
    testImages: data.test.length,
    goldenSamples: enrolled.manifest.goldenSamples.count,
    bankSize: enrolled.manifest.coreset.size,
    byType: byDefectType(imageScores, types, calibrated.threshold),
  };
  return { metrics, stages, calibrations };
}

/** A ground-truth mask carried into the aligned frame (bilinear, cut at one half). */
function warpMask(mask: Uint8Array, width: number, height: number, pose: Similarity): Uint8Array {
  const warped = warpImage(Float32Array.from(mask), width, height, 1, pose);
  return Uint8Array.from(warped, (v) => (v >= 0.5 ? 1 : 0));
}

/** Means of the numeric metrics; other fields (e.g. `refine`) are taken from the first. */
export function meanMetrics<M extends object>(all: M[]): M {
  const first = all[0] ?? ({} as M);
  const mean = { ...first } as Record<string, unknown>;
  for (const [k, v] of Object.entries(first)) {
    if (typeof v === 'number') mean[k] = all.reduce((s, m) => s + ((m as Record<string, number>)[k] ?? NaN), 0) / all.length;
  }
  return mean as M;
}

export async function evaluateDataset(root: string, categories: string[] | undefined, opts: EvalOptions): Promise<EvalReport> {
  // Everything that can be checked without reading an image is checked first: a wrong dataset or a missing backbone ends it here.
  const names = (await checkDataset(root, categories, opts.settings.minGoldenSamples)).map((c) => c.name);
  const weightsDir = opts.dataDir ?? opts.backboneDir ?? DEFAULT_BACKBONE_DIR;
  await checkBackbone(opts.settings, weightsDir);
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'linesight-eval-')));
  try {
    await linkBackbone(opts.settings, dataDir, weightsDir);
    const results: Record<string, CategoryMetrics> = {};
    const byStage = new Map<EvalStage, Record<string, StageMetrics>>();
    const byMethod = new Map<CalibrationMethod, Record<string, CalibrationMetrics>>();
    for (const name of names) {
      const { metrics, stages, calibrations } = await evaluateCategory(root, name, dataDir, opts);
      results[name] = metrics;
      for (const stage of stages) byStage.set(stage.refine, { ...byStage.get(stage.refine), [name]: stage });
      for (const [method, c] of Object.entries(calibrations) as [CalibrationMethod, CalibrationMetrics][]) byMethod.set(method, { ...byMethod.get(method), [name]: c });
      opts.onCategory?.(name, metrics);
    }
    const stages: EvalReport['stages'] = {};
    for (const [mode, cats] of byStage) stages[mode] = { categories: cats, mean: meanMetrics(Object.values(cats)) };
    const calibrations: EvalReport['calibrations'] = {};
    for (const [method, cats] of byMethod) calibrations[method] = { categories: cats, mean: meanMetrics(Object.values(cats)) };
    return {
      categories: results,
      mean: { ...meanMetrics(Object.values(results)), byType: meanByDefectType(Object.values(results).map((m) => m.byType)) },
      settings: { ...opts.settings, refine: opts.refine ?? ['none'], refineSettings: opts.refineSettings ?? refineSettingsSchema.parse({}) },
      stages,
      calibrations,
    };
  } finally {
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
