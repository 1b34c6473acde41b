/**
 * PatchCore at inference: the glue that runs the graphs of `graphs.ts` in ONNX
 * Runtime sessions. `FeatureExtractor` (backbone + aggregation) is shared by
 * every product and camera that use the same backbone, layers and input size;
 * `PatchCoreScorer` adds one product's memory bank (or PaDiM Gaussians) and
 * map settings.
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { Backbone } from '../backbones/registry.ts';
import { createSession, type SessionOptions } from '../session.ts';
import { valueRange } from '../components/value-range.ts';
import type { PositionGaussians } from '../padim/gaussian.ts';
import { aggregatedShape, aggregationGraph, anomalyMapGraph, mahalanobisGraph, nearestNeighbourGraph, type FeatureReduction, type Aggregation, type AggregatedShape, type FeatureLayerShape } from './graphs.ts';

export interface InputSize {
  width: number;
  height: number;
}

export interface FeatureTimings {
  backboneMs: number;
  aggregateMs: number;
}

export interface Features {
  /** Patch features, [positions, channels] row-major. */
  rows: Float32Array;
  timings: FeatureTimings;
}

export interface ScoreTimings extends FeatureTimings {
  knnMs: number;
  mapMs: number;
  totalMs: number;
}

export interface PatchScores {
  /** Image anomaly score: the largest patch distance. */
  score: number;
  /** Distance of every patch to its nearest bank feature, [grid.height * grid.width]. */
  patchScores: Float32Array;
  /** Smoothed anomaly map at the input size, row-major. */
  map: Float32Array;
  timings: ScoreTimings;
}

function inputTensor(image: { data: Float32Array }, size: InputSize): ort.Tensor {
  if (image.data.length !== size.width * size.height * 3) {
    throw new Error(`image holds ${image.data.length} values, the model expects ${size.width}x${size.height}x3`);
  }
  return new ort.Tensor('float32', image.data, [1, size.height, size.width, 3]);
}

export class FeatureExtractor {
  private constructor(
    readonly backbone: Backbone,
    readonly layers: FeatureLayerShape[],
    readonly aggregation: Aggregation,
    readonly inputSize: InputSize,
    readonly shape: AggregatedShape,
    private readonly backboneSession: ort.InferenceSession,
    private readonly aggregateSession: ort.InferenceSession,
  ) {}

  static async create(
    backbone: Backbone,
    layerNames: string[],
    inputSize: InputSize,
    aggregation: Aggregation,
    sessionOptions: SessionOptions = {},
  ): Promise<FeatureExtractor> {
    const backboneSession = await createSession(backbone.buildGraph(layerNames, [inputSize.height, inputSize.width]), sessionOptions);
    // Layer shapes are read off one real forward pass, so any backbone (including
    // a user-supplied ONNX extractor) reports its true output sizes.
    const probe = await backboneSession.run({ image: new ort.Tensor('float32', new Float32Array(inputSize.width * inputSize.height * 3), [1, inputSize.height, inputSize.width, 3]) });
    const layers = layerNames.map((name) => {
      const t = probe[name];
      if (!t || t.dims.length !== 4) throw new Error(`backbone ${backbone.id} did not produce layer ${name} as an NCHW tensor`);
      return { name, channels: Number(t.dims[1]), height: Number(t.dims[2]), width: Number(t.dims[3]) };
    });
    const aggregateSession = await createSession(aggregationGraph(layers, aggregation), sessionOptions);
    return new FeatureExtractor(backbone, layers, aggregation, inputSize, aggregatedShape(layers, aggregation), backboneSession, aggregateSession);
  }

  get positions(): number {
    return this.shape.height * this.shape.width;
  }

  async extract(image: { data: Float32Array }): Promise<Features> {
    const t0 = performance.now();
    const layerOut = await this.backboneSession.run({ image: inputTensor(image, this.inputSize) });
    const t1 = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    for (const l of this.layers) feeds[l.name] = layerOut[l.name]!;
    const agg = await this.aggregateSession.run(feeds);
    const t2 = performance.now();
    return { rows: agg.features!.data as Float32Array, timings: { backboneMs: t1 - t0, aggregateMs: t2 - t1 } };
  }
}

/** Distance of every patch row to what golden samples showed: the memory bank's nearest feature, or PaDiM's Gaussian at its position. */
export interface PatchDistances {
  distances(rows: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

/** PaDiM: Mahalanobis distance of each patch row to its position's Gaussian. */
export class MahalanobisSearch implements PatchDistances {
  private constructor(
    readonly channels: number,
    private readonly session: ort.InferenceSession,
  ) {}

  /** `tolerance`: cells either way a feature may sit from its position's Gaussian (0: PaDiM as published). */
  static async create(
    gaussians: PositionGaussians,
    channels: number,
    reduction?: FeatureReduction,
    opts: SessionOptions = {},
    tolerance?: { grid: { width: number; height: number }; cells: number },
  ): Promise<MahalanobisSearch> {
    return new MahalanobisSearch(channels, await createSession(mahalanobisGraph(gaussians, channels, reduction, tolerance), opts));
  }

  async distances(rows: Float32Array): Promise<Float32Array> {
    const out = await this.session.run({ features: new ort.Tensor('float32', rows, [rows.length / this.channels, this.channels]) });
    return out.patchScores!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Exact nearest-neighbour search of patch rows in a memory bank. */
export class NearestNeighbourSearch implements PatchDistances {
  private constructor(
    readonly channels: number,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(
    bank: Float32Array,
    channels: number,
    reduction?: FeatureReduction,
    opts: SessionOptions & { withPenalty?: boolean } = {},
  ): Promise<NearestNeighbourSearch> {
    const dim = reduction ? reduction.axes.length / channels : channels;
    const bankSize = bank.length / dim;
    if (!Number.isInteger(bankSize) || bankSize < 1) throw new Error(`memory bank of ${bank.length} values does not fit ${dim}-dimensional features`);
    const graph = nearestNeighbourGraph(bank, bankSize, channels, reduction, { withPenalty: opts.withPenalty });
    return new NearestNeighbourSearch(channels, await createSession(graph, opts));
  }

  /**
   * Exact distance of every row to its nearest bank row; with a search made
   * `withPenalty`, `penalty` [M] is added to the squared distance of each bank row.
   */
  async distances(rows: Float32Array, penalty?: Float32Array): Promise<Float32Array> {
    const count = rows.length / this.channels;
    const feeds: Record<string, ort.Tensor> = { features: new ort.Tensor('float32', rows, [count, this.channels]) };
    if (penalty) feeds.penalty = new ort.Tensor('float32', penalty, [penalty.length]);
    const out = await this.session.run(feeds);
    return out.patchScores!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class PatchCoreScorer {
  private constructor(
    readonly features: FeatureExtractor,
    readonly search: PatchDistances,
    private readonly mapSession: ort.InferenceSession,
  ) {}

  /** With `padim`, patches are scored by PaDiM's Gaussians instead of the bank. */
  static async create(
    features: FeatureExtractor,
    bank: Float32Array,
    opts: { sigma: number; reduction?: FeatureReduction; padim?: PositionGaussians; padimTolerance?: number } & SessionOptions,
  ): Promise<PatchCoreScorer> {
    const { channels, height, width } = features.shape;
    const search = opts.padim
      ? await MahalanobisSearch.create(opts.padim, channels, opts.reduction, opts, { grid: { width, height }, cells: opts.padimTolerance ?? 0 })
      : await NearestNeighbourSearch.create(bank, channels, opts.reduction, opts);
    const map = await createSession(anomalyMapGraph({ height, width }, features.inputSize, opts.sigma), opts);
    return new PatchCoreScorer(features, search, map);
  }

  async scoreFeatures(rows: Float32Array, featureTimings: FeatureTimings): Promise<PatchScores> {
    const t0 = performance.now();
    const patchScores = await this.search.distances(rows);
    const t1 = performance.now();
    const mapOut = await this.mapSession.run({ patchScores: new ort.Tensor('float32', patchScores, [patchScores.length]) });
    const t2 = performance.now();
    const score = valueRange(patchScores).max;
    const knnMs = t1 - t0;
    const mapMs = t2 - t1;
    return {
      score,
      patchScores,
      map: mapOut.map!.data as Float32Array,
      timings: { ...featureTimings, knnMs, mapMs, totalMs: featureTimings.backboneMs + featureTimings.aggregateMs + knnMs + mapMs },
    };
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
