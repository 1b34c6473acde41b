/**
 * Enrollment: golden samples -> patch features -> greedy coreset memory bank
 * -> thresholds calibrated on held-out golden samples -> product artifact.
 */
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { EnrollSettings, InferenceSettings } from '../config/schema.ts';
import type { ManifestDraft } from '../models/product-artifact.ts';
import { writeProductArtifact } from '../models/product-artifact.ts';
import { coresetGreedy, gatherRows } from '../models/components/coreset.ts';
import { seededRandom } from '../models/components/random.ts';
import { principalAxes, reduceRows, subsampleRows } from '../models/components/pca.ts';
import type { FeatureReduction } from '../models/patchcore/graphs.ts';
import { loadBackbone } from '../models/backbones/registry.ts';
import { FeatureExtractor, PatchCoreScorer } from '../models/patchcore/model.ts';
import { sessionOptions } from '../models/session.ts';
import { fitPixelPrior, samplePixels } from '../models/refine/pixel-prior.ts';
import type { RefineModel } from '../models/refine/f2pad-model.ts';
import { calibrateThresholds, splitHoldout } from './calibrate.ts';
import { loadGoldenSamples, EnrollError } from './golden-samples.ts';

export type EnrollStage = 'load' | 'features' | 'coreset' | 'calibrate' | 'write';

export interface EnrollProgress {
  stage: EnrollStage;
  done: number;
  total: number;
}

export interface EnrollOptions {
  productId: string;
  imagesDir: string;
  dataDir: string;
  settings: EnrollSettings;
  inference: InferenceSettings;
  activate?: boolean;
  onProgress?: (p: EnrollProgress) => void;
}

export interface EnrollResult {
  version: string;
  dir: string;
  manifest: ManifestDraft;
}

const trainerVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

export async function enrollProduct(opts: EnrollOptions): Promise<EnrollResult> {
  const { settings, onProgress } = opts;
  const timings: Record<string, number> = {};
  const clock = () => performance.now();
  let t = clock();
  const size = { width: settings.inputSize, height: settings.inputSize };

  const golden = await loadGoldenSamples(opts.imagesDir, size, settings.minGoldenSamples, (done, total) => onProgress?.({ stage: 'load', done, total }));
  timings.loadMs = clock() - t;

  const backbone = await loadBackbone(settings.backbone, { dataDir: opts.dataDir });
  const layerNames = settings.layers ?? backbone.defaultLayers;
  const session = sessionOptions(opts.inference);
  const extractor = await FeatureExtractor.create(backbone, layerNames, size, settings.aggregation, session);
  const { heldOut, bank: bankIdx } = splitHoldout(golden.images.length, settings.holdoutFraction, seededRandom(settings.seed));

  t = clock();
  const { channels } = extractor.shape;
  const positions = extractor.positions;
  const all = new Float32Array(bankIdx.length * positions * channels);
  for (const [i, idx] of bankIdx.entries()) {
    const { rows } = await extractor.extract(golden.images[idx]!);
    all.set(rows, i * positions * channels);
    onProgress?.({ stage: 'features', done: i + 1, total: bankIdx.length });
  }
  timings.featuresMs = clock() - t;

  t = clock();
  const totalPatches = bankIdx.length * positions;
  // PCA reduction of the patch features (PatchCore reduces its embedding too):
  // the search cost is linear in the dimension and most variance sits in few axes.
  let reduction: FeatureReduction | undefined;
  let reductionInfo: ManifestDraft['reduction'] = null;
  let rows: Float32Array = all;
  let dim = channels;
  if (settings.featureDim > 0 && settings.featureDim < channels) {
    const sample = subsampleRows(all, totalPatches, channels, 20000, seededRandom(settings.seed + 1));
    const pca = principalAxes(sample, sample.length / channels, channels, settings.featureDim);
    reduction = { mean: pca.mean, axes: pca.axes };
    rows = reduceRows(all, totalPatches, channels, reduction);
    dim = settings.featureDim;
    reductionInfo = { from: channels, to: dim, explainedVariance: pca.explainedVariance };
  }
  timings.reductionMs = clock() - t;

  t = clock();
  const coresetSize = Math.max(1, Math.round(totalPatches * settings.coresetRatio));
  const picked = coresetGreedy(rows, totalPatches, dim, coresetSize, {
    projectionDim: settings.projectionDim,
    seed: settings.seed,
    onProgress: (done, total) => onProgress?.({ stage: 'coreset', done, total }),
  });
  const bank = gatherRows(rows, dim, picked);
  timings.coresetMs = clock() - t;

  t = clock();
  const scorer = await PatchCoreScorer.create(extractor, bank, { sigma: settings.sigma, reduction, ...session });
  const imageScores: number[] = [];
  const pixelMaxima: number[] = [];
  for (const [i, idx] of heldOut.entries()) {
    const result = await scorer.score(golden.images[idx]!);
    imageScores.push(result.score);
    let m = -Infinity;
    for (const v of result.map) if (v > m) m = v;
    pixelMaxima.push(m);
    onProgress?.({ stage: 'calibrate', done: i + 1, total: heldOut.length });
  }
  if (imageScores.length === 0) throw new EnrollError('no golden sample could be held out for threshold calibration');
  const calibration = calibrateThresholds(imageScores, pixelMaxima, settings.thresholdMargin);
  timings.calibrateMs = clock() - t;

  // F2PAD's pixel prior (colours of the bank's golden samples) and the golden
  // references it in-paints defects from, spread over the bank's samples.
  t = clock();
  let refine: RefineModel | undefined;
  if (settings.refineReferences > 0) {
    const bankImages = bankIdx.map((i) => golden.images[i]!);
    const colours = samplePixels(bankImages, 20000, seededRandom(settings.seed + 2));
    const prior = fitPixelPrior(colours, settings.priorComponents, seededRandom(settings.seed + 3));
    const count = Math.min(settings.refineReferences, bankImages.length);
    // 8-bit, as they were decoded from 8-bit image files.
    const references = Array.from({ length: count }, (_, k) => Uint8Array.from(bankImages[Math.floor((k * bankImages.length) / count)]!.data));
    refine = { prior, references };
  }
  timings.refineModelMs = clock() - t;

  const heldSet = new Set(heldOut);
  const draft: ManifestDraft = {
    productId: opts.productId,
    createdAt: new Date().toISOString(),
    trainerVersion,
    backbone: { id: backbone.id, sha256: backbone.sha256 },
    inputSize: size,
    layers: extractor.layers,
    aggregation: settings.aggregation,
    featureDim: dim,
    reduction: reductionInfo,
    grid: { width: extractor.shape.width, height: extractor.shape.height },
    sigma: settings.sigma,
    coreset: { ratio: settings.coresetRatio, size: coresetSize, totalPatches, projectionDim: settings.projectionDim, seed: settings.seed },
    thresholds: { image: calibration.image, pixel: calibration.pixel },
    calibration: { heldOut: heldOut.length, margin: settings.thresholdMargin, imageScores: calibration.imageScores, pixelMax: calibration.pixelMax },
    ...(refine ? { refine: { priorComponents: settings.priorComponents, references: refine.references.length } } : {}),
    goldenSamples: {
      count: golden.images.length,
      files: golden.images.map((img, i) => ({ name: img.name, sha256: img.sha256, role: heldSet.has(i) ? 'heldOut' : 'bank' })),
      skipped: golden.skipped,
    },
    timings,
  };
  onProgress?.({ stage: 'write', done: 0, total: 1 });
  const written = await writeProductArtifact(opts.dataDir, draft, bank, { activate: opts.activate, reduction, refine });
  onProgress?.({ stage: 'write', done: 1, total: 1 });
  return { ...written, manifest: draft };
}
