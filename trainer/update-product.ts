/**
 * Product update: a new version built from the active one and the operator's
 * reviewed records, in seconds instead of a full enrollment. Images marked
 * good join the golden set: their patches top up PatchCore's memory bank
 * (farthest-point selection beyond the bank's coverage radius) and, for
 * PaDiM, update each position's Gaussian (running mean and scatter); the
 * threshold is recalibrated (update/recalibrate.ts); the candidate is written
 * as a new version, not activated; then every reviewed record is replayed
 * with the active version and the candidate, side by side. The candidate
 * keeps the active version's backbone, layers, reduction (with any adaptor
 * folded in), alignment and F2PAD data, so its features are comparable.
 */
import { performance } from 'node:perf_hooks';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { inferenceSettingsSchema, type InferenceSettings } from '../config/enroll.ts';
import { writeProductArtifact, type ManifestDraft, type ProductArtifact } from '../product/artifact.ts';
import type { Manifest } from '../product/manifest.ts';
import { readImage, type LoadedImage } from '../product/image-io.ts';
import { createPatchScorer, ProductScorer } from '../product/scorer.ts';
import { SharedModels } from '../product/shared-models.ts';
import { reduceRows } from '../models/components/pca.ts';
import { NearestNeighbourSearch, leftOutScores } from '../models/patchcore/model.ts';
import { SaliencyExtractor } from '../models/saliency/layer-cam.ts';
import { sessionOptions, type SessionOptions } from '../models/session.ts';
import { valueRange } from '../models/components/value-range.ts';
import type { PositionGaussians } from '../models/padim/gaussian.ts';
import { EnrollError } from './golden-samples.ts';
import type { NegativeMethod } from './synthetic-negatives.ts';
import { bankCoverageRadius, coresetTopUp } from './update/coreset-top-up.ts';
import { updatePositionGaussians } from './update/running-gaussians.ts';
import { findGoldenSamples, keptCalibration, recalibrate, type Recalibration } from './update/recalibrate.ts';
import { bankRowSources, updatedBankPicks } from './update/left-out.ts';
import { replayReview, type Replay, type ReviewSet } from './update/replay.ts';
import type { UpdateStage } from '../product/update-progress.ts';

export type { ReviewSet, Replay, ReplayRecord, ReplayCounts } from './update/replay.ts';

export type { UpdateStage } from '../product/update-progress.ts';

export interface UpdateSettings {
  /** Folder of the product's golden samples: its held-out samples are rescored for the new threshold (absent: thresholds kept). */
  goldenDir?: string;
  /** Most rows the bank's top-up adds (default: no cap; the coverage radius decides). */
  maxBankRows?: number;
  /** Synthetic negatives per held-out sample (default: as many as the enrollment made). */
  calibrationNegatives?: number;
  seed?: number;
}

export interface UpdateOptions {
  dataDir: string;
  productId: string;
  review: ReviewSet;
  settings?: UpdateSettings;
  inference?: InferenceSettings;
  /** The name an image marked good is listed under among the golden samples (default: its file name). */
  imageName?: (path: string) => string;
  onProgress?: (p: { stage: UpdateStage; done: number; total: number }) => void;
}

export interface UpdateResult {
  version: string;
  dir: string;
  updatedFrom: string;
  replay: Replay;
  /** Wall time from the verdicts to the replayed candidate. */
  seconds: number;
  timings: Record<string, number>;
  bankRowsAdded: number;
  thresholds: { before: Manifest['thresholds']; after: Manifest['thresholds']; how: Recalibration['how'] };
  notes: string[];
}

/** Images aligned as the product aligns (as the scorer does), and their raw patch rows stacked sample-major. */
async function alignedFeatures(scorer: ProductScorer, images: LoadedImage[], onProgress: (done: number, total: number) => void) {
  const extractor = scorer.scorer.features;
  const { channels } = extractor.shape;
  const positions = extractor.positions;
  const raw = new Float32Array(images.length * positions * channels);
  for (const [i, image] of images.entries()) {
    const data = scorer.aligner ? (await scorer.aligner.align(image)).data : image.data;
    raw.set((await extractor.extract({ data })).rows, i * positions * channels);
    onProgress(i + 1, images.length);
  }
  return { raw, positions, channels };
}

type SampleFeatures = Awaited<ReturnType<typeof alignedFeatures>>;

/** Raw patch rows of the i-th sample of `f`. */
function sampleRows(f: SampleFeatures, i: number): Float32Array {
  const n = f.positions * f.channels;
  return f.raw.subarray(i * n, (i + 1) * n);
}

/**
 * Left-out scores of the updated memory bank (update/left-out.ts): the bank
 * samples (`golden`, when all were found in the golden folder), then the new
 * good images, each scored without its own bank rows.
 */
async function updatedLeftOutScores(artifact: ProductArtifact, model: UpdatedModel, fresh: SampleFeatures, golden: SampleFeatures | undefined, session: SessionOptions): Promise<number[]> {
  const { manifest } = artifact;
  const { positions, channels } = fresh;
  const dim = manifest.featureDim;
  let sources: Int32Array = new Int32Array(manifest.coreset.size).fill(-1);
  const samples = golden ? golden.raw.length / (positions * channels) : 0;
  if (golden) {
    const reduced = artifact.reduction ? reduceRows(golden.raw, samples * positions, channels, artifact.reduction) : golden.raw;
    sources = await bankRowSources(artifact.bank, manifest.coreset.size, reduced, positions, dim, session);
  }
  const picked = updatedBankPicks(sources, samples, model.chosen, positions);
  const rows = (i: number) => (i < samples ? sampleRows(golden!, i) : sampleRows(fresh, i - samples));
  return leftOutScores({ rows: model.bank, picked, size: picked.length }, samples + fresh.raw.length / (positions * channels), positions, rows, {
    channels,
    reduction: artifact.reduction,
    session,
    reweightNeighbours: manifest.reweight?.neighbours,
  });
}

/**
 * Samples the stored Gaussians were fitted on. The artifact stores each
 * position's mean and precision, not the sample count nor the scatter: an
 * update records the count it reached (manifest update.gaussianSamples);
 * an enrolled version's count is its bank samples and their posed views, as
 * the enrollment's coreset stage fitted them. The scatter is then rebuilt
 * from the stored covariance (the precision's inverse) minus epsilon I
 * (update/running-gaussians.ts).
 */
function gaussianSamples(manifest: Manifest): number {
  if (manifest.update?.gaussianSamples) return manifest.update.gaussianSamples;
  const bankSamples = manifest.goldenSamples.files.filter((f) => f.role === 'bank').length;
  return bankSamples * (1 + (manifest.alignment?.posedViews ?? 0));
}

interface UpdatedModel {
  bank: Float32Array;
  added: number;
  radius: number;
  padim?: PositionGaussians;
  gaussianSamples?: number;
  /** Index of every added row among the new images' patches (sample-major). */
  chosen: Int32Array;
}

/**
 * The coverage radius the top-up works to: carried from an earlier update;
 * else measured — the farthest any patch of the bank samples lies from the
 * bank, the radius the enrollment's coreset reached — when the bank samples
 * are at hand; else estimated from the bank alone (coreset-top-up.ts).
 */
async function coverageRadius(manifest: Manifest, bank: Float32Array, search: NearestNeighbourSearch, golden: SampleFeatures | undefined): Promise<number> {
  if (manifest.update) return manifest.update.coverageRadius;
  if (golden) return valueRange(await search.distances(golden.raw)).max;
  return bankCoverageRadius(bank, manifest.coreset.size, manifest.featureDim);
}

/** The bank topped up with the new patches (and PaDiM's Gaussians updated with them). */
async function updateModel(artifact: ProductArtifact, features: SampleFeatures, images: number, golden: SampleFeatures | undefined, maxRows: number | undefined, session: SessionOptions): Promise<UpdatedModel> {
  const { manifest, bank, reduction } = artifact;
  const { raw, positions, channels } = features;
  const count = images * positions;
  const dim = manifest.featureDim;
  const reduced = reduction ? reduceRows(raw, count, channels, reduction) : raw;
  const search = await NearestNeighbourSearch.create(bank, channels, reduction, session);
  const distances = await search.distances(raw);
  const radius = await coverageRadius(manifest, bank, search, golden);
  await search.release();
  const chosen = coresetTopUp(reduced, count, dim, distances, radius, maxRows);
  const grown = new Float32Array(bank.length + chosen.length * dim);
  grown.set(bank);
  chosen.forEach((row, k) => grown.set(reduced.subarray(row * dim, (row + 1) * dim), bank.length + k * dim));
  const out: UpdatedModel = { bank: grown, added: chosen.length, radius, chosen };
  if (artifact.padim && manifest.padim) {
    const n = gaussianSamples(manifest);
    out.padim = updatePositionGaussians(artifact.padim, n, manifest.padim.epsilon, reduced, images);
    out.gaussianSamples = n + images;
  }
  return out;
}

/** The attachments of a version (contact sheets), carried into the version built from it. */
async function carriedAttachments(artifact: ProductArtifact): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of artifact.manifest.attachments ?? []) {
    const bytes = await readFile(join(artifact.dir, name)).catch(() => undefined);
    if (bytes) out[name] = bytes;
  }
  return out;
}

function updatedDraft(manifest: Manifest, review: ReviewSet, images: LoadedImage[], model: UpdatedModel, cal: Recalibration, notes: string[], timings: Record<string, number>, attachments: string[], imageName: (path: string) => string): ManifestDraft {
  const { version, files, schemaVersion, ...kept } = manifest;
  void files;
  void schemaVersion;
  const added = images.map((img) => ({ name: imageName(img.path), sha256: img.sha256, role: 'bank' as const }));
  return {
    ...kept,
    createdAt: new Date().toISOString(),
    coreset: { ...manifest.coreset, size: manifest.coreset.size + model.added, totalPatches: manifest.coreset.totalPatches + images.length * manifest.grid.width * manifest.grid.height },
    thresholds: cal.thresholds,
    calibration: cal.calibration,
    goldenSamples: { ...manifest.goldenSamples, count: manifest.goldenSamples.count + images.length, files: [...manifest.goldenSamples.files, ...added] },
    update: {
      updatedFrom: version,
      addedImages: images.length,
      review: { good: review.good.length, defects: review.defects.length, missed: review.missed.length },
      bankRowsAdded: model.added,
      coverageRadius: model.radius,
      ...(model.gaussianSamples ? { gaussianSamples: model.gaussianSamples } : {}),
      thresholds: cal.how,
    },
    ...(attachments.length ? { attachments } : { attachments: undefined }),
    notes: [...(manifest.notes ?? []), ...notes],
    timings,
  };
}

/** The golden samples, when their folder is given: the bank samples (for the coverage radius and left-out scores, when all are found) and the held-out ones. */
async function goldenAtHand(scorer: ProductScorer, goldenDir: string | undefined) {
  const { manifest } = scorer;
  const golden = goldenDir ? await findGoldenSamples(manifest, goldenDir) : { heldOut: [], bank: [], missing: [] };
  const bankCount = manifest.goldenSamples.files.filter((f) => f.role === 'bank').length;
  if (golden.bank.length === 0 || golden.bank.length !== bankCount) return { ...golden, bankFeatures: undefined };
  const images = await Promise.all(golden.bank.map((path) => readImage(path, manifest.inputSize)));
  return { ...golden, bankFeatures: await alignedFeatures(scorer, images, () => {}) };
}

type GoldenAtHand = Awaited<ReturnType<typeof goldenAtHand>>;

/** Synthetic negatives for recalibration: as many per held-out sample and of the same kind as the enrollment made, when the backbone allows. */
async function calibrationNegatives(scorer: ProductScorer, shared: SharedModels, golden: GoldenAtHand, settings: UpdateSettings, session: SessionOptions) {
  const { manifest } = scorer;
  const c = manifest.calibration;
  const perSample = settings.calibrationNegatives ?? (c.negatives && c.heldOut > 0 ? Math.round(c.negatives.count / c.heldOut) : 0);
  const backbone = await shared.backbone(manifest.backbone.id);
  const method: NegativeMethod = c.negatives?.method === 'cutswap' && backbone.ir ? 'cutswap' : 'cutpaste';
  const saliency = golden.heldOut.length > 0 && perSample > 0 && method === 'cutswap' && backbone.ir ? await SaliencyExtractor.create(backbone.ir, manifest.inputSize, session) : undefined;
  return { perSample, method, saliency };
}

/** What the update tells the technician, kept in the manifest's notes (pure). */
export function updateNotes(from: string, images: number, model: { added: number; gaussianSamples?: number }, cal: Recalibration, leftOut: { scores: number; bankSamples: boolean }, goldenDir?: string): string[] {
  const gaussians = model.gaussianSamples ? `, PaDiM's Gaussians updated to ${model.gaussianSamples} samples` : '';
  const missing = cal.missing.length ? `; ${cal.missing.length} golden sample(s) not found unchanged in ${goldenDir}` : '';
  return [
    `updated from ${from} with ${images} image(s) marked good: ${model.added} memory-bank row(s) added${gaussians}`,
    cal.how === 'kept'
      ? `thresholds kept from ${from}: ${goldenDir ? `no held-out golden sample found unchanged in ${goldenDir}` : 'the golden-sample folder was not given'}`
      : `thresholds recalibrated on ${cal.calibration.heldOut} held-out golden sample(s)${leftOut.scores ? ` and ${leftOut.scores} left-out good score(s) (${leftOut.bankSamples ? 'bank samples and ' : ''}new good images)` : ''}${missing}`,
  ];
}

/** What the update runs on: the active version, the settings, the shared models and the sessions to free at the end. */
interface UpdateRun {
  opts: UpdateOptions;
  settings: UpdateSettings;
  inference: InferenceSettings;
  shared: SharedModels;
  session: SessionOptions;
  active: ProductScorer;
  timings: Record<string, number>;
  release: { release(): Promise<void> }[];
  progress: (stage: UpdateStage) => (done: number, total: number) => void;
}

/** Times `step` into `run.timings[name]`. */
async function timed<T>(run: UpdateRun, name: string, step: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await step();
  } finally {
    run.timings[name] = performance.now() - t;
  }
}

/** The updated model's threshold (update/recalibrate.ts), with the left-out scores behind it. */
async function recalibrateCandidate(run: UpdateRun, model: UpdatedModel, features: SampleFeatures, golden: GoldenAtHand): Promise<{ cal: Recalibration; leftOut: number[] }> {
  const { active, session } = run;
  const { artifact, manifest } = active;
  if (golden.heldOut.length === 0) return { cal: keptCalibration(manifest, golden.missing), leftOut: [] };
  const candidate = await createPatchScorer(active.scorer.features, { bank: model.bank, reduction: artifact.reduction, padim: model.padim }, { sigma: manifest.sigma, padimTolerance: manifest.padim?.tolerance, reweightNeighbours: manifest.reweight?.neighbours }, session);
  run.release.push(candidate);
  // PaDiM calibrates on held-out samples only, as enrollment does.
  const leftOut = model.padim ? [] : await updatedLeftOutScores(artifact, model, features, golden.bankFeatures, session);
  const negatives = await calibrationNegatives(active, run.shared, golden, run.settings, session);
  if (negatives.saliency) run.release.push(negatives.saliency);
  const cal = await recalibrate({
    manifest,
    candidate,
    aligner: active.aligner,
    heldOut: golden.heldOut,
    missing: golden.missing,
    leftOut,
    negativesPerSample: negatives.perSample,
    negativeMethod: negatives.method,
    saliency: negatives.saliency,
    seed: run.settings.seed ?? manifest.coreset.seed,
    onProgress: run.progress('calibrate'),
  });
  return { cal, leftOut };
}

async function runUpdate(run: UpdateRun): Promise<Omit<UpdateResult, 'seconds'>> {
  const { opts, settings, active } = run;
  const { artifact, manifest } = active;
  const { images, features, golden } = await timed(run, 'featuresMs', async () => {
    const images: LoadedImage[] = [];
    for (const path of opts.review.good) images.push(await readImage(path, manifest.inputSize));
    return { images, features: await alignedFeatures(active, images, run.progress('features')), golden: await goldenAtHand(active, settings.goldenDir) };
  });
  const model = await timed(run, 'modelMs', async () => {
    run.progress('model')(0, 1);
    const m = await updateModel(artifact, features, images.length, golden.bankFeatures, settings.maxBankRows, run.session);
    run.progress('model')(1, 1);
    return m;
  });
  const { cal, leftOut } = await timed(run, 'calibrateMs', () => recalibrateCandidate(run, model, features, golden));
  const notes = updateNotes(manifest.version, images.length, model, cal, { scores: leftOut.length, bankSamples: !!golden.bankFeatures }, settings.goldenDir);
  const written = await timed(run, 'writeMs', async () => {
    const attachments = await carriedAttachments(artifact);
    const draft = updatedDraft(manifest, opts.review, images, model, cal, notes, run.timings, Object.keys(attachments), opts.imageName ?? ((path) => basename(path)));
    run.progress('write')(0, 1);
    const w = await writeProductArtifact(opts.dataDir, draft, model.bank, { activate: false, reduction: artifact.reduction, refine: artifact.refine, stn: artifact.stn, padim: model.padim, attachments });
    run.progress('write')(1, 1);
    return w;
  });
  const replay = await timed(run, 'replayMs', async () => {
    const candidate = await ProductScorer.load(opts.dataDir, opts.productId, run.inference, written.version, run.shared);
    run.release.push(candidate);
    const byPath = new Map(images.map((img) => [img.path, img]));
    return replayReview(opts.review, active, candidate, async (path) => byPath.get(path) ?? readImage(path, manifest.inputSize), run.progress('replay'));
  });
  return {
    ...written,
    updatedFrom: manifest.version,
    replay,
    timings: run.timings,
    bankRowsAdded: model.added,
    thresholds: { before: manifest.thresholds, after: cal.thresholds, how: cal.how },
    notes,
  };
}

export async function updateProduct(opts: UpdateOptions): Promise<UpdateResult> {
  const start = performance.now();
  if (opts.review.good.length === 0) throw new EnrollError('a product update needs at least one image marked good');
  const inference = opts.inference ?? inferenceSettingsSchema.parse({});
  const shared = new SharedModels(opts.dataDir, inference);
  const active = await ProductScorer.load(opts.dataDir, opts.productId, inference, undefined, shared);
  const run: UpdateRun = {
    opts,
    settings: opts.settings ?? {},
    inference,
    shared,
    session: sessionOptions(inference),
    active,
    timings: {},
    release: [active],
    progress: (stage) => (done, total) => opts.onProgress?.({ stage, done, total }),
  };
  try {
    return { ...(await runUpdate(run)), seconds: (performance.now() - start) / 1000 };
  } finally {
    for (const s of run.release.reverse()) await s.release();
  }
}
