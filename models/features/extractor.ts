/**
 * The backbone feature session every patch-feature scorer reads: backbone +
 * aggregation graph in ONNX Runtime, one image -> patch rows. Shared by
 * every product and camera that use the same backbone, layers and input size.
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { Backbone } from '../backbones/registry.ts';
import { emitInt8Forward, type ActivationRanges } from '../onnx/emit-int8.ts';
import { createSession, type SessionOptions } from '../session.ts';
import { aggregatedShape, aggregationGraph, type Aggregation, type AggregatedShape, type FeatureLayerShape } from './aggregation.ts';

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

function inputTensor(image: { data: Float32Array }, size: InputSize): ort.Tensor {
  if (image.data.length !== size.width * size.height * 3) {
    throw new Error(`image holds ${image.data.length} values, the model expects ${size.width}x${size.height}x3`);
  }
  return new ort.Tensor('float32', image.data, [1, size.height, size.width, 3]);
}

/** The float backbone graph, or the int8 one (QDQ, from the same layer IR) when activation ranges are given. */
export function backboneGraph(backbone: Backbone, layers: string[], inputSize: InputSize, int8Ranges?: ActivationRanges): Uint8Array {
  const size: [number, number] = [inputSize.height, inputSize.width];
  if (!int8Ranges) return backbone.buildGraph(layers, size);
  if (!backbone.ir) throw new Error(`backbone ${backbone.id} has no layer description, so it has no int8 version; use precision float32`);
  return emitInt8Forward(backbone.ir, { outputs: layers, inputSize: size, ranges: int8Ranges });
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
    int8Ranges?: ActivationRanges,
  ): Promise<FeatureExtractor> {
    const backboneSession = await createSession(backboneGraph(backbone, layerNames, inputSize, int8Ranges), sessionOptions);
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
