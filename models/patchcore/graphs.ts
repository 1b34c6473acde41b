/**
 * PatchCore's scoring graphs (pure graph emission, no I/O): patch rows [P, C]
 * (optionally reduced to D dimensions) against the memory bank [M, D] ->
 * exact distance to the nearest bank feature per patch, as Gemm
 * (b^2 - 2 x.b) + ReduceMin + x^2, so the hot loop runs in ONNX Runtime's
 * GEMM; optionally PatchCore's reweighted image score; and the nearest bank
 * rows of every patch, for mask refinement.
 *
 * The search runs over the bank in blocks of `BANK_BLOCK_ROWS` rows (one
 * Gemm + ReduceMin per block, then the Min of the blocks): one Gemm over the
 * whole bank writes a [patches x bank] matrix far larger than the CPU's
 * cache before ReduceMin reads it back, and most of the search's time went
 * into that traffic. Each element is the same dot product either way, so the
 * distances are the same; measured on this 2-core machine (784 patches, 48
 * dimensions, 4704 bank rows, one thread): 13.4 ms in one block, 4.8-5.6 ms
 * in blocks of 300-600 rows; 3136 patches (a batch of 4 frames): 53.6 ->
 * 23.3 ms.
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { transposeMatrix } from '../components/matrix.ts';
import { reduceInGraph, type FeatureReduction } from '../features/reduction.ts';

function squaredNorms(rows: Float32Array, count: number, dim: number): Float32Array {
  const norms = new Float32Array(count);
  for (let m = 0; m < count; m++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += rows[m * dim + c]! ** 2;
    norms[m] = s;
  }
  return norms;
}

/**
 * Exact nearest neighbour. Input `features` [q, C] (any number of rows),
 * optionally reduced to D dimensions first; the bank [M, D] is baked in.
 * Output `patchScores` [q]: Euclidean distance to the nearest bank row.
 * `withPenalty` adds an input `penalty` [M] added to every squared distance
 * (a huge value leaves a bank row out, e.g. the rows of the image being scored).
 * `reweightNeighbours` b > 0 adds the output `imageScore` [1]: PatchCore's
 * reweighted image score (see emitReweightedScore).
 */
export function nearestNeighbourGraph(
  bank: Float32Array,
  bankSize: number,
  channels: number,
  reduction?: FeatureReduction,
  opts: { withPenalty?: boolean; reweightNeighbours?: number } = {},
): Uint8Array {
  checkBank(bank, bankSize, channels, reduction);
  const g = new GraphBuilder('nearest-neighbour');
  const b = opts.reweightNeighbours ?? 0;
  const penalty = opts.withPenalty ? g.input('penalty', [bankSize]) : undefined;
  const x = reduceInGraph(g, g.input('features', ['q', channels]), channels, reduction);
  const xNorm = g.op('ReduceSumSquare', [x], { axes: [1], keepdims: 0 });
  if (b === 0) {
    g.output(patchDistances(g, emitBlockedMinimum(g, x, bank, bankSize, penalty), xNorm), 'patchScores', ['q']);
    return g.toBytes();
  }
  // Reweighting reads the worst patch's whole row of the distance matrix: one block.
  const { partial, bankT, bankNorm } = emitBankDistances(g, x, bank, bankSize);
  const penalised = penalty ? g.op('Add', [partial, penalty]) : partial;
  const scores = patchDistances(g, g.op('ReduceMin', [penalised], { axes: [1], keepdims: 0 }), xNorm);
  g.output(scores, 'patchScores', ['q']);
  g.output(emitReweightedScore(g, { scores, partial, penalised, penalty, xNorm, bankT, bankNorm, bankSize }, b), 'imageScore', [1]);
  return g.toBytes();
}

/** Bank rows per Gemm block of the search (see the file's comment). */
export const BANK_BLOCK_ROWS = 512;

/** sqrt(max(0, min_m partial + |x|^2)): the Euclidean distance to the nearest bank row. */
function patchDistances(g: GraphBuilder, minPartial: string, xNorm: string): string {
  return g.op('Sqrt', [g.op('Relu', [g.op('Add', [minPartial, xNorm])])]);
}

/** min over m of (|b_m|^2 - 2 x_p . b_m + penalty_m) per row p, block by block over the bank. */
function emitBlockedMinimum(g: GraphBuilder, x: string, bank: Float32Array, bankSize: number, penalty?: string): string {
  const dim = bank.length / bankSize;
  const minima: string[] = [];
  for (let start = 0, block = 0; start < bankSize; start += BANK_BLOCK_ROWS, block++) {
    const end = Math.min(bankSize, start + BANK_BLOCK_ROWS);
    const { partial } = emitBankDistances(g, x, bank.subarray(start * dim, end * dim), end - start, `_${block}`);
    const penalised = penalty ? g.op('Add', [partial, g.op('Slice', [penalty, g.int64s(`block_start_${block}`, [start]), g.int64s(`block_end_${block}`, [end])])]) : partial;
    minima.push(g.op('ReduceMin', [penalised], { axes: [1], keepdims: 0 }));
  }
  return minima.length === 1 ? minima[0]! : g.op('Min', minima);
}

/**
 * PatchCore's image score with reweighting (Roth et al. 2022, eq. 7):
 *
 *   s = (1 - exp |x* - m*| / sum over m in N_b(m*) of exp |x* - m|) * s*
 *
 * x* is the patch with the largest distance s* to the bank, m* its nearest
 * bank row and N_b(m*) the b bank rows nearest to m* (m* itself first). The
 * weight is 1 - softmax(distances of x* to N_b(m*))[m*]: between 1 - 1/b (x*
 * as far from m*'s neighbours as from m*: a dense, well-known region of the
 * bank) and 1 (m*'s neighbours far from x*: a rare region, whose distance is
 * trusted less to be nominal). Everything after the patch distances works on
 * one bank row of the worst patch: O(M D) per frame, against the O(q M D) of
 * the search itself. Rows left out by `penalty` are left out here too.
 */
function emitReweightedScore(
  g: GraphBuilder,
  v: { scores: string; partial: string; penalised: string; penalty?: string; xNorm: string; bankT: string; bankNorm: string; bankSize: number },
  neighbours: number,
): string {
  const worst = g.op('ArgMax', [v.scores], { axis: 0, keepdims: 1 }, 'worst_patch');
  const worstScore = g.op('Gather', [v.scores, worst], { axis: 0 }, 'worst_score');
  // |b_m|^2 - 2 x*.b_m for every bank row m: that patch's row of the distance matrix.
  const row = g.op('Gather', [v.partial, worst], { axis: 0 }, 'worst_row');
  const nearest = g.op('ArgMin', [v.penalty ? g.op('Gather', [v.penalised, worst], { axis: 0 }) : row], { axis: 1, keepdims: 0 }, 'nearest_bank_row');
  // Distances of m* to every bank row, up to its own |m*|^2: |b_m|^2 - 2 m*.b_m.
  const star = g.op('Gather', [v.bankT, nearest], { axis: 1 });
  let around = g.op('Gemm', [star, v.bankT, v.bankNorm], { transA: 1, alpha: { f: -2 }, beta: { f: 1 } });
  if (v.penalty) around = g.op('Add', [around, v.penalty]);
  const [, support] = g.node('TopK', [around, g.int64s('neighbours', [Math.min(neighbours, v.bankSize)])], { axis: 1, largest: 0, sorted: 1 }, 2, 'bank_neighbours');
  const supportPartial = g.op('GatherElements', [row, support!], { axis: 1 });
  const worstNorm = g.op('Gather', [v.xNorm, worst], { axis: 0 });
  const distances = g.op('Sqrt', [g.op('Relu', [g.op('Add', [supportPartial, worstNorm])])]);
  const softmax = g.op('Softmax', [distances], { axis: 1 });
  const own = g.op('Reshape', [g.op('Slice', [softmax, g.int64s('first', [0]), g.int64s('second', [1]), g.int64s('axis', [1])]), g.int64s('one', [1])]);
  const weight = g.op('Sub', [g.floats('unit', [1]), own], {}, 'reweight');
  return g.op('Mul', [weight, worstScore]);
}

/**
 * The `count` nearest bank rows of every patch. Input `features` [q, C];
 * output `indices` [q, count] (int64, nearest first).
 */
export function nearestCandidatesGraph(bank: Float32Array, bankSize: number, channels: number, count: number, reduction?: FeatureReduction): Uint8Array {
  checkBank(bank, bankSize, channels, reduction);
  const g = new GraphBuilder('nearest-candidates');
  const x = reduceInGraph(g, g.input('features', ['q', channels]), channels, reduction);
  const { partial } = emitBankDistances(g, x, bank, bankSize);
  const k = g.int64s('k', [Math.min(count, bankSize)]);
  const [, indices] = g.node('TopK', [partial, k], { axis: 1, largest: 0, sorted: 1 }, 2);
  g.output(indices!, 'indices', ['q', Math.min(count, bankSize)], 'int64');
  return g.toBytes();
}

/** Rows x [q, D] against bank rows [M, D] -> partial[p, m] = |b_m|^2 - 2 x_p . b_m (`suffix` names a block's constants). */
function emitBankDistances(g: GraphBuilder, x: string, bank: Float32Array, bankSize: number, suffix = '') {
  const dim = bank.length / bankSize;
  if (!Number.isInteger(dim)) throw new Error(`memory bank holds ${bank.length} values, not a whole number of ${bankSize} rows`);
  const bT = g.initializer(`bank_t${suffix}`, transposeMatrix(bank, bankSize, dim), [dim, bankSize]);
  const bNorm = g.initializer(`bank_sq_norm${suffix}`, squaredNorms(bank, bankSize, dim), [bankSize]);
  // The |x_p|^2 term is the same for every bank row: added after the min, when needed.
  const partial = g.op('Gemm', [x, bT, bNorm], { alpha: { f: -2 }, beta: { f: 1 } });
  return { partial, bankT: bT, bankNorm: bNorm };
}

/** The bank's dimension must be the reduced feature's: checked once per graph. */
function checkBank(bank: Float32Array, bankSize: number, channels: number, reduction?: FeatureReduction): void {
  const dim = reduction ? reduction.axes.length / channels : channels;
  if (bank.length !== bankSize * dim) throw new Error(`memory bank holds ${bank.length} values, expected ${bankSize} x ${dim}`);
}
