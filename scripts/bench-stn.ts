/**
 * `npm run bench:stn`: pose alignment measured on the pose-varied development
 * set (scripts/make-devset.ts --pose): every part at a random rotation (a full
 * turn: `-pose360`, +-30 deg: `-pose30`) and shift (+-15 % of the frame), and
 * the same parts all laid the same way (`-pose0`, the aligned control). Each
 * category is enrolled and evaluated with and without the spatial transformer,
 * for both scorers (PatchCore memory bank, PaDiM Gaussians), in one run; the
 * transformer's range is the category's (180 deg for -pose360, 30 deg
 * otherwise: the default a technician would leave on an aligned line).
 * Optionally the siamese registration loss beside the image loss.
 * Prints image AUROC per category and variant, transformer training time,
 * SSIM of restored held-out samples and alignment time per frame, and ends
 * with the JSON line also written to `.bench/stn.json`.
 *
 *   npm run bench:stn [-- --scorers patchcore,padim --losses image,siamese --parts pcb,label]
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { evaluateDataset, type CategoryMetrics } from '../eval/evaluate.ts';
import { median } from '../models/components/median.ts';
import { POSE_PARTS } from '../fixtures/devset.ts';
import { round, writeBenchResult } from './bench-common.ts';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: process.env.LINESIGHT_POSE_DEVSET ?? '.devset-pose' },
    scorers: { type: 'string', default: 'patchcore,padim' },
    losses: { type: 'string', default: 'image' },
    parts: { type: 'string', default: POSE_PARTS.join(',') },
    poses: { type: 'string', default: '360,30,0' },
    name: { type: 'string', default: 'stn' },
  },
});
const list = (s: string) => s.split(',').map((v) => v.trim()).filter(Boolean);
const dataset = values.dataset!;
if (!existsSync(dataset)) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--pose', '--out', dataset], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const variants: { scorer: string; align: string; loss: string }[] = [];
for (const scorer of list(values.scorers!)) {
  variants.push({ scorer, align: 'none', loss: '-' });
  for (const loss of list(values.losses!)) variants.push({ scorer, align: 'stn', loss });
}
const inference = inferenceSettingsSchema.parse({});
const results: Record<string, Record<string, CategoryMetrics>> = {};
const key = (v: (typeof variants)[number]) => (v.align === 'none' ? `${v.scorer}/none` : `${v.scorer}/stn-${v.loss}`);
for (const v of variants) {
  results[key(v)] = {};
  for (const pose of list(values.poses!)) {
    const categories = list(values.parts!).map((p) => `${p}-pose${pose}`);
    const settings = enrollSettingsSchema.parse({
      scorer: v.scorer,
      align: v.align,
      stn: { rotation: pose === '360' ? 180 : 30, ...(v.loss !== '-' ? { loss: v.loss } : {}) },
    });
    console.error(`${key(v)}: ${categories.join(', ')} ...`);
    const report = await evaluateDataset(dataset, categories, { settings, inference });
    Object.assign(results[key(v)]!, report.categories);
  }
}

const names = Object.keys(Object.values(results)[0]!);
console.log(`\nimage AUROC (pose-varied development set, ${dataset})`);
console.log(['variant'.padEnd(22), ...names.map((n) => n.padStart(15)), 'pose360'.padStart(8), 'pose30'.padStart(8), 'pose0'.padStart(8)].join(' '));
const groupMean = (r: Record<string, CategoryMetrics>, pose: string, field: keyof CategoryMetrics = 'imageAUROC') => {
  const vals = Object.entries(r).filter(([n]) => n.endsWith(`-pose${pose}`)).map(([, c]) => c[field] as number);
  return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN;
};
const summary: Record<string, unknown> = {};
for (const [k, r] of Object.entries(results)) {
  console.log([k.padEnd(22), ...names.map((n) => (r[n]?.imageAUROC ?? NaN).toFixed(3).padStart(15)), ...['360', '30', '0'].map((p) => groupMean(r, p).toFixed(3).padStart(8))].join(' '));
  const all = Object.values(r);
  summary[k] = {
    imageAUROC: Object.fromEntries(['360', '30', '0'].map((p) => [`pose${p}`, round(groupMean(r, p), 4)])),
    pixelAUROC: Object.fromEntries(['360', '30', '0'].map((p) => [`pose${p}`, round(groupMean(r, p, 'pixelAUROC'), 4)])),
    perCategoryImageAUROC: Object.fromEntries(Object.entries(r).map(([n, c]) => [n, round(c.imageAUROC, 4)])),
    enrollSecondsMedian: round(median(all.map((c) => c.enrollSeconds)), 1),
    enrollSecondsMax: round(Math.max(...all.map((c) => c.enrollSeconds)), 1),
    stnSecondsMedian: round(median(all.map((c) => c.stnSeconds)), 1),
    stnSsimValidation: round(median(all.map((c) => c.stnSsim)), 3),
    stnMsSsimValidation: round(median(all.map((c) => c.stnMsSsim)), 3),
    msPerAlignMedian: round(median(all.map((c) => c.msPerAlign)), 2),
    msPerImageMedian: round(median(all.map((c) => c.msPerImage)), 1),
  };
}
console.log(`\n${'variant'.padEnd(22)} ${'enroll s'.padStart(9)} ${'stn s'.padStart(7)} ${'SSIM'.padStart(6)} ${'ms-SSIM'.padStart(8)} ${'align ms'.padStart(9)} ${'ms/image'.padStart(9)}`);
for (const [k, s] of Object.entries(summary) as [string, Record<string, number>][]) {
  console.log(`${k.padEnd(22)} ${String(s.enrollSecondsMedian).padStart(9)} ${String(s.stnSecondsMedian).padStart(7)} ${String(s.stnSsimValidation).padStart(6)} ${String(s.stnMsSsimValidation).padStart(8)} ${String(s.msPerAlignMedian).padStart(9)} ${String(s.msPerImageMedian).padStart(9)}`);
}
writeBenchResult(values.name!, { dataset, categories: names, variants: summary });
