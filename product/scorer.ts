/**
 * A product ready to score frames: its verified artifact, the feature
 * extractor of its backbone and its PatchCore scorer, plus the decision
 * (verdict, binary mask, defect regions) made with the product's thresholds.
 */
import type { InferenceSettings } from '../config/enroll.ts';
import { labelComponents } from '../models/components/connected-components.ts';
import { PatchScorer, type PatchScores } from '../models/features/patch-scorer.ts';
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
    const int8Ranges = manifest.precision === 'int8' ? manifest.int8?.ranges : undefined;
    if (manifest.precision === 'int8' && !int8Ranges) throw new ArtifactError(`product "${productId}" ${manifest.version} is int8 but its manifest has no calibrated ranges; enroll it again`);
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
   * spatial transformer; map, mask and regions refer to `image`.
   */
  async score(frame: { data: Float32Array }): Promise<ScoreOutcome> {
    const aligned = this.aligner ? await this.aligner.align(frame) : undefined;
    const image = aligned?.data ?? frame.data;
    return this.decide(await this.scorer.score({ data: image }), image, aligned);
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
  async scoreBatch(frames: { data: Float32Array }[]): Promise<ScoreOutcome[]> {
    const aligned: (Alignment | undefined)[] = [];
    for (const frame of frames) aligned.push(this.aligner ? await this.aligner.align(frame) : undefined);
    const images = frames.map((frame, i) => aligned[i]?.data ?? frame.data);
    const results = await this.scorer.scoreBatch(images.map((data) => ({ data })));
    return results.map((result, i) => this.decide(result, images[i]!, aligned[i]));
  }

  /** Verdict, mask and defect regions of one frame's patch scores, with the product's thresholds. */
  private decide(result: PatchScores, image: Float32Array, aligned: Alignment | undefined): ScoreOutcome {
    const { thresholds } = this.manifest;
    const { width, height } = this.inputSize;
    const verdict: Verdict = result.score >= thresholds.image ? 'reject' : 'ok';
    const mask = thresholdMap(result.map, thresholds.pixel);
    return { ...result, image, pose: aligned?.pose, alignMs: aligned?.ms ?? 0, threshold: thresholds.image, verdict, mask, regions: defectRegions(mask, result.map, width, height) };
  }
}
