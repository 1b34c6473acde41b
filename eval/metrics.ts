/**
 * Accuracy metrics (pure functions). Written by hand because they must be
 * exact and fast on millions of pixels, and small enough to check by hand.
 */
import { labelComponents } from '../models/components/connected-components.ts';

function split(scores: ArrayLike<number>, labels: ArrayLike<number>): { pos: Float32Array; neg: Float32Array } {
  if (scores.length !== labels.length) throw new Error(`${scores.length} scores for ${labels.length} labels`);
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) p++;
  const pos = new Float32Array(p);
  const neg = new Float32Array(labels.length - p);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) pos[a++] = scores[i]!;
    else neg[b++] = scores[i]!;
  }
  return { pos, neg };
}

/** Area under the ROC curve (Mann-Whitney U; ties count one half). */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { pos, neg } = split(scores, labels);
  if (pos.length === 0 || neg.length === 0) throw new Error('AUROC needs both good and defective samples');
  pos.sort();
  neg.sort();
  let u = 0;
  let below = 0; // negatives strictly below the current positive
  let j = 0;
  for (let i = 0; i < pos.length; ) {
    const v = pos[i]!;
    let k = i;
    while (k < pos.length && pos[k] === v) k++;
    while (j < neg.length && neg[j]! < v) j++;
    below = j;
    let equal = 0;
    while (j + equal < neg.length && neg[j + equal] === v) equal++;
    u += (k - i) * (below + equal / 2);
    i = k;
  }
  return u / (pos.length * neg.length);
}

export interface F1Result {
  f1: number;
  threshold: number;
  precision: number;
  recall: number;
}

/** Best F1 over all thresholds (a sample is positive when score >= threshold). */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): F1Result {
  const { pos, neg } = split(scores, labels);
  if (pos.length === 0) throw new Error('F1 needs at least one defective sample');
  pos.sort();
  neg.sort();
  // Walk thresholds from high to low over the distinct values of both lists.
  let i = pos.length - 1;
  let j = neg.length - 1;
  let tp = 0;
  let fp = 0;
  let best: F1Result = { f1: 0, threshold: Infinity, precision: 0, recall: 0 };
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? pos[i]! : -Infinity, j >= 0 ? neg[j]! : -Infinity);
    while (i >= 0 && pos[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === v) {
      fp++;
      j--;
    }
    const precision = tp / (tp + fp);
    const recall = tp / pos.length;
    const f1 = tp === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    if (f1 > best.f1) best = { f1, threshold: v, precision, recall };
  }
  return best;
}

/**
 * Area under the per-region-overlap curve for FPR in [0, fprLimit], divided
 * by fprLimit. Regions are the 8-connected components of each ground-truth
 * mask; PRO(t) is the mean over regions of the share of their pixels scoring
 * >= t, FPR(t) the share of normal pixels scoring >= t. Exact: every distinct
 * score is a threshold.
 */
export function aupro(maps: Float32Array[], masks: Uint8Array[], width: number, height: number, fprLimit = 0.3): number {
  const n = width * height;
  const total = maps.length * n;
  const scores = new Float32Array(total);
  const region = new Int32Array(total); // -1 = normal pixel, else region index
  const regionSize: number[] = [];
  let normals = 0;
  maps.forEach((map, m) => {
    const { labels, areas } = labelComponents(masks[m]!, width, height, 8);
    const base = regionSize.length;
    regionSize.push(...areas);
    for (let i = 0; i < n; i++) {
      scores[m * n + i] = map[i]!;
      region[m * n + i] = labels[i] ? base + labels[i]! - 1 : -1;
      if (!labels[i]) normals++;
    }
  });
  if (regionSize.length === 0 || normals === 0) throw new Error('AUPRO needs defect regions and normal pixels');
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  order.sort((a, b) => scores[b]! - scores[a]!);
  let fp = 0;
  let proSum = 0; // sum over regions of covered share
  let area = 0;
  let prevFpr = 0;
  let prevPro = 0;
  for (let k = 0; k < total; ) {
    const v = scores[order[k]!]!;
    while (k < total && scores[order[k]!] === v) {
      const r = region[order[k]!]!;
      if (r < 0) fp++;
      else proSum += 1 / regionSize[r]!;
      k++;
    }
    const fpr = fp / normals;
    const pro = proSum / regionSize.length;
    if (fpr >= fprLimit) {
      const t = fpr === prevFpr ? 0 : (fprLimit - prevFpr) / (fpr - prevFpr);
      area += ((prevPro + (prevPro + t * (pro - prevPro))) / 2) * (fprLimit - prevFpr);
      return area / fprLimit;
    }
    area += ((prevPro + pro) / 2) * (fpr - prevFpr);
    prevFpr = fpr;
    prevPro = pro;
  }
  return area / fprLimit;
}

export interface MaskScores {
  iou: number;
  dice: number;
  tp: number;
  fp: number;
  fn: number;
}

/** Overlap of a predicted and a ground-truth binary mask; two empty masks agree fully. */
export function maskScores(pred: Uint8Array, gt: Uint8Array): MaskScores {
  if (pred.length !== gt.length) throw new Error(`mask sizes differ: ${pred.length} vs ${gt.length}`);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    if (pred[i] && gt[i]) tp++;
    else if (pred[i]) fp++;
    else if (gt[i]) fn++;
  }
  const union = tp + fp + fn;
  return { iou: union === 0 ? 1 : tp / union, dice: union === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn), tp, fp, fn };
}

/** Image-level numbers of one defect type. */
export interface DefectTypeMetrics {
  /** Image AUROC of this type's images against all good images (NaN without good images). */
  imageAUROC: number;
  /** Share of this type's images rejected at the threshold (score >= threshold). */
  recall: number;
  /** Images of this type. */
  count: number;
}

/**
 * Per defect type (`types[i]`, `good` for normal images): each type's image
 * scores against all good images' scores, and its recall at `threshold`.
 */
export function byDefectType(scores: ArrayLike<number>, types: readonly string[], threshold: number, goodType = 'good'): Record<string, DefectTypeMetrics> {
  if (scores.length !== types.length) throw new Error(`${scores.length} scores for ${types.length} types`);
  const good: number[] = [];
  const defective = new Map<string, number[]>();
  for (let i = 0; i < types.length; i++) {
    const type = types[i]!;
    if (type === goodType) good.push(scores[i]!);
    else defective.set(type, [...(defective.get(type) ?? []), scores[i]!]);
  }
  const out: Record<string, DefectTypeMetrics> = {};
  for (const type of [...defective.keys()].sort()) {
    const own = defective.get(type)!;
    const labels = [...own.map(() => 1), ...good.map(() => 0)];
    out[type] = {
      imageAUROC: good.length > 0 ? auroc([...own, ...good], labels) : NaN,
      recall: own.filter((s) => s >= threshold).length / own.length,
      count: own.length,
    };
  }
  return out;
}

/**
 * Mean over categories of each defect type's numbers, over the categories
 * that have the type; `count` is the total.
 */
export function meanByDefectType(all: Record<string, DefectTypeMetrics>[]): Record<string, DefectTypeMetrics> {
  const types = [...new Set(all.flatMap((m) => Object.keys(m)))].sort();
  const out: Record<string, DefectTypeMetrics> = {};
  for (const type of types) {
    const present = all.map((m) => m[type]).filter((m): m is DefectTypeMetrics => m !== undefined);
    const mean = (key: 'imageAUROC' | 'recall') => present.reduce((s, m) => s + m[key], 0) / present.length;
    out[type] = { imageAUROC: mean('imageAUROC'), recall: mean('recall'), count: present.reduce((s, m) => s + m.count, 0) };
  }
  return out;
}
