/**
 * `npm run bench:cutswap`: feature adaptation and threshold calibration side
 * by side on the development set, in one run. Every category is enrolled and
 * evaluated three times — plain backbone features, adapted on CutSwap
 * negatives, adapted on CutPaste negatives — at the same settings (default: a
 * 1 % coreset, where the CutSwap paper reports adaptation helping most).
 * Prints image/pixel AUROC, false-reject rate and recall per variant, the
 * three calibration methods of the plain variant, adaptation training time,
 * and ends with the JSON line also written to `.bench/cutswap.json`.
 *
 *   npm run bench:cutswap [-- --coreset 0.01 --categories pcb,fabric --epochs 30]
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { evaluateDataset, type EvalReport } from '../eval/evaluate.ts';
import { median } from '../models/components/median.ts';
import { round, writeBenchResult } from './bench-common.ts';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: process.env.LINESIGHT_DEVSET ?? '.devset' },
    coreset: { type: 'string', default: '0.01' },
    categories: { type: 'string' },
    epochs: { type: 'string' },
  },
});
const dataset = values.dataset!;
if (!existsSync(dataset)) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--out', dataset], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const categories = values.categories?.split(',').map((s) => s.trim()).filter(Boolean);
const variants = ['none', 'cutswap', 'cutpaste'] as const;
const reports: Partial<Record<(typeof variants)[number], EvalReport>> = {};
for (const adapt of variants) {
  const settings = enrollSettingsSchema.parse({
    coresetRatio: Number(values.coreset),
    adapt,
    ...(values.epochs ? { adaptation: { epochs: Number(values.epochs) } } : {}),
  });
  console.error(`adapt ${adapt}: enrolling and evaluating ${categories?.join(', ') ?? 'every category'} ...`);
  reports[adapt] = await evaluateDataset(dataset, categories, { settings, inference: inferenceSettingsSchema.parse({}) });
}

const pct = (v: number, d = 1) => `${(v * 100).toFixed(d)} %`.padStart(9);
console.log(`\nimage AUROC per category (coreset ${values.coreset})`);
const names = Object.keys(reports.none!.categories);
console.log(['adapt'.padEnd(10), ...names.map((n) => n.padStart(8)), 'mean'.padStart(8)].join(' '));
for (const adapt of variants) {
  const r = reports[adapt]!;
  console.log([adapt.padEnd(10), ...names.map((n) => r.categories[n]!.imageAUROC.toFixed(3).padStart(8)), r.mean.imageAUROC.toFixed(3).padStart(8)].join(' '));
}
console.log(`\n${'adapt'.padEnd(10)} ${'imageAUROC'.padStart(10)} ${'pixelAUROC'.padStart(10)} ${'frr'.padStart(9)} ${'recall'.padStart(9)} ${'train s'.padStart(8)}`);
const summary: Record<string, unknown> = {};
for (const adapt of variants) {
  const r = reports[adapt]!;
  const trainSeconds = median(Object.values(r.categories).map((c) => c.adaptSeconds));
  console.log(`${adapt.padEnd(10)} ${r.mean.imageAUROC.toFixed(3).padStart(10)} ${r.mean.pixelAUROC.toFixed(3).padStart(10)} ${pct(r.mean.frr, 2)} ${pct(r.mean.recall)} ${trainSeconds.toFixed(1).padStart(8)}`);
  summary[adapt] = {
    imageAUROC: round(r.mean.imageAUROC, 4),
    pixelAUROC: round(r.mean.pixelAUROC, 4),
    frr: round(r.mean.frr, 4),
    recall: round(r.mean.recall, 4),
    adaptSecondsMedian: round(trainSeconds, 1),
    adaptSecondsMax: round(Math.max(...Object.values(r.categories).map((c) => c.adaptSeconds)), 1),
    perCategoryImageAUROC: Object.fromEntries(Object.entries(r.categories).map(([n, c]) => [n, round(c.imageAUROC, 4)])),
  };
}
const calibrations = reports.none!.calibrations;
console.log(`\ncalibration (plain features): ${'frr'.padStart(9)} ${'recall'.padStart(9)} ${'expected frr'.padStart(13)} ${'missed synth.'.padStart(13)}`);
for (const [method, c] of Object.entries(calibrations)) {
  const m = c!.mean;
  console.log(`${method.padEnd(29)} ${pct(m.frr, 2)} ${pct(m.recall)} ${pct(m.expectedFrr, 2).padStart(13)} ${pct(m.expectedMiss).padStart(13)}`);
}
writeBenchResult('cutswap', {
  coreset: Number(values.coreset),
  categories: names,
  adapt: summary,
  calibrations: Object.fromEntries(
    Object.entries(calibrations).map(([k, c]) => [k, { frr: round(c!.mean.frr, 4), recall: round(c!.mean.recall, 4), expectedFrr: round(c!.mean.expectedFrr, 4), expectedMiss: round(c!.mean.expectedMiss, 4) }]),
  ),
});
