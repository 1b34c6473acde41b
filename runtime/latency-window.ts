/**
 * The most recent latencies of one camera, for the p50/p99 figures in health
 * messages. A fixed ring buffer: memory stays flat however long the line runs.
 */
export class LatencyWindow {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(readonly capacity = 1024) {
    this.values = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.values[this.next] = ms;
    this.next = (this.next + 1) % this.capacity;
    this.filled = Math.min(this.filled + 1, this.capacity);
  }

  get size(): number {
    return this.filled;
  }

  /** Nearest-rank percentile (p in 0..100) of the kept values; null when empty. */
  percentile(p: number): number | null {
    return percentile(this.values.subarray(0, this.filled), p);
  }
}

/** Nearest-rank percentile: the smallest value with at least p % of the values at or below it. */
export function percentile(values: ArrayLike<number>, p: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}
