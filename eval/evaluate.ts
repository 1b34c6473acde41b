/**
 * Accuracy evaluation on MVTec-layout data: each category is enrolled from its
 * `train/good` images exactly as a technician would enroll a product, then
 * every test image is scored and compared with its ground truth.
 *
 * Metrics (per category, then the mean over categories):
 * - imageAUROC: image scores vs good/defective labels;
 * - pixelAUROC: anomaly-map values vs ground-truth pixels over all test images;
 * - aupro: area under the per-region-overlap curve up to FPR 0.3, normalised;
 * - f1max: best image-level F1 over all score thresholds;
 * - iou, dice: binary masks at the pixel threshold that maximises pixel F1
 *   (the protocol of papers/f2pad.txt), mean over defective test images;
 * - msPerImage: median scoring time of one image (features, nearest neighbour, map).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnrollSettings, InferenceSettings } from '../config/schema.ts';
import { readImage, readMask } from '../runtime/image-io.ts';
import { ProductScorer, thresholdMap } from '../runtime/product-scorer.ts';
import { enrollProduct, type EnrollProgress } from '../trainer/enroll.ts';
import { listCategories, readCategory } from './dataset.ts';
import { aupro, auroc, f1Max, maskScores } from './metrics.ts';

export interface CategoryMetrics {
  imageAUROC: number;
  pixelAUROC: number;
  aupro: number;
  f1max: number;
  pixelF1max: number;
  iou: number;
  dice: number;
  msPerImage: number;
  enrollSeconds: number;
  testImages: number;
  goldenSamples: number;
  bankSize: number;
}

export interface EvalReport {
  categories: Record<string, CategoryMetrics>;
  mean: CategoryMetrics;
  settings: Record<string, unknown>;
}

export interface EvalOptions {
  settings: EnrollSettings;
  inference: InferenceSettings;
  /** Where the evaluation's products are written (default: a temporary folder, removed afterwards). */
  dataDir?: string;
  onCategory?: (name: string, metrics: CategoryMetrics) => void;
  onProgress?: (category: string, stage: EnrollProgress['stage'] | 'test', done: number, total: number) => void;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function concat(arrays: Float32Array[] | Uint8Array[], Type: typeof Float32Array | typeof Uint8Array) {
  const out = new Type(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

export async function evaluateCategory(root: string, category: string, dataDir: string, opts: EvalOptions): Promise<CategoryMetrics> {
  const data = await readCategory(root, category);
  const productId = category.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+/, '') || 'category';
  const t0 = performance.now();
  const enrolled = await enrollProduct({
    productId,
    imagesDir: join(root, category, 'train', 'good'),
    dataDir,
    settings: opts.settings,
    inference: opts.inference,
    onProgress: (p) => opts.onProgress?.(category, p.stage, p.done, p.total),
  });
  const enrollSeconds = (performance.now() - t0) / 1000;
  const scorer = await ProductScorer.load(dataDir, productId, opts.inference, enrolled.version);
  const size = scorer.inputSize;

  const imageScores: number[] = [];
  const labels: number[] = [];
  const maps: Float32Array[] = [];
  const masks: Uint8Array[] = [];
  const times: number[] = [];
  for (const [i, item] of data.test.entries()) {
    const image = await readImage(item.path, size);
    const t = performance.now();
    const result = await scorer.scorer.score(image);
    times.push(performance.now() - t);
    imageScores.push(result.score);
    labels.push(item.label);
    maps.push(result.map);
    masks.push(item.maskPath ? await readMask(item.maskPath, size) : new Uint8Array(size.width * size.height));
    opts.onProgress?.(category, 'test', i + 1, data.test.length);
  }

  const allPixels = concat(maps, Float32Array) as Float32Array;
  const allTruth = concat(masks, Uint8Array) as Uint8Array;
  const pixelBest = f1Max(allPixels, allTruth);
  let iou = 0;
  let dice = 0;
  let defective = 0;
  for (const [i, map] of maps.entries()) {
    if (labels[i] !== 1) continue;
    const s = maskScores(thresholdMap(map, pixelBest.threshold), masks[i]!);
    iou += s.iou;
    dice += s.dice;
    defective++;
  }
  return {
    imageAUROC: auroc(imageScores, labels),
    pixelAUROC: auroc(allPixels, allTruth),
    aupro: aupro(maps, masks, size.width, size.height, 0.3),
    f1max: f1Max(imageScores, labels).f1,
    pixelF1max: pixelBest.f1,
    iou: defective ? iou / defective : NaN,
    dice: defective ? dice / defective : NaN,
    msPerImage: median(times),
    enrollSeconds,
    testImages: data.test.length,
    goldenSamples: enrolled.manifest.goldenSamples.count,
    bankSize: enrolled.manifest.coreset.size,
  };
}

export function meanMetrics(all: CategoryMetrics[]): CategoryMetrics {
  const keys = Object.keys(all[0] ?? {}) as (keyof CategoryMetrics)[];
  const mean = {} as CategoryMetrics;
  for (const k of keys) mean[k] = all.reduce((s, m) => s + m[k], 0) / all.length;
  return mean;
}

export async function evaluateDataset(root: string, categories: string[] | undefined, opts: EvalOptions): Promise<EvalReport> {
  const names = categories && categories.length > 0 ? categories : await listCategories(root);
  if (names.length === 0) throw new Error(`no categories in ${root} (expected <category>/train/good folders)`);
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'linesight-eval-')));
  try {
    const results: Record<string, CategoryMetrics> = {};
    for (const name of names) {
      results[name] = await evaluateCategory(root, name, dataDir, opts);
      opts.onCategory?.(name, results[name]);
    }
    return { categories: results, mean: meanMetrics(Object.values(results)), settings: { ...opts.settings } };
  } finally {
    if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}
