/**
 * F2PAD at inference: the glue that runs the objective graph (f2pad-graph.ts)
 * and the candidate search in ONNX Runtime sessions for one product, and
 * hands `refineF2pad` its feature objective. Needs a backbone with a layer IR
 * (linesight's own backbones; not `onnx:` files).
 */
import ort from 'onnxruntime-node';
import type { Backbone } from '../backbones/registry.ts';
import { nearestCandidatesGraph } from '../patchcore/graphs.ts';
import type { FeatureReduction } from '../features/reduction.ts';
import type { FeatureExtractor } from '../features/extractor.ts';
import { createSession, type SessionOptions } from '../session.ts';
import type { F2padSettings } from '../../config/refine.ts';
import { refineF2pad, type F2padResult, type FeatureObjective } from './f2pad.ts';
import { f2padObjectiveGraph } from './f2pad-graph.ts';
import type { PixelPrior } from './pixel-prior.ts';

/** What enrollment stores for F2PAD: the pixel prior and a few golden references. */
export interface RefineModel {
  prior: PixelPrior;
  /** Golden samples at the input size, HWC RGB 0..255 (8-bit, as decoded: 1/4 the memory of floats). */
  references: Uint8Array[];
}

/**
 * Grid positions whose cell, grown by one cell on every side, overlaps the
 * region: the features the region's pixels can change.
 */
export function positionWeights(region: Uint8Array, width: number, height: number, grid: { width: number; height: number }): Float32Array {
  const touched = new Uint8Array(grid.width * grid.height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!region[y * width + x]) continue;
      touched[Math.min(grid.height - 1, Math.floor((y * grid.height) / height)) * grid.width + Math.min(grid.width - 1, Math.floor((x * grid.width) / width))] = 1;
    }
  }
  const weights = new Float32Array(touched.length);
  for (let gy = 0; gy < grid.height; gy++) {
    for (let gx = 0; gx < grid.width; gx++) {
      if (!touched[gy * grid.width + gx]) continue;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = gy + dy;
          const xx = gx + dx;
          if (yy >= 0 && yy < grid.height && xx >= 0 && xx < grid.width) weights[yy * grid.width + xx] = 1;
        }
      }
    }
  }
  return weights;
}

export class F2padModel {
  private constructor(
    private readonly extractor: FeatureExtractor,
    private readonly bank: Float32Array,
    private readonly dim: number,
    private readonly candidateCount: number,
    private readonly objectiveSession: ort.InferenceSession,
    private readonly candidateSession: ort.InferenceSession,
    readonly refine: RefineModel,
  ) {}

  static async create(
    backbone: Backbone,
    extractor: FeatureExtractor,
    bank: Float32Array,
    refine: RefineModel,
    opts: { candidates: number; reduction?: FeatureReduction } & SessionOptions,
  ): Promise<F2padModel> {
    if (!backbone.ir) throw new Error(`F2PAD needs the layer description of the backbone; ${backbone.id} is an ONNX file without one`);
    const { channels } = extractor.shape;
    const dim = opts.reduction ? opts.reduction.axes.length / channels : channels;
    const bankSize = bank.length / dim;
    const candidates = Math.min(opts.candidates, bankSize);
    const objective = f2padObjectiveGraph(backbone.ir, {
      layers: extractor.layers,
      aggregation: extractor.aggregation,
      inputSize: [extractor.inputSize.height, extractor.inputSize.width],
      candidates,
      reduction: opts.reduction,
    });
    return new F2padModel(
      extractor,
      bank,
      dim,
      candidates,
      await createSession(objective, opts),
      await createSession(nearestCandidatesGraph(bank, bankSize, channels, candidates, opts.reduction), opts),
      refine,
    );
  }

  /** The feature objective for `region`, with each position's candidates taken at `initial`. */
  async objective(initial: Float32Array, region: Uint8Array): Promise<FeatureObjective> {
    const { width, height } = this.extractor.inputSize;
    const grid = { width: this.extractor.shape.width, height: this.extractor.shape.height };
    const positions = grid.width * grid.height;
    const { rows } = await this.extractor.extract({ data: initial });
    const found = await this.candidateSession.run({ features: new ort.Tensor('float32', rows, [positions, this.extractor.shape.channels]) });
    const indices = found.indices!.data as BigInt64Array;
    const k = this.candidateCount;
    const candidates = new Float32Array(positions * k * this.dim);
    for (let i = 0; i < positions * k; i++) {
      const m = Number(indices[i]);
      candidates.set(this.bank.subarray(m * this.dim, (m + 1) * this.dim), i * this.dim);
    }
    const feeds = {
      candidates: new ort.Tensor('float32', candidates, [positions, k, this.dim]),
      weights: new ort.Tensor('float32', positionWeights(region, width, height, grid), [positions]),
    };
    return {
      evaluate: async (image) => {
        const out = await this.objectiveSession.run({ ...feeds, image: new ort.Tensor('float32', image, [1, height, width, 3]) });
        return { loss: (out.loss!.data as Float32Array)[0]!, grad: out.grad_image!.data as Float32Array };
      },
    };
  }

  /** Refines the backbone's mask of one frame (HWC RGB 0..255 at the input size). */
  refineMask(image: Float32Array, initialMask: Uint8Array, settings: F2padSettings): Promise<F2padResult> {
    const { width, height } = this.extractor.inputSize;
    return refineF2pad(
      {
        image,
        width,
        height,
        initialMask,
        references: this.refine.references,
        prior: this.refine.prior,
        objective: (initial, region) => this.objective(initial, region),
      },
      settings,
    );
  }

  async release(): Promise<void> {
    await this.objectiveSession.release();
    await this.candidateSession.release();
  }
}
