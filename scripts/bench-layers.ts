/**
 * `npm run bench:layers`: accuracy and speed of candidate MobileNetV2 layer
 * pairs and of the SPPM aggregation, on the same development-set categories
 * (default pcb, gravel, fabric; BENCH_CATEGORIES to change), side by side.
 */
import { evaluateDataset } from '../eval/evaluate.ts';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { round, writeBenchResult } from './bench-common.ts';

const devset = process.env.LINESIGHT_DEVSET ?? '.devset';
const categories = (process.env.BENCH_CATEGORIES ?? 'pcb,gravel,fabric').split(',');
const variants = [
  { layers: ['block_5_add', 'block_12_add'], aggregation: 'patchcore' as const },
  { layers: ['block_6_expand_relu', 'block_13_expand_relu'], aggregation: 'patchcore' as const },
  { layers: ['block_5_add', 'block_9_add'], aggregation: 'patchcore' as const },
  { layers: ['block_5_add', 'block_12_add'], aggregation: 'sppm' as const },
];
const inference = inferenceSettingsSchema.parse({});
const results = [];
for (const v of variants) {
  const settings = enrollSettingsSchema.parse({ layers: v.layers, aggregation: v.aggregation });
  const report = await evaluateDataset(devset, categories, { settings, inference });
  const m = report.mean;
  const row = {
    layers: v.layers.join('+'),
    aggregation: v.aggregation,
    imageAUROC: round(m.imageAUROC, 4),
    pixelAUROC: round(m.pixelAUROC, 4),
    aupro: round(m.aupro, 4),
    msPerImage: round(m.msPerImage, 1),
    enrollSeconds: round(m.enrollSeconds, 1),
  };
  results.push(row);
  console.log(`${row.layers.padEnd(42)} ${row.aggregation.padEnd(9)} imageAUROC ${row.imageAUROC} pixelAUROC ${row.pixelAUROC} aupro ${row.aupro} ${row.msPerImage} ms/image, enroll ${row.enrollSeconds} s`);
}
writeBenchResult('layers', { categories, results });
