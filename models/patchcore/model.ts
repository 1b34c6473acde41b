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

/** Options of the memory-bank search. */
export interface SearchOptions {
  /** Adds the `penalty` input (bank rows left out of the search). */
  withPenalty?: boolean;
  /** PatchCore's image-score reweighting over this many bank neighbours (0 or absent: off). */
  reweightNeighbours?: number;
}

/** Exact nearest-neighbour search of patch rows in a memory bank. */
export class NearestNeighbourSearch implements PatchDistances {
  private constructor(
    readonly channels: number,
    private readonly session: ort.InferenceSession,
    readonly reweightNeighbours: number,
  ) {}

  static async create(bank: Float32Array, channels: number, reduction?: FeatureReduction, opts: SessionOptions & SearchOptions = {}): Promise<NearestNeighbourSearch> {
    const dim = reduction ? reduction.axes.length / channels : channels;
    const bankSize = bank.length / dim;
    if (!Number.isInteger(bankSize) || bankSize < 1) throw new Error(`memory bank of ${bank.length} values does not fit ${dim}-dimensional features`);
    const reweightNeighbours = opts.reweightNeighbours ?? 0;
    const graph = nearestNeighbourGraph(bank, bankSize, channels, reduction, { withPenalty: opts.withPenalty, reweightNeighbours });
    return new NearestNeighbourSearch(channels, await createSession(graph, opts), reweightNeighbours);
  }

  /**
   * Exact distance of every row to its nearest bank row; with a search made
   * `withPenalty`, `penalty` [M] is added to the squared distance of each bank row.
   */
  async distances(rows: Float32Array, penalty?: Float32Array): Promise<Float32Array> {
    return (await this.run(rows, penalty)).patchScores;
  }

  /**
   * The distances and the image score: the largest distance, or with
   * reweighting PatchCore's reweighted score from the same graph run.
   */
  async score(rows: Float32Array, penalty?: Float32Array): Promise<{ patchScores: Float32Array; score: number }> {
    const { patchScores, imageScore } = await this.run(rows, penalty);
    return { patchScores, score: imageScore ?? valueRange(patchScores).max };
  }

  private async run(rows: Float32Array, penalty?: Float32Array): Promise<{ patchScores: Float32Array; imageScore?: number }> {
    const count = rows.length / this.channels;
    const feeds: Record<string, ort.Tensor> = { features: new ort.Tensor('float32', rows, [count, this.channels]) };
    if (penalty) feeds.penalty = new ort.Tensor('float32', penalty, [penalty.length]);
    const out = await this.session.run(feeds);
    const patchScores = out.patchScores!.data as Float32Array;
    return this.reweightNeighbours > 0 ? { patchScores, imageScore: (out.imageScore!.data as Float32Array)[0]! } : { patchScores };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Each of the first `samples` golden samples scored against the bank without
 * its own patches (`positions` bank-candidate rows per image; the candidates
 * may hold several views of every sample, view-major, whose rows are left out
 * with it): good scores from parts the bank has (almost) not seen, for the
 * tail of the good-score distribution. `sampleRows(i)` gives sample i's
 * unreduced patch rows. With reweighting, the scores are reweighted as the
 * product's are, over the bank without the sample's rows.
 */
export async function leftOutScores(
  bank: { rows: Float32Array; picked: Int32Array; size: number },
  samples: number,
  positions: number,
  sampleRows: (i: number) => Float32Array,
  search: { channels: number; reduction?: FeatureReduction; session: SessionOptions; reweightNeighbours?: number },
  onScored?: () => void,
): Promise<number[]> {
  if (samples === 0) return [];
  const nn = await NearestNeighbourSearch.create(bank.rows, search.channels, search.reduction, { ...search.session, withPenalty: true, reweightNeighbours: search.reweightNeighbours });
  const scores: number[] = [];
  const penalty = new Float32Array(bank.size);
  for (let i = 0; i < samples; i++) {
    for (let m = 0; m < bank.size; m++) penalty[m] = Math.floor(bank.picked[m]! / positions) % samples === i ? 1e30 : 0;
    scores.push((await nn.score(sampleRows(i), penalty)).score);
    onScored?.();
  }
  await nn.release();
  return scores;
}
