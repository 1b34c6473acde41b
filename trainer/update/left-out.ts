/**
 * Left-out good scores for an updated memory bank, as enrollment computes
 * them: every bank sample scored against the bank without its own rows. The
 * artifact does not keep which sample each bank row was picked from, but a
 * bank row is a copy of one of the samples' (reduced) patch rows, so with the
 * golden samples at hand each row's source is the sample owning its nearest
 * patch row; rows the update added are known by construction.
 */
import ort from 'onnxruntime-node';
import { nearestCandidatesGraph } from '../../models/patchcore/graphs.ts';
import { createSession, type SessionOptions } from '../../models/session.ts';

/**
 * For every row of `bank` [size, dim], the index of the sample owning its
 * nearest row among `sampleRows` [samples * positions, dim] (sample-major).
 */
export async function bankRowSources(bank: Float32Array, size: number, sampleRows: Float32Array, positions: number, dim: number, session: SessionOptions): Promise<Int32Array> {
  const count = sampleRows.length / dim;
  const s = await createSession(nearestCandidatesGraph(sampleRows, count, dim, 1), session);
  try {
    const out = await s.run({ features: new ort.Tensor('float32', bank.subarray(0, size * dim), [size, dim]) });
    const nearest = out.indices!.data as BigInt64Array;
    return Int32Array.from(nearest, (i) => Math.floor(Number(i) / positions));
  } finally {
    await s.release();
  }
}

/**
 * `picked` for the left-out scoring of an updated bank (models/patchcore
 * leftOutScores: row m belongs to sample floor(picked[m] / positions)):
 * earlier rows to their source among `samples` scored samples (-1: none of
 * them), added rows to sample `samples + image`, from `added` (the index of
 * each added row among the new images' patches, sample-major).
 */
export function updatedBankPicks(sources: Int32Array, samples: number, added: Int32Array, positions: number): Int32Array {
  return Int32Array.from([...Array.from(sources, (s) => (s < 0 ? -positions : s * positions)), ...Array.from(added, (row) => samples * positions + row)]);
}
