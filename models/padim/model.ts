/**
 * PaDiM at inference: its Mahalanobis graph (graph.ts) in an ONNX Runtime
 * session, as the patch distances of a PatchScorer.
 */
import ort from 'onnxruntime-node';
import { createSession, type SessionOptions } from '../session.ts';
import type { FeatureReduction } from '../features/reduction.ts';
import type { PatchDistances } from '../features/patch-scorer.ts';
import type { PositionGaussians } from './gaussian.ts';
import { mahalanobisGraph } from './graph.ts';

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
