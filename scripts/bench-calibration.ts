/**
 * `npm run bench:calibration`: does the reject threshold keep its promise on
 * unseen good parts? Per category of the hard development set
 * (fixtures/devset-hard.ts), one enrollment with `--views` camera-jittered
 * views of every held-out golden sample, then every test image scored once;
 * the threshold is refitted (trainer/calibrate.ts, pure) from the same scores
 * with the first 0, 1, 2, ... of those views, so every view count is compared
 * on the same bank, held-out samples and test scores.
 *
 * Per category and view count: the target false-reject rate, the one measured
 * on the good test parts at that threshold, their ratio, and recall on the
 * defective test parts. `--ranges-scale` scales every jitter range (1: the
 * defaults of config/enroll.ts). Choose on the tune split; the holdout split
 * only reports.
 *
 *   npm run bench:calibration -- [--split tune|holdout] [--dataset <root>]
 *     [--categories a,b] [--views 8] [--counts 0,2,4,8] [--ranges-scale 1] [--target-frr 0.005]
 *
 * Ends with one JSON line, also written to `.bench/calibration-<split>.json`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { calibrationJitterSchema, enrollSettingsSchema, inferenceSettingsSchema, type EnrollSettings } from '../config/enroll.ts';
import { readCategory } from '../eval/dataset.ts';
import { frrPromise, rejectRates } from '../eval/evaluate.ts';
import { checkBackbone, DEFAULT_BACKBONE_DIR, linkBackbone } from '../eval/preflight.ts';
import { alignColumns } from '../eval/report.ts';
import { HARD_CATEGORIES } from '../fixtures/devset-hard.ts';
import { readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { thresholdChoices } from '../trainer/calibrate.ts';
import { runEnrollment } from '../trainer/enroll.ts';
import type { Calibration } from '../trainer/stages/context.ts';
import { round, writeBenchResult } from './bench-common.ts';

const { values } = parseArgs({
  options: {
    split: { type: 'string', default: 'tune' },
    dataset: { type: 'string' },
    categories: { type: 'string' },
    views: { type: 'string', default: '8' },
    counts: { type: 'string' },
    'ranges-scale': { type: 'string', default: '1' },
    'target-frr': { type: 'string', default: '0.005' },
  },
});

interface Row {
  category: string;
  views: number;
  threshold: number;
  targetFrr: number;
  frr: number;
  frrRatio: number;
  within2x: number;
  recall: number;
}

/** The held-out scores with the first `k` jittered views of each sample (the stage stores `views` per sample, sample by sample). */
function withViews(c: Calibration, views: number, k: number): number[] {
  return c.heldOutScores.flatMap((_, i) => c.jitterScores.slice(i * views, i * views + k));
}

function scaledRanges(scale: number): EnrollSettings['calibrationJitter'] {
  const d = calibrationJitterSchema.parse({});
  return { rotation: d.rotation * scale, zoom: d.zoom * scale, shift: d.shift * scale, gain: d.gain * scale, offset: d.offset * scale, noise: d.noise * scale };
}

async function benchCategory(root: string, category: string, dataDir: string, settings: EnrollSettings, counts: number[]): Promise<Row[]> {
  const inference = inferenceSettingsSchema.parse({});
  const ctx = await runEnrollment({ productId: category, imagesDir: join(root, category, 'train', 'good'), dataDir, settings, inference });
  const c = ctx.calibration!;
  const scorer = await ProductScorer.load(dataDir, category, inference, ctx.result!.version);
  const scores: number[] = [];
  const labels: number[] = [];
  for (const item of (await readCategory(root, category)).test) {
    scores.push((await scorer.score(await readImage(item.path, scorer.inputSize))).score);
    labels.push(item.label);
  }
  await scorer.release();
  return counts.map((k) => {
    const choice = thresholdChoices(
      { heldOut: c.heldOutScores, jittered: withViews(c, settings.calibrationJitterViews, k), leftOut: c.leftOutScores, negative: c.negativeScores },
      { targetFrr: settings.targetFrr, margin: settings.thresholdMargin },
    )[settings.calibrate];
    const rates = rejectRates(scores, labels, choice.threshold);
    const promise = frrPromise(rates.frr, settings.targetFrr);
    return { category, views: k, threshold: choice.threshold, targetFrr: settings.targetFrr, frr: rates.frr, frrRatio: promise.frrRatio, within2x: promise.frrWithin2x, recall: rates.recall };
  });
}

const root = values.dataset ?? `.devset-hard-${values.split}`;
const views = Number(values.views);
const counts = values.counts ? values.counts.split(',').map(Number) : [0, 1, 2, 4, 8].filter((k) => k <= views);
const settings = enrollSettingsSchema.parse({
  calibrationJitterViews: views,
  calibrationJitter: scaledRanges(Number(values['ranges-scale'])),
  targetFrr: Number(values['target-frr']),
  contactSheet: false,
});
const categories = values.categories?.split(',') ?? HARD_CATEGORIES;
await checkBackbone(settings, DEFAULT_BACKBONE_DIR);
const dataDir = await mkdtemp(join(tmpdir(), 'linesight-bench-calibration-'));
const rows: Row[] = [];
try {
  await linkBackbone(settings, dataDir, DEFAULT_BACKBONE_DIR);
  for (const category of categories) {
    const t = performance.now();
    const got = await benchCategory(root, category, dataDir, settings, counts);
    rows.push(...got);
    const line = got.map((r) => `${r.views}v frr ${(r.frr * 100).toFixed(1)}% (x${r.frrRatio.toFixed(1)}) recall ${(r.recall * 100).toFixed(1)}%`).join('; ');
    console.error(`${category} (${((performance.now() - t) / 1000).toFixed(0)} s): ${line}`);
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}

const pct = (v: number, d: number) => (Number.isFinite(v) ? (v * 100).toFixed(d) : '-');
const table = [['category', 'views', 'threshold', 'targetFrr%', 'frr%', 'ratio', 'within2x', 'recall%']];
for (const r of rows) table.push([r.category, String(r.views), r.threshold.toFixed(3), pct(r.targetFrr, 2), pct(r.frr, 1), r.frrRatio.toFixed(1), r.within2x ? 'yes' : 'no', pct(r.recall, 1)]);
for (const k of counts) {
  const at = rows.filter((r) => r.views === k);
  const mean = (f: (r: Row) => number) => at.reduce((s, r) => s + f(r), 0) / at.length;
  table.push([`mean`, String(k), '', pct(settings.targetFrr, 2), pct(mean((r) => r.frr), 1), mean((r) => r.frrRatio).toFixed(1), `${at.filter((r) => r.within2x).length}/${at.length}`, pct(mean((r) => r.recall), 1)]);
}
console.log(alignColumns(table).join('\n'));
writeBenchResult(`calibration-${values.split}`, {
  split: values.split,
  views,
  rangesScale: Number(values['ranges-scale']),
  ranges: settings.calibrationJitter,
  rows: rows.map((r) => ({ ...r, threshold: round(r.threshold, 4), frr: round(r.frr, 4), frrRatio: round(r.frrRatio, 2), recall: round(r.recall, 4) })),
});
