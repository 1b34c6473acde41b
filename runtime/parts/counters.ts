/**
 * The counters a PLC reads per camera (retained on MQTT, on /metrics, on the
 * Live page): parts, OK, NG, no-verdict, trigger errors, the processing time
 * of the last 1000 parts (min/mean/max) and the current reject rate. Memory
 * stays flat however long the line runs: the recent parts live in a ring.
 *
 * Processing time is a verdict's `latencyMs`: trigger to verdict in trigger
 * mode, the part leaving the view to its verdict in presence mode. The reject
 * rate is the share of the last 1000 parts the PLC was told to reject (NG
 * parts and no-verdict parts under a `reject` fail-safe).
 */

export const RECENT_PARTS = 1000;

export interface PartCountersSnapshot {
  parts: number;
  ok: number;
  ng: number;
  noVerdict: number;
  triggerErrors: number;
  /** Over the last `RECENT_PARTS` parts; null before the first part. */
  processingMs: { min: number; mean: number; max: number } | null;
  /** Share (0..1) of the last `RECENT_PARTS` parts whose action was `reject`; null before the first part. */
  rejectRate: number | null;
}

export class PartCounters {
  private counts = { parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0 };
  private readonly latency = new Float64Array(RECENT_PARTS);
  private readonly rejected = new Uint8Array(RECENT_PARTS);
  private next = 0;
  private filled = 0;

  recordPart(verdict: 'ok' | 'reject' | 'no_verdict', action: 'pass' | 'reject', latencyMs: number): void {
    this.counts.parts++;
    if (verdict === 'ok') this.counts.ok++;
    else if (verdict === 'reject') this.counts.ng++;
    else this.counts.noVerdict++;
    this.latency[this.next] = latencyMs;
    this.rejected[this.next] = action === 'reject' ? 1 : 0;
    this.next = (this.next + 1) % RECENT_PARTS;
    this.filled = Math.min(this.filled + 1, RECENT_PARTS);
  }

  recordTriggerError(): void {
    this.counts.triggerErrors++;
  }

  snapshot(): PartCountersSnapshot {
    if (this.filled === 0) return { ...this.counts, processingMs: null, rejectRate: null };
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let rejects = 0;
    for (let i = 0; i < this.filled; i++) {
      const v = this.latency[i]!;
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
      rejects += this.rejected[i]!;
    }
    return { ...this.counts, processingMs: { min, mean: sum / this.filled, max }, rejectRate: rejects / this.filled };
  }

  /** Back to zero (the reset command). */
  reset(): void {
    this.counts = { parts: 0, ok: 0, ng: 0, noVerdict: 0, triggerErrors: 0 };
    this.next = 0;
    this.filled = 0;
  }
}
