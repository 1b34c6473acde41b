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

/** Images (HWC RGB 0..255) as one NHWC tensor [n, H, W, 3]; one image is passed without a copy. */
function inputTensor(images: { data: Float32Array }[], size: InputSize): ort.Tensor {
  const frame = size.width * size.height * 3;
  for (const image of images) {
    if (image.data.length !== frame) throw new Error(`image holds ${image.data.length} values, the model expects ${size.width}x${size.height}x3`);
  }
  const data = images.length === 1 ? images[0]!.data : new Float32Array(frame * images.length);
  if (images.length > 1) images.forEach((image, i) => data.set(image.data, i * frame));
  return new ort.Tensor('float32', data, [images.length, size.height, size.width, 3]);
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

  /**
   * Whether several images can go through the backbone in one run: graphs
   * emitted from the layer IR have a symbolic batch dimension; a user-supplied
   * ONNX extractor may fix it at 1.
   */
  get batchable(): boolean {
    return this.backbone.ir !== undefined;
  }

  async extract(image: { data: Float32Array }): Promise<Features> {
    return this.run([image]);
  }

  /**
   * Patch rows of several images from one backbone and one aggregation run
   * (rows [n * positions, channels], image after image); timings are the
   * whole batch's. Falls back to one run per image when the backbone is not
   * batchable.
   */
  async extractBatch(images: { data: Float32Array }[]): Promise<Features> {
    if (images.length <= 1 || this.batchable) return this.run(images);
    const parts: Features[] = [];
    for (const image of images) parts.push(await this.run([image]));
    const rows = new Float32Array(parts.reduce((n, p) => n + p.rows.length, 0));
    let offset = 0;
    for (const p of parts) {
      rows.set(p.rows, offset);
      offset += p.rows.length;
    }
    const sum = (key: keyof FeatureTimings) => parts.reduce((s, p) => s + p.timings[key], 0);
    return { rows, timings: { backboneMs: sum('backboneMs'), aggregateMs: sum('aggregateMs') } };
  }

  private async run(images: { data: Float32Array }[]): Promise<Features> {
    const t0 = performance.now();
    const layerOut = await this.backboneSession.run({ image: inputTensor(images, this.inputSize) });
    const t1 = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    for (const l of this.layers) feeds[l.name] = layerOut[l.name]!;
    const agg = await this.aggregateSession.run(feeds);
    const t2 = performance.now();
    return { rows: agg.features!.data as Float32Array, timings: { backboneMs: t1 - t0, aggregateMs: t2 - t1 } };
  }
}
