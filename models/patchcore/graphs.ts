/**
 * PatchCore's scoring graphs (pure graph emission, no I/O): patch rows [P, C]
 * (optionally reduced to D dimensions) against the memory bank [M, D] ->
 * exact distance to the nearest bank feature per patch, as one Gemm
 * (b^2 - 2 x.b) + ReduceMin + x^2, so the hot loop runs in ONNX Runtime's
 * GEMM; and the nearest bank rows of every patch, for mask refinement.
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
 */
export function nearestNeighbourGraph(bank: Float32Array, bankSize: number, channels: number, reduction?: FeatureReduction, opts: { withPenalty?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder('nearest-neighbour');
  const { x, partial } = emitBankDistances(g, bank, bankSize, channels, reduction);
  const penalised = opts.withPenalty ? g.op('Add', [partial, g.input('penalty', [bankSize])]) : partial;
  const minPartial = g.op('ReduceMin', [penalised], { axes: [1], keepdims: 0 });
  const xNorm = g.op('ReduceSumSquare', [x], { axes: [1], keepdims: 0 });
  const squared = g.op('Relu', [g.op('Add', [minPartial, xNorm])]);
  g.output(g.op('Sqrt', [squared]), 'patchScores', ['q']);
  return g.toBytes();
}

/**
 * The `count` nearest bank rows of every patch. Input `features` [q, C];
 * output `indices` [q, count] (int64, nearest first).
 */
export function nearestCandidatesGraph(bank: Float32Array, bankSize: number, channels: number, count: number, reduction?: FeatureReduction): Uint8Array {
  const g = new GraphBuilder('nearest-candidates');
  const { partial } = emitBankDistances(g, bank, bankSize, channels, reduction);
  const k = g.int64s('k', [Math.min(count, bankSize)]);
  const [, indices] = g.node('TopK', [partial, k], { axis: 1, largest: 0, sorted: 1 }, 2);
  g.output(indices!, 'indices', ['q', Math.min(count, bankSize)], 'int64');
  return g.toBytes();
}

/** Input `features` [q, C] -> (reduced) rows x and partial[p, m] = |b_m|^2 - 2 x_p . b_m. */
function emitBankDistances(g: GraphBuilder, bank: Float32Array, bankSize: number, channels: number, reduction?: FeatureReduction) {
  const dim = reduction ? reduction.axes.length / channels : channels;
  if (bank.length !== bankSize * dim) throw new Error(`memory bank holds ${bank.length} values, expected ${bankSize} x ${dim}`);
  const x = reduceInGraph(g, g.input('features', ['q', channels]), channels, reduction);
  const bT = g.initializer('bank_t', transposeMatrix(bank, bankSize, dim), [dim, bankSize]);
  const bNorm = g.initializer('bank_sq_norm', squaredNorms(bank, bankSize, dim), [bankSize]);
  // The |x_p|^2 term is the same for every bank row: added after the min, when needed.
  const partial = g.op('Gemm', [x, bT, bNorm], { alpha: { f: -2 }, beta: { f: 1 } });
  return { x, partial };
}
