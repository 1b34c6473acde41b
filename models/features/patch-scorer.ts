/**
 * A patch-feature scorer at inference, whatever the algorithm: the shared
 * feature extractor, a distance of every patch to what golden samples showed
 * (PatchCore's memory bank, PaDiM's Gaussians) and the anomaly map.
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { createSession, type SessionOptions } from '../session.ts';
import { valueRange } from '../components/value-range.ts';
import { anomalyMapGraph } from './anomaly-map.ts';
import { measureSeparableWeights, separableMapBound, type SeparableWeights } from './anomaly-map-bound.ts';
import type { FeatureExtractor, FeatureTimings } from './extractor.ts';

export interface ScoreTimings extends FeatureTimings {
  knnMs: number;
  mapMs: number;
  totalMs: number;
}

export interface PatchScores {
  /** Image anomaly score: the largest patch distance (PatchCore with reweighting: that distance reweighted). */
  score: number;
  /** Distance of every patch to what golden samples showed there, [grid.height * grid.width]. */
  patchScores: Float32Array;
  /** Smoothed anomaly map at the input size, row-major. */
  map: Float32Array;
  timings: ScoreTimings;
}

/** Patch scores whose anomaly map is built only when it was wanted (`map` undefined otherwise). */
export interface DeferredPatchScores extends Omit<PatchScores, 'map'> {
  map?: Float32Array;
  /** No value of the anomaly map exceeds this (anomaly-map-bound.ts); Infinity when the map was built regardless. */
  mapBound: number;
}

/** Whether an image's anomaly map is to be built, from its image score and an upper bound of the map's values. */
export type WantsMap = (scores: { score: number; mapBound: number }) => boolean;

/** Builds every map. */
export const MAP_ALWAYS: WantsMap = () => true;

/** Distance of every patch row to what golden samples showed: the memory bank's nearest feature, or PaDiM's Gaussian at its position. */
export interface PatchDistances {
  distances(rows: Float32Array): Promise<Float32Array>;
  /** The distances with the image score, for searches that score images otherwise than by the largest distance (PatchCore's reweighting). */
  score?(rows: Float32Array): Promise<{ patchScores: Float32Array; score: number }>;
  release(): Promise<void>;
}

export class PatchScorer {
  private constructor(
    readonly features: FeatureExtractor,
    readonly search: PatchDistances,
    private readonly mapSession: ort.InferenceSession,
  ) {}

  private weights?: Promise<SeparableWeights>;

  /** Takes ownership of `search`: `release` frees it. */
  static async create(features: FeatureExtractor, search: PatchDistances, opts: { sigma: number } & SessionOptions): Promise<PatchScorer> {
    const { height, width } = features.shape;
    const map = await createSession(anomalyMapGraph({ height, width }, features.inputSize, opts.sigma), opts);
    return new PatchScorer(features, search, map);
  }

  /** The smoothed anomaly map at the input size of one image's patch scores. */
  async anomalyMap(patchScores: Float32Array): Promise<Float32Array> {
    const out = await this.mapSession.run({ patchScores: new ort.Tensor('float32', patchScores, [patchScores.length]) });
    return out.map!.data as Float32Array;
  }

  /**
   * The anomaly map's row and column weights (anomaly-map-bound.ts),
   * measured once on the map graph itself.
   */
  mapWeights(): Promise<SeparableWeights> {
    this.weights ??= measureSeparableWeights(this.features.shape, this.features.inputSize, (scores) => this.anomalyMap(scores));
    return this.weights;
  }

  /** Scores one image's patch rows, with its anomaly map. */
  async scoreFeatures(rows: Float32Array, featureTimings: FeatureTimings): Promise<PatchScores> {
    return this.complete(await this.scoreFeaturesDeferred(rows, featureTimings, MAP_ALWAYS));
  }

  /**
   * Scores one image's patch rows; builds the anomaly map only when
   * `wantsMap` says so from the image score and the range of patch scores.
   */
  async scoreFeaturesDeferred(rows: Float32Array, featureTimings: FeatureTimings, wantsMap: WantsMap): Promise<DeferredPatchScores> {
    const t0 = performance.now();
    const scored = this.search.score ? await this.search.score(rows) : undefined;
    const patchScores = scored?.patchScores ?? (await this.search.distances(rows));
    const score = scored?.score ?? valueRange(patchScores).max;
    const mapBound = wantsMap === MAP_ALWAYS ? Infinity : separableMapBound(patchScores, await this.mapWeights());
    const t1 = performance.now();
    const map = wantsMap({ score, mapBound }) ? await this.anomalyMap(patchScores) : undefined;
    const knnMs = t1 - t0;
    const mapMs = map ? performance.now() - t1 : 0;
    return { score, patchScores, mapBound, map, timings: { ...featureTimings, knnMs, mapMs, totalMs: featureTimings.backboneMs + featureTimings.aggregateMs + knnMs + mapMs } };
  }

  /** The scores with their anomaly map, built now when it was left out. */
  async complete(scores: DeferredPatchScores): Promise<PatchScores> {
    const { mapBound: _bound, map, ...rest } = scores;
    return { ...rest, map: map ?? (await this.anomalyMap(scores.patchScores)) };
  }

  /**
   * Scores several images with one backbone and aggregation run; one result
   * per image, in order, equal to scoring each alone. The distances run image
   * by image: one GEMM over the rows of N images builds an [N * positions,
   * bank] intermediate that leaves the cache and measured slower per image
   * than N small runs. Batch-wide stages report each image's equal share of
   * the batch's time.
   */
  async scoreBatch(images: { data: Float32Array }[]): Promise<PatchScores[]> {
    const results: PatchScores[] = [];
    for (const r of await this.scoreBatchDeferred(images, MAP_ALWAYS)) results.push(await this.complete(r));
    return results;
  }

  /** `scoreBatch`, building each image's anomaly map only when `wantsMap` says so. */
  async scoreBatchDeferred(images: { data: Float32Array }[], wantsMap: WantsMap): Promise<DeferredPatchScores[]> {
    if (images.length === 0) return [];
    const n = images.length;
    const { rows, timings } = await this.features.extractBatch(images);
    const perImage = rows.length / n;
    const share: FeatureTimings = { backboneMs: timings.backboneMs / n, aggregateMs: timings.aggregateMs / n };
    const results: DeferredPatchScores[] = [];
    for (let i = 0; i < n; i++) results.push(await this.scoreFeaturesDeferred(rows.subarray(i * perImage, (i + 1) * perImage), share, wantsMap));
    return results;
  }

  /** Scores one image (HWC RGB 0..255 at the model's input size). */
  async score(image: { data: Float32Array }): Promise<PatchScores> {
    const { rows, timings } = await this.features.extract(image);
    return this.scoreFeatures(rows, timings);
  }

  /** Frees the bank's sessions; the feature extractor may be shared and stays. */
  async release(): Promise<void> {
    await this.search.release();
    await this.mapSession.release();
  }
}
