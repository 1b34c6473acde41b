/**
 * `npm run bench:levers`: the accuracy levers of enrollment side by side on
 * the hard development set (fixtures/devset-hard.ts), one `eval` per lever
 * with everything else at its default and the same seed. A lever is a set of
 * enroll settings laid over the defaults (feature dimension and reduction,
 * PatchCore's image-score reweighting, bank augmentation, a stride-4 layer,
 * input size, CutSwap adaptation, float32), or a mask refinement measured
 * against the thresholded mask it starts from (F2PAD).
 *
 * Per lever: image and pixel AUROC (mean over categories), image AUROC of the
 * hardest defect types (cut-and-paste, scratches, stains), recall at the
 * calibrated threshold, false-reject rate on the unseen good test parts, ms
 * per frame, enroll seconds; for refinement levers mask IoU before and after,
 * and the ms per flagged frame. Settings are chosen on the tuning split; the
 * held-out split reports them.
 *
 * Two times per frame: `eval` (mean over categories of each one's median
 * scoring time, measured while that lever's evaluation ran) and `interleaved`
 * (every lever's product of the first category kept, then the same frames
 * scored by each in turn, `--speed-frames` rounds, median). On a machine
 * shared with other jobs the load changes over a long run, so only the
 * interleaved times compare levers with one another.
 *
 *   npm run bench:levers -- [--split tune|holdout] [--categories textures|objects|all|a,b]
 *     [--levers baseline,reweight9,...] [--dataset <root>] [--speed-frames 30]
 *
 * Ends with one JSON line, also written to `.bench/levers.json`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { enrollSettingsSchema, inferenceSettingsSchema, type EnrollSettings } from '../config/enroll.ts';
import { readCategory } from '../eval/dataset.ts';
import { evaluateDataset, type EvalReport, type EvalStage } from '../eval/evaluate.ts';
import { readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { alignColumns } from '../eval/report.ts';
import { HARD_OBJECTS, HARD_TEXTURES } from '../fixtures/devset-hard.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

/** One configuration measured: enroll settings over the defaults, and mask refinements to compare. */
interface Lever {
  id: string;
  what: string;
  settings: Partial<EnrollSettings>;
  /** Mask refinements measured, the first being the thresholded mask the others start from. */
  refine?: EvalStage[];
}

/** The stride-8 and stride-16 default pair with MobileNetV2's stride-4 block in front. */
const STRIDE4_LAYERS = ['block_2_add', 'block_5_add', 'block_12_add'];

const LEVERS: Lever[] = [
  { id: 'baseline', what: 'defaults (PCA to 48, no reweighting, no augmentation)', settings: {} },
  { id: 'dim96', what: 'PCA to 96 dimensions', settings: { featureDim: 96 } },
  { id: 'dimfull', what: 'no reduction (all 128 channels)', settings: { featureDim: 0 } },
  { id: 'random48', what: 'random projection to 48 instead of PCA', settings: { featureReduction: 'random' } },
  { id: 'random96', what: 'random projection to 96', settings: { featureReduction: 'random', featureDim: 96 } },
  { id: 'reweight3', what: 'PatchCore reweighting, b = 3', settings: { reweightNeighbours: 3 } },
  { id: 'reweight9', what: 'PatchCore reweighting, b = 9', settings: { reweightNeighbours: 9 } },
  { id: 'flips', what: 'bank + left-right and top-bottom mirrors', settings: { bankAugment: 'flips' } },
  { id: 'dihedral', what: 'bank + all 7 flips and quarter turns', settings: { bankAugment: 'dihedral' } },
  // The stride-4 grid has 4x the positions: a 2.5 % coreset keeps the bank the size of the default's 10 %.
  { id: 'stride4', what: 'block_2_add + default pair, 56x56 grid, coreset 2.5 %', settings: { layers: STRIDE4_LAYERS, coresetRatio: 0.025 } },
  { id: 'stride4-10', what: 'block_2_add + default pair, coreset 10 % (4x bank)', settings: { layers: STRIDE4_LAYERS } },
  { id: 'input320', what: 'input 320 px (40x40 grid), coreset 10 %', settings: { inputSize: 320 } },
  { id: 'cutswap', what: 'CutSwap feature adaptation', settings: { adapt: 'cutswap' } },
  { id: 'float32', what: 'float32 backbone (the default is int8)', settings: { precision: 'float32' } },
  { id: 'mobilenet-mid', what: 'backbone mobilenet_v2_mid (width 1.4, float weights), its default layers', settings: { backbone: 'mobilenet_v2_mid' } },
  { id: 'inception', what: 'backbone inception_v3, its default layers', settings: { backbone: 'inception_v3' } },
  // F2PAD from the F1-optimal mask (the paper's protocol) and from the calibrated one (what a device refines).
  { id: 'f2pad', what: 'F2PAD mask refinement vs the thresholded mask', settings: {}, refine: ['none', 'f2pad', 'calibrated', 'f2pad-calibrated'] },
  {
    id: 'combined',
    what: 'the two best of the tuning split together: PCA to 96 + the stride-4 layer',
    settings: { featureDim: 96, layers: STRIDE4_LAYERS, coresetRatio: 0.025 },
  },
];

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'tune' },
    categories: { type: 'string', default: 'textures' },
    levers: { type: 'string' },
    dataset: { type: 'string' },
    'speed-frames': { type: 'string', default: '30' },
  },
});
const speedFrames = Number(values['speed-frames']);
if (values.split !== 'tune' && values.split !== 'holdout') throw new Error(`--split ${values.split}: use tune or holdout`);
const dataset = values.dataset ?? `.devset-hard-${values.split}`;
if (!existsSync(dataset)) {
  if (values.dataset) throw new Error(`dataset ${dataset} does not exist`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--hard', '--split', values.split], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const GROUPS: Record<string, string[] | undefined> = { textures: Object.keys(HARD_TEXTURES), objects: Object.keys(HARD_OBJECTS), all: undefined };
const categories = values.categories! in GROUPS ? GROUPS[values.categories!] : values.categories!.split(',').map((s) => s.trim()).filter(Boolean);
const wanted = values.levers?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = wanted?.filter((id) => !LEVERS.some((l) => l.id === id)) ?? [];
if (unknown.length > 0) throw new Error(`unknown lever(s) ${unknown.join(', ')} (known: ${LEVERS.map((l) => l.id).join(', ')})`);
const levers = wanted ? LEVERS.filter((l) => wanted.includes(l.id)) : LEVERS.filter((l) => l.id !== 'combined');
const inference = inferenceSettingsSchema.parse({});

/** What one lever measured. */
interface LeverResult {
  id: string;
  what: string;
  settings: Partial<EnrollSettings>;
  /** Why the lever could not be measured (its numbers are then NaN). */
  error?: string;
  imageAUROC: number;
  pixelAUROC: number;
  byType: Record<string, number>;
  recall: number;
  frr: number;
  msPerFrame: number;
  /** Median ms per frame with every lever's product scoring the same frames in turn (first category). */
  msInterleaved: number;
  enrollSeconds: number;
  perCategory: Record<string, number>;
  masks?: Record<string, { iou: number; dice: number; fpPixelRate: number; msPerRefine: number }>;
}

function summarise(lever: Lever, report: EvalReport): LeverResult {
  const m = report.mean;
  const masks = lever.refine && lever.refine.length > 0
    ? Object.fromEntries(
        Object.entries(report.stages).map(([mode, s]) => [mode, { iou: round(s!.mean.iou, 4), dice: round(s!.mean.dice, 4), fpPixelRate: round(s!.mean.fpPixelRate, 6), msPerRefine: round(s!.mean.msPerRefine, 1) }]),
      )
    : undefined;
  return {
    id: lever.id,
    what: lever.what,
    settings: lever.settings,
    imageAUROC: round(m.imageAUROC, 4),
    pixelAUROC: round(m.pixelAUROC, 4),
    byType: Object.fromEntries(Object.entries(m.byType).map(([type, b]) => [type, round(b.imageAUROC, 4)])),
    recall: round(m.recall, 4),
    frr: round(m.frr, 4),
    msPerFrame: round(m.msPerImage, 1),
    msInterleaved: NaN,
    enrollSeconds: round(m.enrollSeconds, 1),
    perCategory: Object.fromEntries(Object.entries(report.categories).map(([c, r]) => [c, round(r.imageAUROC, 4)])),
    ...(masks ? { masks } : {}),
  };
}

function failed(lever: Lever): LeverResult {
  const { id, what, settings } = lever;
  return { id, what, settings, imageAUROC: NaN, pixelAUROC: NaN, byType: {}, recall: NaN, frr: NaN, msPerFrame: NaN, msInterleaved: NaN, enrollSeconds: NaN, perCategory: {} };
}

/**
 * Scores the first `frames` test images of `category` with every lever's
 * product, lever after lever for each frame (after 3 warm-up rounds), and
 * returns each lever's median ms per frame.
 */
async function interleavedSpeed(dirs: Map<string, string>, category: string, frames: number): Promise<Map<string, number>> {
  const scorers = new Map<string, ProductScorer>();
  for (const [id, dir] of dirs) scorers.set(id, await ProductScorer.load(dir, category, inference));
  const paths = (await readCategory(dataset, category)).test.map((item) => item.path).slice(0, 10);
  const images = new Map<string, { data: Float32Array }[]>();
  for (const [id, scorer] of scorers) images.set(id, await Promise.all(paths.map((p) => readImage(p, scorer.inputSize))));
  const times = new Map<string, number[]>([...scorers.keys()].map((id) => [id, []]));
  for (let i = -3; i < frames; i++) {
    for (const [id, scorer] of scorers) {
      const frame = images.get(id)![(i + 3) % paths.length]!;
      const t = performance.now();
      await scorer.score(frame);
      if (i >= 0) times.get(id)!.push(performance.now() - t);
    }
  }
  for (const scorer of scorers.values()) await scorer.release();
  return new Map([...times].map(([id, ms]) => [id, median(ms)]));
}

const productsRoot = await mkdtemp(join(tmpdir(), 'linesight-bench-levers-'));
const productDirs = new Map<string, string>();
const results: LeverResult[] = [];
for (const lever of levers) {
  const settings = enrollSettingsSchema.parse(lever.settings);
  const started = performance.now();
  console.error(`lever ${lever.id} (${lever.what}): ${dataset} ${categories?.join(', ') ?? 'every category'} ...`);
  let result: LeverResult;
  try {
    // Each lever's products are kept for the interleaved timing at the end.
    const dataDir = join(productsRoot, lever.id);
    result = summarise(lever, await evaluateDataset(dataset, categories, { settings, inference, refine: lever.refine, dataDir }));
    productDirs.set(lever.id, dataDir);
  } catch (err) {
    // One lever that cannot run (e.g. a setting a backbone lacks) does not cost the others' measurements.
    result = { ...failed(lever), error: (err as Error).message };
  }
  results.push(result);
  // Kept as the run goes, so a long run stopped half-way still has what it measured.
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/levers.partial.json', `${JSON.stringify(results)}\n`);
  console.error(
    `lever ${lever.id}: ${result.error ? `failed: ${result.error}` : `image AUROC ${result.imageAUROC}, pixel ${result.pixelAUROC}, ${result.msPerFrame} ms/frame`} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
  );
}

if (speedFrames > 0 && productDirs.size > 0) {
  const first = categories?.[0] ?? Object.keys(results.find((r) => !r.error)!.perCategory)[0]!;
  console.error(`interleaved timing: ${speedFrames} rounds of ${productDirs.size} products of ${first} ...`);
  const speed = await interleavedSpeed(productDirs, first, speedFrames);
  for (const r of results) r.msInterleaved = round(speed.get(r.id) ?? NaN, 1);
}
await rm(productsRoot, { recursive: true, force: true });

const pct = (v: number) => (Number.isFinite(v) ? (v * 100).toFixed(1) : '-');
const num = (v: number | undefined, d = 3) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : '-');
const baseline = results.find((r) => r.id === 'baseline');
console.log(`\nlevers on ${dataset} (${categories?.join(', ') ?? 'every category'}); image AUROC by type against the good test parts; recall and frr at the calibrated threshold`);
console.log(
  alignColumns([
    ['lever', 'image', 'Δ base', 'pixel', 'cutpaste', 'scratch', 'stain', 'recall %', 'frr %', 'ms eval', 'ms interleaved', 'enroll s'],
    ...results.map((r) => [
      r.id,
      num(r.imageAUROC),
      baseline ? `${r.imageAUROC >= baseline.imageAUROC ? '+' : ''}${((r.imageAUROC - baseline.imageAUROC) * 100).toFixed(1)}` : '-',
      num(r.pixelAUROC),
      num(r.byType.cutpaste),
      num(r.byType.scratch),
      num(r.byType.stain),
      pct(r.recall),
      pct(r.frr),
      num(r.msPerFrame, 1),
      num(r.msInterleaved, 1),
      num(r.enrollSeconds, 0),
    ]),
  ]).join('\n'),
);
for (const r of results.filter((x) => x.error)) console.log(`${r.id} failed: ${r.error}`);
const refined = results.filter((r) => r.masks);
if (refined.length > 0) {
  console.log('\nmask refinement (mean over categories; ms per flagged frame)');
  console.log(
    alignColumns([
      ['lever', 'refine', 'iou', 'dice', 'fp pixels %', 'ms'],
      ...refined.flatMap((r) => Object.entries(r.masks!).map(([mode, s]) => [r.id, mode, num(s.iou), num(s.dice), (s.fpPixelRate * 100).toFixed(3), num(s.msPerRefine, 1)])),
    ]).join('\n'),
  );
}
writeBenchResult('levers', { dataset, split: values.split, categories: categories ?? 'all', seed: enrollSettingsSchema.parse({}).seed, speedFrames, levers: results });
