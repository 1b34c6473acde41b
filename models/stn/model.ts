/**
 * The spatial transformer at inference: runs the alignment graph in an ONNX
 * Runtime session, so every frame is put into the product's canonical pose
 * before the backbone sees it (enrollment aligns golden samples the same way).
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { createSession, type SessionOptions } from '../session.ts';
import { alignmentGraph } from './graph.ts';
import type { LocalisationShape, LocalisationWeights } from './localisation-net.ts';
import type { Similarity } from './pose.ts';

export interface Alignment {
  /** The frame in canonical pose, HWC RGB 0..255 at the input size. */
  data: Float32Array;
  /** The sampling matrix the localisation net chose. */
  pose: Similarity;
  ms: number;
}

export class Aligner {
  private constructor(
    readonly inputSize: { width: number; height: number },
    private readonly session: ort.InferenceSession,
  ) {}

  /**
   * `scaleRange`: the size change either way the transformer was trained on
   * (its pose ranges' scale); `framing`: the product's framing of the aligned
   * part (models/stn/framing.ts), the whole frame when absent.
   */
  static async create(
    inputSize: { width: number; height: number },
    shape: LocalisationShape,
    weights: LocalisationWeights,
    scaleRange: number,
    opts: SessionOptions = {},
    framing?: Similarity,
  ): Promise<Aligner> {
    return new Aligner(inputSize, await createSession(alignmentGraph(inputSize, shape, weights, scaleRange, framing), opts));
  }

  async align(image: { data: Float32Array }): Promise<Alignment> {
    const { width, height } = this.inputSize;
    if (image.data.length !== width * height * 3) throw new Error(`image holds ${image.data.length} values, the aligner expects ${width}x${height}x3`);
    const t0 = performance.now();
    const out = await this.session.run({ image: new ort.Tensor('float32', image.data, [1, height, width, 3]) });
    const p = out.pose!.data as Float32Array;
    return { data: out.aligned!.data as Float32Array, pose: [p[0]!, p[1]!, p[2]!, p[3]!], ms: performance.now() - t0 };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
