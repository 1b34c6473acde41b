/**
 * PatchCore's memory bank topped up with the patches of new golden samples
 * (pure functions): greedy farthest-point selection continued from the
 * existing bank, as the coreset itself was built, so a new patch joins the
 * bank only where the bank does not yet cover it, and near duplicates of
 * what the bank holds are left out.
 */

/** Squared Euclidean distance of row a of `x` and row b of `y`, both [*, dim]. */
function squaredDistance(x: Float32Array, a: number, y: Float32Array, b: number, dim: number): number {
  let s = 0;
  for (let c = 0; c < dim; c++) {
    const d = x[a * dim + c]! - y[b * dim + c]!;
    s += d * d;
  }
  return s;
}

/**
 * The coverage radius the bank's greedy coreset reached, estimated from the
 * bank alone: every pick of a greedy k-centre coreset lies at least the final
 * radius from every earlier pick, so in the space the coreset picked in, the
 * distances of bank rows to their nearest other bank row bound it from
 * above. The coreset picks in a random projection, whose distortion puts the
 * lowest of these distances well below the true radius: a quantile of them
 * (default the median, over up to `sampleRows` rows spread over the bank)
 * stands for it.
 */
export function bankCoverageRadius(bank: Float32Array, size: number, dim: number, opts: { sampleRows?: number; quantile?: number } = {}): number {
  if (size < 2) return 0;
  const sample = Math.min(size, opts.sampleRows ?? 1024);
  const nearest: number[] = [];
  for (let k = 0; k < sample; k++) {
    const a = Math.floor((k * size) / sample);
    let best = Infinity;
    for (let b = 0; b < size; b++) if (b !== a) best = Math.min(best, squaredDistance(bank, a, bank, b, dim));
    nearest.push(Math.sqrt(best));
  }
  nearest.sort((x, y) => x - y);
  return nearest[Math.min(nearest.length - 1, Math.floor((opts.quantile ?? 0.5) * nearest.length))]!;
}

/**
 * Indices of the new patches `rows` [count, dim] that join the bank, in the
 * order picked: repeatedly the new patch farthest from the bank (and from the
 * patches already picked), while that distance exceeds `radius` and fewer
 * than `budget` were picked. `bankDistances[i]` is patch i's distance to the
 * nearest row of the existing bank.
 */
export function coresetTopUp(rows: Float32Array, count: number, dim: number, bankDistances: Float32Array, radius: number, budget = count): Int32Array {
  if (bankDistances.length !== count) throw new Error(`expected ${count} bank distances, got ${bankDistances.length}`);
  const nearest = Float64Array.from(bankDistances, (d) => d * d);
  const r2 = radius * radius;
  // A patch within the radius is never picked and its distance only shrinks: it drops out for good.
  let open = Int32Array.from({ length: count }, (_, i) => i).filter((i) => nearest[i]! > r2);
  const picked: number[] = [];
  while (picked.length < budget && open.length > 0) {
    let far = open[0]!;
    for (const i of open) if (nearest[i]! > nearest[far]!) far = i;
    picked.push(far);
    for (const i of open) nearest[i] = Math.min(nearest[i]!, squaredDistance(rows, i, rows, far, dim));
    open = open.filter((i) => nearest[i]! > r2);
  }
  return Int32Array.from(picked);
}
