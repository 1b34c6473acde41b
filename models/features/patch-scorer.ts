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

  /** Takes ownership of `search`: `release` frees it. */
  static async create(features: FeatureExtractor, search: PatchDistances, opts: { sigma: number } & SessionOptions): Promise<PatchScorer> {
    const { height, width } = features.shape;
    const map = await createSession(anomalyMapGraph({ height, width }, features.inputSize, opts.sigma), opts);
    return new PatchScorer(features, search, map);
  }

  async scoreFeatures(rows: Float32Array, featureTimings: FeatureTimings): Promise<PatchScores> {
    const t0 = performance.now();
    const scored = this.search.score ? await this.search.score(rows) : undefined;
    const patchScores = scored?.patchScores ?? (await this.search.distances(rows));
    const t1 = performance.now();
    const mapOut = await this.mapSession.run({ patchScores: new ort.Tensor('float32', patchScores, [patchScores.length]) });
    const t2 = performance.now();
    const score = scored?.score ?? valueRange(patchScores).max;
    const knnMs = t1 - t0;
    const mapMs = t2 - t1;
    return {
      score,
      patchScores,
      map: mapOut.map!.data as Float32Array,
      timings: { ...featureTimings, knnMs, mapMs, totalMs: featureTimings.backboneMs + featureTimings.aggregateMs + knnMs + mapMs },
    };
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
    if (images.length === 0) return [];
    const n = images.length;
    const { rows, timings } = await this.features.extractBatch(images);
    const perImage = rows.length / n;
    const share: FeatureTimings = { backboneMs: timings.backboneMs / n, aggregateMs: timings.aggregateMs / n };
    const results: PatchScores[] = [];
    for (let i = 0; i < n; i++) results.push(await this.scoreFeatures(rows.slice(i * perImage, (i + 1) * perImage), share));
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
