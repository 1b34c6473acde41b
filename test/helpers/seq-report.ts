/**
 * What a receiver got of a stream of rejects numbered 1..sent: the seqs that
 * never arrived, how many arrived more than once (at-least-once delivery; a
 * PLC de-duplicates by seq), and whether first arrivals kept seq order.
 */

export interface SeqReport {
  sent: number;
  /** Distinct seqs received. */
  received: number;
  /** Seqs of 1..sent never received. */
  lost: number[];
  /** Arrivals beyond the first of a seq. */
  duplicates: number;
  /** First arrivals came in seq order. */
  inOrder: boolean;
}

export function seqReport(sent: number, arrivals: number[]): SeqReport {
  const seen = new Set<number>();
  const firsts: number[] = [];
  for (const seq of arrivals) {
    if (seen.has(seq)) continue;
    seen.add(seq);
    firsts.push(seq);
  }
  const lost: number[] = [];
  for (let seq = 1; seq <= sent; seq++) if (!seen.has(seq)) lost.push(seq);
  return {
    sent,
    received: seen.size,
    lost,
    duplicates: arrivals.length - seen.size,
    inOrder: firsts.every((seq, i) => i === 0 || seq > firsts[i - 1]!),
  };
}

/** One line for a test log and the broker cluster notes. */
export function describeSeqReport(name: string, r: SeqReport): string {
  return `${name}: sent ${r.sent}, received ${r.received}, lost ${r.lost.length}${r.lost.length ? ` (${r.lost.slice(0, 10).join(', ')})` : ''}, duplicates ${r.duplicates}, ${r.inOrder ? 'in order' : 'OUT OF ORDER'}`;
}
