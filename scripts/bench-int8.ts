/**
 * `npm run bench:int8`: the int8 backbone against float32, side by side in one
 * run. Speed: one product enrolled with each precision, frames scored
 * interleaved (float, int8, float, ...) so load from other processes hits both
 * alike; medians of BENCH_RUNS frames for the whole ProductScorer.score and for
 * the backbone alone. Accuracy: image and pixel AUROC of the development set
 * (LINESIGHT_DEVSET, categories BENCH_CATEGORIES) evaluated with each
 * precision. Ends with one JSON line, also written to `.bench/int8.json`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { enrollSettingsSchema, inferenceSettingsSchema, type BackbonePrecision } from '../config/enroll.ts';
import { evaluateDataset } from '../eval/evaluate.ts';
import { readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

const devset = process.env.LINESIGHT_DEVSET ?? '.devset';
const categories = (process.env.BENCH_CATEGORIES ?? 'pcb,washer,brick').split(',').map((c) => c.trim()).filter(Boolean);
const speedCategory = categories[0]!;
const runs = Number(process.env.BENCH_RUNS ?? 50);
const precisions: BackbonePrecision[] = ['float32', 'int8'];
const inference = inferenceSettingsSchema.parse({});

const missing = categories.filter((c) => !existsSync(join(devset, c)));
if (missing.length > 0) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--out', devset, '--categories', missing.join(',')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

interface Speed {
  msPerFrame: number;
  backboneMs: number;
}

/** Enrolls `speedCategory` with each precision and scores the same frames with both, interleaved. */
async function measureSpeed(): Promise<Record<BackbonePrecision, Speed>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-bench-int8-'));
  try {
    const scorers = new Map<BackbonePrecision, ProductScorer>();
    for (const precision of precisions) {
      const productId = `bench-${precision}`;
      const settings = enrollSettingsSchema.parse({ precision });
      await enrollProduct({ productId, imagesDir: join(devset, speedCategory, 'train', 'good'), dataDir, settings, inference });
      scorers.set(precision, await ProductScorer.load(dataDir, productId, inference));
    }
    const testDir = join(devset, speedCategory, 'test');
    const paths = readdirSync(testDir).flatMap((type) => readdirSync(join(testDir, type)).map((f) => join(testDir, type, f)));
    const size = scorers.get('float32')!.inputSize;
    const images = await Promise.all(paths.slice(0, 10).map((p) => readImage(p, size)));
    const wall = new Map<BackbonePrecision, number[]>(precisions.map((p) => [p, []]));
    const backbone = new Map<BackbonePrecision, number[]>(precisions.map((p) => [p, []]));
    for (let i = -5; i < runs; i++) {
      for (const precision of precisions) {
        const t = performance.now();
        const r = await scorers.get(precision)!.score(images[(i + images.length) % images.length]!);
        if (i < 0) continue; // warm-up
        wall.get(precision)!.push(performance.now() - t);
        backbone.get(precision)!.push(r.timings.backboneMs);
      }
    }
    for (const s of scorers.values()) await s.release();
    const speed = (p: BackbonePrecision): Speed => ({ msPerFrame: round(median(wall.get(p)!)), backboneMs: round(median(backbone.get(p)!)) });
    return { float32: speed('float32'), int8: speed('int8') };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function measureAccuracy(precision: BackbonePrecision) {
  const settings = enrollSettingsSchema.parse({ precision });
  const report = await evaluateDataset(devset, categories, { settings, inference });
  const perCategory = Object.fromEntries(Object.entries(report.categories).map(([c, m]) => [c, { imageAUROC: round(m.imageAUROC, 4), pixelAUROC: round(m.pixelAUROC, 4) }]));
  return { imageAUROC: round(report.mean.imageAUROC, 4), pixelAUROC: round(report.mean.pixelAUROC, 4), msPerImage: round(report.mean.msPerImage), perCategory };
}

const speed = await measureSpeed();
console.log(`speed on ${speedCategory}, median of ${runs} interleaved frames at 224 px:`);
for (const p of precisions) console.log(`  ${p.padEnd(8)} ${speed[p].msPerFrame} ms/frame (backbone ${speed[p].backboneMs} ms)`);
const accuracy = { float32: await measureAccuracy('float32'), int8: await measureAccuracy('int8') };
console.log(`accuracy on ${devset} (${categories.join(', ')}):`);
console.log(`  ${'category'.padEnd(10)} ${precisions.map((p) => `${p} image/pixel AUROC`.padStart(28)).join(' ')}`);
for (const c of categories) {
  console.log(`  ${c.padEnd(10)} ${precisions.map((p) => `${accuracy[p].perCategory[c]!.imageAUROC} / ${accuracy[p].perCategory[c]!.pixelAUROC}`.padStart(28)).join(' ')}`);
}
console.log(`  ${'mean'.padEnd(10)} ${precisions.map((p) => `${accuracy[p].imageAUROC} / ${accuracy[p].pixelAUROC}`.padStart(28)).join(' ')}`);
const costPoints = round(100 * (accuracy.float32.imageAUROC - accuracy.int8.imageAUROC), 2);
console.log(`int8 costs ${costPoints} points of image AUROC (default only if <= 0.5); backbone ${round(speed.float32.backboneMs / speed.int8.backboneMs, 2)}x, frame ${round(speed.float32.msPerFrame / speed.int8.msPerFrame, 2)}x faster`);
const entry = (p: BackbonePrecision) => ({ msPerFrame: speed[p].msPerFrame, backboneMs: speed[p].backboneMs, imageAUROC: accuracy[p].imageAUROC, pixelAUROC: accuracy[p].pixelAUROC, perCategory: accuracy[p].perCategory });
writeBenchResult('int8', { devset, categories, runs, float32: entry('float32'), int8: entry('int8'), imageAUROCCostPoints: costPoints });
