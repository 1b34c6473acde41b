/**
 * Enrollment: golden samples -> (optional) spatial transformer putting them
 * into one canonical pose -> patch features -> (optional) feature
 * adaptation on synthetic negatives -> greedy coreset memory bank -> reject
 * threshold calibrated on good parts the bank has not seen and on synthetic
 * negatives -> product artifact (plus a contact sheet of the negatives).
 */
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import type { EnrollSettings, InferenceSettings } from '../config/schema.ts';
import type { ManifestDraft } from '../product/artifact.ts';
import { writeProductArtifact } from '../product/artifact.ts';
import { coresetGreedy, gatherRows } from '../models/components/coreset.ts';
import { seededRandom } from '../models/components/random.ts';
import { valueRange } from '../models/components/value-range.ts';
import { principalAxes, reduceRows, subsampleRows } from '../models/components/pca.ts';
import type { FeatureReduction } from '../models/features/reduction.ts';
import { loadBackbone } from '../models/backbones/registry.ts';
import { sessionOptions } from '../models/session.ts';
import { fitPixelPrior, samplePixels } from '../models/refine/pixel-prior.ts';
import type { RefineModel } from '../models/refine/f2pad-model.ts';
import { FeatureExtractor } from '../models/features/extractor.ts';
import { NearestNeighbourSearch } from '../models/patchcore/model.ts';
import { createPatchScorer } from '../product/scorer.ts';
import { adaptRows, foldAdaptor, type FeatureAdaptor } from '../models/adapt/feature-adaptor.ts';
import { syntheticClass } from '../models/augment/synthetic-defects.ts';
import { SaliencyExtractor } from '../models/saliency/layer-cam.ts';
import { pixelThreshold, splitHoldout, summarise, thresholdChoices } from './calibrate.ts';
import { loadGoldenSamples, EnrollError } from './golden-samples.ts';
import { poolRows, trainFeatureAdaptor, type AdaptSample } from '../models/adapt/train.ts';
import { makeNegatives, type NegativeMethod } from './synthetic-negatives.ts';
import { syntheticContactSheet, type ContactSheetRow } from './contact-sheet.ts';
import { alignGoldenSamples, ALIGNMENT_SHEET_FILE } from './align-golden.ts';
import type { LocalisationWeights } from '../models/stn/localisation-net.ts';
import { fitPositionGaussians, type PositionGaussians } from '../models/padim/gaussian.ts';
import type { EnrollProgress, EnrollResult } from '../product/enrollment-progress.ts';

/** File name of the synthetic-negatives contact sheet next to the manifest. */
export const CONTACT_SHEET_FILE = 'synthetic-negatives.png';
/** Golden samples shown on the contact sheet. */
const CONTACT_SHEET_ROWS = 4;


export interface EnrollOptions {
  productId: string;
  imagesDir: string;
  dataDir: string;
  settings: EnrollSettings;
  inference: InferenceSettings;
  activate?: boolean;
  onProgress?: (p: EnrollProgress) => void;
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
  if (heldOut.length === 0) throw new EnrollError('no golden sample could be held out for threshold calibration');
  if (settings.adapt === 'cutswap' && !backbone.ir) {
    throw new EnrollError(`adaptation with CutSwap needs saliency maps, which backbone ${backbone.id} cannot give (an onnx: file); use adapt: cutpaste or none`);
  }
  // CutSwap needs the backbone's saliency maps; other backbones calibrate on CutPaste negatives.
  const saliency = backbone.ir && (settings.adapt === 'cutswap' || settings.calibrationNegatives > 0) ? await SaliencyExtractor.create(backbone.ir, size, session) : undefined;
  const calibrationMethod: NegativeMethod = saliency ? 'cutswap' : 'cutpaste';
  const attachments: Record<string, Uint8Array> = {};

  // Pose alignment: from here on every golden sample is in the product's canonical pose.
  let alignment: ManifestDraft['alignment'] = null;
  const notes: string[] = [];
  let stn: LocalisationWeights | undefined;
  /** Posed-and-realigned views of the bank samples, for PaDiM's Gaussians. */
  let posedViews: Float32Array[] = [];
  if (settings.align === 'stn') {
    const aligned = await alignGoldenSamples({
      images: golden.images,
      size,
      bank: bankIdx,
      heldOut,
      settings: settings.stn,
      // The memory bank is position-free and measured no gain from them.
      posedViews: settings.scorer === 'padim' ? settings.stn.posedViews : 0,
      seed: settings.seed,
      session,
      extractor,
      onStep: (done, total) => onProgress?.({ stage: 'align', done, total }),
    });
    if ('skipped' in aligned) {
      notes.push(aligned.skipped);
    } else {
      golden.images.forEach((image, i) => (image.data = aligned.aligned[i]!));
      posedViews = aligned.views;
      alignment = aligned.manifest;
      stn = aligned.weights;
      Object.assign(timings, aligned.timings);
      if (settings.contactSheet) attachments[ALIGNMENT_SHEET_FILE] = aligned.contactSheet;
    }
  }

  t = clock();
  const { channels } = extractor.shape;
  const positions = extractor.positions;
  // The bank samples, then the posed views (PaDiM's Gaussians only).
  const featureImages = [...bankIdx.map((i) => golden.images[i]!.data), ...posedViews];
  const raw = new Float32Array(featureImages.length * positions * channels);
  for (const [i, data] of featureImages.entries()) {
    const { rows } = await extractor.extract({ data });
    raw.set(rows, i * positions * channels);
    onProgress?.({ stage: 'features', done: i + 1, total: featureImages.length });
  }
  timings.featuresMs = clock() - t;
  /** Patches of the bank samples, the rows the memory bank is picked from. */
  const totalPatches = bankIdx.length * positions;
  /** Raw patch features of the i-th bank sample. */
  const imageRows = (i: number) => raw.subarray(i * positions * channels, (i + 1) * positions * channels);

  // Feature adaptation (papers/cutswap.txt §III-B): the adaptor is linear and
  // folds into the reduction below, so the bank is built on adapted features.
  let adaptor: FeatureAdaptor | undefined;
  let adaptation: ManifestDraft['adaptation'] = null;
  if (settings.adapt !== 'none') {
    const a = settings.adaptation;
    t = clock();
    const grid = { width: extractor.shape.width, height: extractor.shape.height };
    const samples: AdaptSample[] = [];
    const random = seededRandom(settings.seed + 4);
    for (const [i, idx] of bankIdx.entries()) {
      samples.push({ rows: poolRows(imageRows(i), grid, channels, 2), label: 0 });
      const { negatives } = await makeNegatives(golden.images[idx]!, a.negativesPerImage, settings.adapt, random, saliency);
      for (const n of negatives) samples.push({ rows: poolRows((await extractor.extract(n.image)).rows, grid, channels, 2), label: syntheticClass(n.kind) });
      onProgress?.({ stage: 'negatives', done: i + 1, total: bankIdx.length });
    }
    timings.negativesMs = clock() - t;
    t = clock();
    const trained = await trainFeatureAdaptor(samples, channels, {
      ...a,
      seed: settings.seed,
      onEpoch: (done, total) => onProgress?.({ stage: 'adapt', done, total }),
    });
    timings.adaptMs = clock() - t;
    adaptor = trained.adaptor;
    adaptation = {
      method: settings.adapt,
      samples: samples.length,
      epochs: a.epochs,
      backend: trained.backend,
      trainSeconds: trained.trainMs / 1000,
      finalLoss: trained.losses.at(-1)!,
      accuracy: trained.accuracy,
      change: trained.change,
    };
  }
  const allPatches = featureImages.length * positions;
  const features = adaptor ? adaptRows(raw, allPatches, adaptor) : raw;

  t = clock();
  // PCA reduction of the patch features (PatchCore reduces its embedding too):
  // the search cost is linear in the dimension and most variance sits in few axes.
  let pca: FeatureReduction | undefined;
  let reductionInfo: ManifestDraft['reduction'] = null;
  let rows: Float32Array = features;
  let dim = channels;
  if (settings.featureDim > 0 && settings.featureDim < channels) {
    const sample = subsampleRows(features, allPatches, channels, 20000, seededRandom(settings.seed + 1));
    const axes = principalAxes(sample, sample.length / channels, channels, settings.featureDim);
    pca = { mean: axes.mean, axes: axes.axes };
    rows = reduceRows(features, allPatches, channels, pca);
    dim = settings.featureDim;
    reductionInfo = { from: channels, to: dim, explainedVariance: axes.explainedVariance };
  }
  let reduction = pca;
  if (adaptor) {
    try {
      reduction = foldAdaptor(adaptor, pca);
    } catch {
      throw new EnrollError('feature adaptation diverged (its map cannot be folded into the scoring graph); enroll again with adapt: none or a larger adaptation.weightDecay');
    }
    reductionInfo ??= { from: channels, to: channels, explainedVariance: 1 };
  }
  timings.reductionMs = clock() - t;

  t = clock();
  const coresetSize = Math.max(1, Math.round(totalPatches * settings.coresetRatio));
  const picked = coresetGreedy(rows.subarray(0, totalPatches * dim), totalPatches, dim, coresetSize, {
    projectionDim: settings.projectionDim,
    seed: settings.seed,
    onProgress: (done, total) => onProgress?.({ stage: 'coreset', done, total }),
  });
  const bank = gatherRows(rows, dim, picked);
  timings.coresetMs = clock() - t;

  // PaDiM: a Gaussian per position over the bank samples' (reduced) features.
  let padim: PositionGaussians | undefined;
  if (settings.scorer === 'padim') {
    t = clock();
    if (dim > 256) throw new EnrollError(`PaDiM keeps a ${dim}x${dim} covariance per position; set featureDim to 256 or less`);
    padim = fitPositionGaussians(rows, featureImages.length, positions, dim, settings.padimEpsilon);
    timings.padimMs = clock() - t;
  }

  t = clock();
  // The bank's left-out scores apply to the memory bank only; PaDiM calibrates on held-out samples.
  const leftOutCount = padim ? 0 : bankIdx.length;
  const calibrateTotal = heldOut.length * (1 + settings.calibrationNegatives) + leftOutCount;
  let calibrated = 0;
  const step = () => onProgress?.({ stage: 'calibrate', done: ++calibrated, total: calibrateTotal });
  const scorer = await createPatchScorer(extractor, { bank, reduction, padim }, { sigma: settings.sigma, padimTolerance: settings.padimTolerance }, session);
  const heldOutScores: number[] = [];
  const pixelMaxima: number[] = [];
  const negativeScores: number[] = [];
  const sheet: ContactSheetRow[] = [];
  const random = seededRandom(settings.seed + 5);
  for (const idx of heldOut) {
    const image = golden.images[idx]!;
    const result = await scorer.score(image);
    heldOutScores.push(result.score);
    pixelMaxima.push(valueRange(result.map).max);
    step();
    if (settings.calibrationNegatives === 0) continue;
    const made = await makeNegatives(image, settings.calibrationNegatives, calibrationMethod, random, saliency);
    for (const n of made.negatives) {
      negativeScores.push((await scorer.score(n.image)).score);
      step();
    }
    if (sheet.length < CONTACT_SHEET_ROWS) sheet.push({ golden: image, saliency: made.saliency, negatives: made.negatives.slice(0, 4) });
  }
  // Bank samples scored without their own patches: more good scores from parts
  // the bank has (almost) not seen, for the tail of the good-score distribution.
  const leftOutScores: number[] = [];
  if (leftOutCount > 0) {
    const search = await NearestNeighbourSearch.create(bank, channels, reduction, { ...session, withPenalty: true });
    const penalty = new Float32Array(coresetSize);
    for (let i = 0; i < leftOutCount; i++) {
      for (let m = 0; m < coresetSize; m++) penalty[m] = Math.floor(picked[m]! / positions) === i ? 1e30 : 0;
      leftOutScores.push(valueRange(await search.distances(imageRows(i), penalty)).max);
      step();
    }
    await search.release();
  }
  await scorer.release();
  await saliency?.release();
  const choices = thresholdChoices({ heldOut: heldOutScores, leftOut: leftOutScores, negative: negativeScores }, { targetFrr: settings.targetFrr, margin: settings.thresholdMargin });
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

  if (settings.contactSheet && sheet.length > 0) attachments[CONTACT_SHEET_FILE] = await syntheticContactSheet(sheet);

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
    adaptation,
    alignment,
    ...(padim ? { scorer: 'padim' as const, padim: { epsilon: settings.padimEpsilon, dim, tolerance: settings.padimTolerance } } : {}),
    grid: { width: extractor.shape.width, height: extractor.shape.height },
    sigma: settings.sigma,
    coreset: { ratio: settings.coresetRatio, size: coresetSize, totalPatches, projectionDim: settings.projectionDim, seed: settings.seed },
    thresholds: { image: choices[settings.calibrate].threshold, pixel: pixelThreshold(pixelMaxima, settings.thresholdMargin) },
    calibration: {
      heldOut: heldOut.length,
      margin: settings.thresholdMargin,
      imageScores: summarise(heldOutScores),
      pixelMax: Math.max(...pixelMaxima),
      method: settings.calibrate,
      targetFrr: settings.targetFrr,
      leftOut: leftOutScores.length,
      ...(leftOutScores.length ? { leftOutScores: summarise(leftOutScores) } : {}),
      negatives: { method: calibrationMethod, count: negativeScores.length, ...(negativeScores.length ? { scores: summarise(negativeScores) } : {}) },
      choices,
    },
    ...(refine ? { refine: { priorComponents: settings.priorComponents, references: refine.references.length } } : {}),
    goldenSamples: {
      count: golden.images.length,
      files: golden.images.map((img, i) => ({ name: img.name, sha256: img.sha256, role: heldSet.has(i) ? 'heldOut' : 'bank' })),
      skipped: golden.skipped,
    },
    ...(Object.keys(attachments).length ? { attachments: Object.keys(attachments) } : {}),
    ...(notes.length ? { notes } : {}),
    timings,
  };
  onProgress?.({ stage: 'write', done: 0, total: 1 });
  const written = await writeProductArtifact(opts.dataDir, draft, bank, { activate: opts.activate, reduction, refine, stn, padim, attachments });
  onProgress?.({ stage: 'write', done: 1, total: 1 });
  return { ...written, manifest: draft };
}
