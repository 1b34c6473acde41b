/**
 * k-means on scalar values (Lloyd's algorithm). CutSwap clusters the values of
 * a saliency map into intensity levels; in one dimension this is a handful of
 * lines, deterministic with evenly spaced seeds, so no library is needed for it.
 * (Quantile seeds would collapse on saliency maps, whose values are mostly
 * one flat level.)
 */

import { valueRange } from './value-range.ts';

export interface Clusters1d {
  /** Cluster centres (an empty cluster keeps its seed). */
  centroids: number[];
  /** Cluster index (into `centroids`) of every value. */
  labels: Uint8Array;
}

export function kmeans1d(values: ArrayLike<number>, k: number, maxIterations = 50): Clusters1d {
  if (values.length === 0) throw new Error('k-means needs at least one value');
  if (k < 1 || k > 255) throw new Error(`k-means cluster count ${k} is out of range 1..255`);
  const { min: lo, max: hi } = valueRange(values);
  // Seeds evenly spaced over the value range: the same every run.
  let centroids = Array.from({ length: k }, (_, i) => lo + ((i + 0.5) / k) * (hi - lo));
  const labels = new Uint8Array(values.length);
  for (let iter = 0; iter < maxIterations; iter++) {
    const sums = new Float64Array(k);
    const counts = new Float64Array(k);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      let best = 0;
      for (let c = 1; c < k; c++) if (Math.abs(v - centroids[c]!) < Math.abs(v - centroids[best]!)) best = c;
      labels[i] = best;
      sums[best] = sums[best]! + v;
      counts[best] = counts[best]! + 1;
    }
    const next = centroids.map((c, j) => (counts[j]! > 0 ? sums[j]! / counts[j]! : c));
    const moved = next.some((c, j) => c !== centroids[j]);
    if (!moved) break;
    centroids = next;
  }
  return { centroids, labels };
}

/** Indices of the values in the (non-empty) cluster with the largest centre. */
export function topCluster(values: ArrayLike<number>, k: number): number[] {
  const { centroids, labels } = kmeans1d(values, k);
  const used = new Set(labels);
  let top = -1;
  for (let c = 0; c < centroids.length; c++) if (used.has(c) && (top < 0 || centroids[c]! > centroids[top]!)) top = c;
  const members: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] === top) members.push(i);
  return members;
}
