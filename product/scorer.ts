/**
 * A product ready to score frames: its verified artifact, the feature
 * extractor of its backbone and its PatchCore scorer, plus the decision
 * (verdict, binary mask, defect regions) made with the product's thresholds.
 */
import type { InferenceSettings } from '../config/enroll.ts';
import { labelComponents } from '../models/components/connected-components.ts';
import { MAP_ALWAYS, PatchScorer, type DeferredPatchScores, type PatchScores, type WantsMap } from '../models/features/patch-scorer.ts';
import type { FeatureExtractor } from '../models/features/extractor.ts';
import type { FeatureReduction } from '../models/features/reduction.ts';
import { NearestNeighbourSearch } from '../models/patchcore/model.ts';
import { MahalanobisSearch } from '../models/padim/model.ts';
import type { PositionGaussians } from '../models/padim/gaussian.ts';
import type { SessionOptions } from '../models/session.ts';
import { ArtifactError, loadProductArtifact, type ProductArtifact } from './artifact.ts';
import { sessionOptions } from '../models/session.ts';
import type { Backbone } from '../models/backbones/registry.ts';
import { F2padModel } from '../models/refine/f2pad-model.ts';
import { SharedModels } from './shared-models.ts';
import { manifestPrecision } from './manifest.ts';
import { Aligner, type Alignment } from '../models/stn/model.ts';
import { localisationShape } from '../models/stn/localisation-net.ts';
import type { Similarity } from '../models/stn/pose.ts';

export type Verdict = 'ok' | 'reject';

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
  area: number;
  maxScore: number;
}

export interface ScoreOutcome extends PatchScores {
  /** The image that was scored (HWC RGB 0..255): the frame in canonical pose when the product aligns, else the frame. */
  image: Float32Array;
  /** The pose the spatial transformer found (sampling matrix), for aligning products. */
  pose?: Similarity;
  alignMs: number;
  threshold: number;
  verdict: Verdict;
  /** Binary defect mask at the input size (1 = defective pixel). */
  mask: Uint8Array;
  regions: Region[];
}

/**
 * A frame's outcome whose anomaly map may have been left out (`map`
 * undefined): then no map value reaches the pixel threshold, so `mask` is all
 * zeros and `regions` is empty, exactly as with the map. `ProductScorer.withMap`
 * builds the map when it is needed after all.
 */
export interface FrameOutcome extends Omit<ScoreOutcome, 'map'> {
  map?: Float32Array;
}

/**
 * When the anomaly map is built: `always` (evaluation, calibration, anything
 * that reads every map), or `whenNeeded`: only when the frame is rejected
 * (its image score reaches the image threshold) or some map value may reach
 * the pixel threshold by an upper bound of the map (anomaly-map-bound.ts), so
 * its mask and regions may not be empty.
 */
export type MapPolicy = 'always' | 'whenNeeded';

/** Whether a frame needs its anomaly map for the verdict's mask and regions (see MapPolicy). */
export function mapNeeded(scores: { score: number; mapBound: number }, thresholds: { image: number; pixel: number }): boolean {
  return scores.score >= thresholds.image || scores.mapBound >= thresholds.pixel;
}

/** Binary mask of map values at or above `threshold`. */
export function thresholdMap(map: Float32Array, threshold: number): Uint8Array {
  const mask = new Uint8Array(map.length);
  for (let i = 0; i < map.length; i++) mask[i] = map[i]! >= threshold ? 1 : 0;
  return mask;
}

/** Bounding boxes, areas and peak scores of the connected defect regions. */
export function defectRegions(mask: Uint8Array, map: Float32Array, width: number, height: number): Region[] {
  const { labels, count, areas, boxes } = labelComponents(mask, width, height, 8);
  const peaks = new Float32Array(count + 1).fill(-Infinity);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l > 0 && map[i]! > peaks[l]!) peaks[l] = map[i]!;
  }
  return boxes.map((b, i) => ({ ...b, area: areas[i]!, maxScore: peaks[i + 1]! })).sort((a, b) => b.maxScore - a.maxScore);
}

/**
 * Verdict, mask and regions of one image's score and anomaly map; without the
 * map (left out because no value of it reaches the pixel threshold, see
 * `mapNeeded`) the mask is all zeros and there are no regions.
 */
export function decideScores(
  scores: { score: number; map?: Float32Array },
  thresholds: { image: number; pixel: number },
  size: { width: number; height: number },
): { verdict: Verdict; mask: Uint8Array; regions: Region[] } {
  const verdict: Verdict = scores.score >= thresholds.image ? 'reject' : 'ok';
  if (!scores.map) return { verdict, mask: new Uint8Array(size.width * size.height), regions: [] };
  const mask = thresholdMap(scores.map, thresholds.pixel);
  return { verdict, mask, regions: defectRegions(mask, scores.map, size.width, size.height) };
}

/** What a product scores patches against: its memory bank, or PaDiM's Gaussians when it has them. */
export interface PatchModel {
  bank: Float32Array;
  reduction?: FeatureReduction;
  padim?: PositionGaussians;
}

/** The product's patch scorer: PaDiM when the model has Gaussians, else PatchCore's memory bank. */
export async function createPatchScorer(
  extractor: FeatureExtractor,
  model: PatchModel,
  settings: { sigma: number; padimTolerance?: number; reweightNeighbours?: number },
  session: SessionOptions,
): Promise<PatchScorer> {
  const { channels, height, width } = extractor.shape;
  const search = model.padim
    ? await MahalanobisSearch.create(model.padim, channels, model.reduction, session, { grid: { width, height }, cells: settings.padimTolerance ?? 0 })
    : await NearestNeighbourSearch.create(model.bank, channels, model.reduction, { ...session, reweightNeighbours: settings.reweightNeighbours });
  return PatchScorer.create(extractor, search, { sigma: settings.sigma, ...session });
}

/** What the runtime's scoring lane scores a version's frames with: batches, `map: 'whenNeeded'`. */
export interface FrameBatchScorer {
  readonly maxBatch: number;
  scoreBatch(frames: { data: Float32Array }[]): Promise<FrameOutcome[]>;
}

/** A product as the scoring lane sees it: batches scored with `map: 'whenNeeded'`. */
function lanesView(product: ProductScorer): FrameBatchScorer {
  return {
    get maxBatch() {
      return product.maxBatch;
    },
    scoreBatch: (frames) => product.scoreBatch(frames, { map: 'whenNeeded' }),
  };
}

export class ProductScorer {
  private f2padModel?: Promise<F2padModel | undefined>;

  private constructor(
    readonly artifact: ProductArtifact,
    readonly scorer: PatchScorer,
    private readonly backbone: Backbone,
    private readonly inference: InferenceSettings,
    readonly aligner?: Aligner,
  ) {}

  /**
   * Loads the active (or the given) version of a product. Pass the device's
   * SharedModels so products and cameras share backbone sessions.
   */
  static async load(dataDir: string, productId: string, inference: InferenceSettings, version?: string, shared?: SharedModels): Promise<ProductScorer> {
    const models = shared ?? new SharedModels(dataDir, inference);
    const artifact = await loadProductArtifact(dataDir, productId, version);
    const { manifest } = artifact;
    const backbone = await models.backbone(manifest.backbone.id);
    if (backbone.sha256 !== manifest.backbone.sha256) {
      throw new ArtifactError(
        `product "${productId}" ${manifest.version} was enrolled with other ${manifest.backbone.id} weights (sha256 ${manifest.backbone.sha256.slice(0, 12)}…, installed ${backbone.sha256.slice(0, 12)}…); enroll it again`,
      );
    }
    const int8 = manifestPrecision(manifest) === 'int8';
    const int8Ranges = int8 ? manifest.int8?.ranges : undefined;
    if (int8 && !int8Ranges) throw new ArtifactError(`product "${productId}" ${manifest.version} is int8 but its manifest has no calibrated ranges; enroll it again`);
    const extractor = await models.extractor(manifest.backbone.id, manifest.layers.map((l) => l.name), manifest.inputSize, manifest.aggregation, int8Ranges);
    const expected = manifest.reduction?.from ?? manifest.featureDim;
    if (extractor.shape.channels !== expected) {
      throw new ArtifactError(`product "${productId}" ${manifest.version}: features have ${extractor.shape.channels} channels, the artifact expects ${expected}`);
    }
    const session = sessionOptions(models.inference);
    const scorer = await createPatchScorer(extractor, artifact, { sigma: manifest.sigma, padimTolerance: manifest.padim?.tolerance, reweightNeighbours: manifest.reweight?.neighbours }, session);
    const aligner = artifact.stn && manifest.alignment ? await Aligner.create(manifest.inputSize, localisationShape(manifest.inputSize, manifest.alignment.hidden), artifact.stn, manifest.alignment.ranges.scale, session, manifest.alignment.framing) : undefined;
    return new ProductScorer(artifact, scorer, backbone, models.inference, aligner);
  }

  /** Frees this product's own sessions (shared backbone sessions stay). */
  async release(): Promise<void> {
    await (await this.f2padModel?.catch(() => undefined))?.release();
    await this.scorer.release();
    await this.aligner?.release();
  }

  /**
   * Why this product cannot refine masks with F2PAD, or undefined when it can:
   * it needs the pixel prior and references stored at enrollment and a
   * backbone linesight can differentiate.
   */
  get f2padUnavailable(): string | undefined {
    if (!this.artifact.refine) return `product "${this.manifest.productId}" ${this.manifest.version} was enrolled without F2PAD data (enroll it again)`;
    if (!this.backbone.ir) return `backbone ${this.backbone.id} has no layer description to differentiate`;
    return undefined;
  }

  /** The product's F2PAD model, built on first use (its graphs take a moment to load). */
  f2pad(candidates: number): Promise<F2padModel | undefined> {
    if (this.f2padUnavailable) return Promise.resolve(undefined);
    this.f2padModel ??= F2padModel.create(this.backbone, this.scorer.features, this.artifact.bank, this.artifact.refine!, {
      candidates,
      reduction: this.artifact.reduction,
      ...sessionOptions(this.inference),
    });
    return this.f2padModel;
  }

  get manifest() {
    return this.artifact.manifest;
  }

  get inputSize() {
    return this.artifact.manifest.inputSize;
  }

  /** Anomaly map of an image already in canonical pose (per-image threshold search). */
  scoreMap(image: { data: Float32Array }): Promise<PatchScores> {
    return this.scorer.score(image);
  }

  /**
   * Scores one frame (HWC RGB 0..255 at the product's input size), aligned
   * into the product's canonical pose first when it was enrolled with a
   * spatial transformer; map, mask and regions refer to `image`. With
   * `map: 'whenNeeded'` the map is left out when it changes neither verdict,
   * mask nor regions.
   */
  score(frame: { data: Float32Array }, opts?: { map?: 'always' }): Promise<ScoreOutcome>;
  score(frame: { data: Float32Array }, opts: { map: MapPolicy }): Promise<FrameOutcome>;
  async score(frame: { data: Float32Array }, opts: { map?: MapPolicy } = {}): Promise<FrameOutcome> {
    return (await this.scoreBatch([frame], { map: opts.map ?? 'always' }))[0]!;
  }

  /** Frames one batch run may score together (the device's `inference.maxBatch`). */
  get maxBatch(): number {
    return this.inference.maxBatch;
  }

  /**
   * Scores several frames with one backbone run (distances and maps frame
   * by frame); one outcome per frame, in order, equal to
   * `score` of each frame within float tolerance. Aligning products align
   * frame by frame first (the spatial transformer runs on one image), then
   * score the aligned frames as one batch.
   */
  scoreBatch(frames: { data: Float32Array }[], opts?: { map?: 'always' }): Promise<ScoreOutcome[]>;
  scoreBatch(frames: { data: Float32Array }[], opts: { map: MapPolicy }): Promise<FrameOutcome[]>;
  async scoreBatch(frames: { data: Float32Array }[], opts: { map?: MapPolicy } = {}): Promise<FrameOutcome[]> {
    const aligned: (Alignment | undefined)[] = [];
    for (const frame of frames) aligned.push(this.aligner ? await this.aligner.align(frame) : undefined);
    const images = frames.map((frame, i) => aligned[i]?.data ?? frame.data);
    const wantsMap: WantsMap = opts.map === 'whenNeeded' ? (s) => mapNeeded(s, this.manifest.thresholds) : MAP_ALWAYS;
    const results = await this.scorer.scoreBatchDeferred(images.map((data) => ({ data })), wantsMap);
    return results.map((result, i) => this.decide(result, images[i]!, aligned[i]));
  }

  /**
   * The device's scoring lane's view of this product: batches scored with
   * `map: 'whenNeeded'` (the same object every time, so the lane batches
   * frames of several cameras together).
   */
  readonly frames: FrameBatchScorer = lanesView(this);

  /**
   * Scores one grey frame: ONNX Runtime's first run of a session allocates
   * and plans (hundreds of ms), which would otherwise fall on the first part
   * after start-up or a swap and could push it past its deadline. Also
   * measures the anomaly map's row and column weights that frames scored
   * with `map: 'whenNeeded'` bound their maps with.
   */
  async warmUp(): Promise<void> {
    const { width, height } = this.inputSize;
    await this.score({ data: new Float32Array(width * height * 3).fill(128) });
    await this.scorer.mapWeights();
  }

  /** The outcome with its anomaly map, built now when scoring left it out (mask and regions stay as they are). */
  async withMap(outcome: FrameOutcome): Promise<ScoreOutcome> {
    return outcome.map ? { ...outcome, map: outcome.map } : { ...outcome, map: await this.scorer.anomalyMap(outcome.patchScores) };
  }

  /** Verdict, mask and defect regions of one frame's patch scores, with the product's thresholds. */
  private decide(result: DeferredPatchScores, image: Float32Array, aligned: Alignment | undefined): FrameOutcome {
    const { thresholds } = this.manifest;
    const { mapBound: _bound, ...scores } = result;
    const decision = decideScores(result, thresholds, this.inputSize);
    return { ...scores, image, pose: aligned?.pose, alignMs: aligned?.ms ?? 0, threshold: thresholds.image, ...decision };
  }
}
