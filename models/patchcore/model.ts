/**
 * PatchCore at inference: its nearest-neighbour graph (graphs.ts) in an ONNX
 * Runtime session, as the patch distances of a PatchScorer.
 */
import ort from 'onnxruntime-node';
import { createSession, type SessionOptions } from '../session.ts';
import type { FeatureReduction } from '../features/reduction.ts';
import type { PatchDistances } from '../features/patch-scorer.ts';
import { valueRange } from '../components/value-range.ts';
import { nearestNeighbourGraph } from './graphs.ts';

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

/**
 * Each of the first `samples` golden samples scored against the bank without
 * its own patches (`positions` bank-candidate rows per sample): good scores
 * from parts the bank has (almost) not seen, for the tail of the good-score
 * distribution. `sampleRows(i)` gives sample i's unreduced patch rows.
 */
export async function leftOutScores(
  bank: { rows: Float32Array; picked: Int32Array; size: number },
  samples: number,
  positions: number,
  sampleRows: (i: number) => Float32Array,
  search: { channels: number; reduction?: FeatureReduction; session: SessionOptions },
  onScored?: () => void,
): Promise<number[]> {
  if (samples === 0) return [];
  const nn = await NearestNeighbourSearch.create(bank.rows, search.channels, search.reduction, { ...search.session, withPenalty: true });
  const scores: number[] = [];
  const penalty = new Float32Array(bank.size);
  for (let i = 0; i < samples; i++) {
    for (let m = 0; m < bank.size; m++) penalty[m] = Math.floor(bank.picked[m]! / positions) === i ? 1e30 : 0;
    scores.push(valueRange(await nn.distances(sampleRows(i), penalty)).max);
    onScored?.();
  }
  await nn.release();
  return scores;
}
