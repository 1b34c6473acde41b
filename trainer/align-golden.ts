/**
 * The alignment stage of enrollment: golden samples -> canonical pose
 * (models/stn/canonical-pose.ts; samples of another product are refused here) ->
 * spatial transformer trained on the bank's samples (models/stn/train.ts) and
 * the framing of the part (models/stn/framing.ts) ->
 * every golden sample aligned by the runtime's own ONNX graph, so the memory
 * bank is built on exactly what the runtime will score. Reports how well the
 * transformer restores held-out samples (SSIM, ms-SSIM) and writes the
 * before/after contact sheet.
 */
import { performance } from 'node:perf_hooks';
import type { StnSettings } from '../config/enroll.ts';
import type { ManifestDraft } from '../product/artifact.ts';
import type { SessionOptions } from '../models/session.ts';
import { msSsim, ssim } from '../models/components/ssim.ts';
import { seededRandom } from '../models/components/random.ts';
import { Aligner } from '../models/stn/model.ts';
import { INPUT_FACTOR, localisationShape, type LocalisationWeights } from '../models/stn/localisation-net.ts';
import { compose, downscaleImage, luma, randomPose, warpImage, type PoseRanges } from '../models/stn/pose.ts';
import { partCoverage, partFraming, WHOLE_FRAME } from '../models/stn/framing.ts';
import type { FeatureExtractor } from '../models/features/extractor.ts';
import { reduceRows, principalAxes, subsampleRows } from '../models/components/pca.ts';
import { beyondRotationRange, canonicalPoses, medianCorrelation, mixedSamples, suggestedRotation, MIN_REGISTRATION_CORRELATION } from '../models/stn/canonical-pose.ts';
import { EnrollError } from './golden-samples.ts';
import { contactSheet } from './contact-sheet.ts';
import { FINE_SHARE, fineRanges, trainSpatialTransformer, type FeatureView } from '../models/stn/train.ts';
import { median } from '../models/components/median.ts';

/** File name of the alignment contact sheet next to the manifest. */
export const ALIGNMENT_SHEET_FILE = 'alignment.png';
const SHEET_SAMPLES = 8;
/** Posed views per bank sample for the siamese loss (their features come from the backbone). */
const SIAMESE_VIEWS = 4;
/** Channels the siamese loss compares (principal components of the patch features). */
const SIAMESE_CHANNELS = 16;

export interface AlignInput {
  images: { name: string; data: Float32Array }[];
  size: { width: number; height: number };
  bank: number[];
  heldOut: number[];
  settings: StnSettings;
  /** Posed-and-realigned views to make of each bank sample (PaDiM's Gaussians learn from them). */
  posedViews: number;
  seed: number;
  session: SessionOptions;
  /** Needed by the siamese loss. */
  extractor?: FeatureExtractor;
  onStep?: (done: number, total: number) => void;
}

export interface AlignOutput {
  weights: LocalisationWeights;
  /** Every golden sample as the runtime's aligner puts it, same order as the input. */
  aligned: Float32Array[];
  /**
   * Bank samples posed at random within the ranges and put back by the
   * aligner, `posedViews` of each: what the alignment leaves a few pixels off.
   */
  views: Float32Array[];
  manifest: NonNullable<ManifestDraft['alignment']>;
  contactSheet: Uint8Array;
  timings: { registerMs: number; trainMs: number; alignMs: number };
}

export interface AlignSkipped {
  skipped: string;
}

/**
 * Aligns the golden samples, or says why the product has no pose to align
 * (its samples do not register to one another) and leaves them as they are.
 */
export async function alignGoldenSamples(input: AlignInput): Promise<AlignOutput | AlignSkipped> {
  const { images, size, settings } = input;
  const { width, height } = size;
  const ranges: PoseRanges = { rotation: settings.rotation, translation: settings.translation, scale: settings.scale };
  let t = performance.now();
  const pooledGrey = images.map((im) => downscaleImage(luma(im.data), width, height, 1, INPUT_FACTOR));
  const canonical = canonicalPoses(pooledGrey, ranges);
  // Parts turned further than the range fit the reference as badly as another product's
  // would (and can make the samples look shapeless): they are told apart first.
  const turned = beyondRotationRange(pooledGrey, canonical, ranges);
  if (turned.samples.length > 0) {
    const deg = (rad: number) => Math.round((Math.abs(rad) * 180) / Math.PI);
    const list = turned.samples.map((s) => `${images[s.index]!.name} (turned ${deg(s.turn)} deg, residual ${s.residualInRange.toFixed(2)} -> ${s.residual.toFixed(2)})`);
    const need = suggestedRotation(deg(turned.turnFromMean));
    throw new EnrollError(
      `${turned.samples.length} of ${images.length} golden samples lie turned beyond the product's rotation range (${ranges.rotation} deg either way): ` +
        `they align with the reference ${images[canonical.reference]!.name} only turned further: ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', …' : ''}. ` +
        `The samples turn up to ${deg(turned.turnFromMean)} deg from their mean orientation: enroll with --stn-rotation ${need} (stn.rotation${need === 180 ? ': parts turn fully' : ''}).`,
    );
  }
  const correlation = medianCorrelation(canonical);
  if (correlation < MIN_REGISTRATION_CORRELATION) {
    return {
      skipped:
        `alignment skipped: the golden samples share no shape to register (median correlation with the reference ${correlation.toFixed(2)}, ` +
        `below ${MIN_REGISTRATION_CORRELATION}; a texture has no pose) — frames are scored as they come`,
    };
  }
  const residuals = canonical.registrations.map((r) => 1 - r.correlation);
  const mixed = mixedSamples(residuals);
  if (mixed.length > 0) {
    const list = mixed.map((i) => `${images[i]!.name} (residual ${residuals[i]!.toFixed(2)})`);
    throw new EnrollError(
      `${mixed.length} of ${images.length} golden samples do not align with the others (reference ${images[canonical.reference]!.name}, typical residual ${median(residuals).toFixed(2)}): ` +
        `${list.slice(0, 12).join(', ')}${list.length > 12 ? ', …' : ''}. Are samples of two products mixed in this folder? Remove them and enroll again.`,
    );
  }
  const canonicalImages = images.map((im, i) => warpImage(im.data, width, height, 3, canonical.registrations[i]!.pose));
  const pooled = (data: Float32Array) => downscaleImage(data, width, height, 3, INPUT_FACTOR).data;
  const framing =
    settings.framing === 'part' ? partFraming(partCoverage(canonicalImages.map(pooled), Math.floor(width / INPUT_FACTOR), Math.floor(height / INPUT_FACTOR)), Math.floor(width / INPUT_FACTOR), Math.floor(height / INPUT_FACTOR)) : WHOLE_FRAME;
  // What the runtime scores: the canonical pose, then the framing.
  const framed = (i: number) => warpImage(images[i]!.data, width, height, 3, compose(canonical.registrations[i]!.pose, framing));
  const registerMs = performance.now() - t;

  t = performance.now();
  const shape = localisationShape(size, settings.hidden);
  let siamese;
  if (settings.loss === 'siamese') {
    if (!input.extractor) throw new Error('the siamese registration loss needs the feature extractor');
    siamese = await featureViews(input.extractor, input.bank.map((i) => canonicalImages[i]!), size, ranges, seededRandom(input.seed + 7));
  }
  const trained = await trainSpatialTransformer(
    shape,
    input.bank.map((i) => pooled(canonicalImages[i]!)),
    { ...settings, ranges, seed: input.seed, onStep: input.onStep },
    siamese,
  );
  const trainMs = performance.now() - t;

  t = performance.now();
  const aligner = await Aligner.create(size, shape, trained.weights, ranges.scale, input.session, framing);
  const aligned: Float32Array[] = [];
  for (const im of images) aligned.push((await aligner.align(im)).data);
  const views: Float32Array[] = [];
  const viewRandom = seededRandom(input.seed + 9);
  for (const i of input.bank)
    for (let k = 0; k < input.posedViews; k++) {
      const posed = warpImage(canonicalImages[i]!, width, height, 3, randomPose(ranges, viewRandom));
      views.push((await aligner.align({ data: posed })).data);
    }
  // Restoration quality: canonical samples posed at random, put back by the transformer.
  const random = seededRandom(input.seed + 8);
  const quality = async (indices: number[]) => {
    let s = 0;
    let ms = 0;
    for (const i of indices) {
      const posed = warpImage(canonicalImages[i]!, width, height, 3, randomPose(ranges, random));
      const restored = luma((await aligner.align({ data: posed })).data);
      const truth = luma(framed(i));
      s += ssim(restored, truth, width, height);
      ms += msSsim(restored, truth, width, height);
    }
    return { ssim: s / Math.max(1, indices.length), msSsim: ms / Math.max(1, indices.length) };
  };
  const train = await quality(input.bank.slice(0, 20));
  const validation = await quality(input.heldOut);
  await aligner.release();
  const alignMs = performance.now() - t;

  return {
    weights: trained.weights,
    aligned,
    views,
    manifest: {
      method: 'stn',
      loss: settings.loss,
      ranges,
      hidden: settings.hidden,
      reference: images[canonical.reference]!.name,
      steps: settings.steps,
      backend: trained.backend,
      trainSeconds: trained.trainMs / 1000,
      lossCurve: trained.lossCurve,
      ssim: { train: train.ssim, validation: validation.ssim },
      msSsim: { train: train.msSsim, validation: validation.msSsim },
      residuals: { median: median(residuals), max: Math.max(...residuals) },
      posedViews: input.posedViews,
      ...(framing === WHOLE_FRAME ? {} : { framing }),
    },
    // Two rows: golden samples as they came, and as the transformer aligned them.
    contactSheet: await contactSheet([images.slice(0, SHEET_SAMPLES).map((im) => im.data), aligned.slice(0, SHEET_SAMPLES)], width, height),
    timings: { registerMs, trainMs, alignMs },
  };
}

/** Posed views of canonical bank samples with their patch features reduced to a few principal components. */
async function featureViews(extractor: FeatureExtractor, canonical: Float32Array[], size: { width: number; height: number }, ranges: PoseRanges, random: () => number) {
  const { width, height, channels } = extractor.shape;
  const fine = fineRanges(ranges);
  const raw: { sample: number; pose: ReturnType<typeof randomPose>; pooled: Float32Array; rows: Float32Array }[] = [];
  for (const [sample, image] of canonical.entries()) {
    for (let k = 0; k < SIAMESE_VIEWS; k++) {
      // Some views nearly aligned, as the image loss draws them (the runtime's second pass sees those).
      const pose = randomPose(k < SIAMESE_VIEWS * FINE_SHARE ? fine : ranges, random);
      const posed = warpImage(image, size.width, size.height, 3, pose);
      raw.push({ sample, pose, pooled: downscaleImage(posed, size.width, size.height, 3, INPUT_FACTOR).data, rows: (await extractor.extract({ data: posed })).rows });
    }
  }
  const positions = width * height;
  const all = new Float32Array(raw.length * positions * channels);
  raw.forEach((r, i) => all.set(r.rows, i * positions * channels));
  const sample = subsampleRows(all, raw.length * positions, channels, 20000, random);
  const axes = principalAxes(sample, sample.length / channels, channels, SIAMESE_CHANNELS);
  const views: FeatureView[] = raw.map((r) => ({ sample: r.sample, pose: r.pose, pooled: r.pooled, features: reduceRows(r.rows, positions, channels, axes) }));
  return { views, grid: { height, width, channels: SIAMESE_CHANNELS } };
}
