/**
 * The figures of `npm run bench:opcua`: each triggered part matched with the
 * result events received for its part id, giving the trigger-to-event
 * latencies and the parts with no event (missing) or more than one
 * (duplicated). Events for part ids never triggered are counted apart.
 */
import { percentile } from '../runtime/latency-window.ts';

export interface TriggerResultStats {
  parts: number;
  events: number;
  missing: string[];
  duplicated: string[];
  unexpected: number;
  latencyMs: { p50: number | null; p99: number | null; max: number | null };
}

/** `sent`: part id -> time the trigger was sent; `received`: every result event with its arrival time, in arrival order. */
export function matchResults(sent: ReadonlyMap<string, number>, received: readonly { partId: string; at: number }[]): TriggerResultStats {
  const byPart = new Map<string, number[]>();
  let unexpected = 0;
  for (const r of received) {
    if (!sent.has(r.partId)) {
      unexpected++;
      continue;
    }
    const arrivals = byPart.get(r.partId) ?? [];
    arrivals.push(r.at);
    byPart.set(r.partId, arrivals);
  }
  const latencies: number[] = [];
  const missing: string[] = [];
  const duplicated: string[] = [];
  for (const [partId, at] of sent) {
    const arrivals = byPart.get(partId);
    if (!arrivals) missing.push(partId);
    else {
      latencies.push(arrivals[0]! - at);
      if (arrivals.length > 1) duplicated.push(partId);
    }
  }
  return {
    parts: sent.size,
    events: received.length,
    missing,
    duplicated,
    unexpected,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.length ? Math.max(...latencies) : null },
  };
}
