/**
 * PatchCore's fit: the memory bank built from the golden samples' (reduced)
 * patch features by greedy coreset selection, so the bank covers every
 * patch seen with a fraction of the rows (Roth et al. 2022 §3.2).
 */
import { coresetGreedy, gatherRows } from '../components/coreset.ts';

export interface MemoryBankSettings {
  /** Share of the patches kept in the bank (at least one row). */
  coresetRatio: number;
  /** Dimension of the random projection coreset distances are measured in; 0 = none. */
  projectionDim: number;
  seed: number;
}

export interface MemoryBank {
  /** The picked rows, [size, dim]. */
  rows: Float32Array;
  /** Index of every bank row among the patches it was picked from. */
  picked: Int32Array;
  size: number;
  /** Patches the bank was picked from. */
  totalPatches: number;
}

/** The memory bank of the first `totalPatches` rows of `rows` [*, dim]: `size` rows (default: `coresetRatio` of them). */
export function fitMemoryBank(
  rows: Float32Array,
  totalPatches: number,
  dim: number,
  settings: MemoryBankSettings,
  onProgress?: (done: number, total: number) => void,
  size = Math.max(1, Math.round(totalPatches * settings.coresetRatio)),
): MemoryBank {
  const picked = coresetGreedy(rows.subarray(0, totalPatches * dim), totalPatches, dim, size, { projectionDim: settings.projectionDim, seed: settings.seed, onProgress });
  return { rows: gatherRows(rows, dim, picked), picked, size, totalPatches };
}
