/**
 * Writes the development dataset (fixtures/devset.ts) to a folder:
 *   npx tsx scripts/make-devset.ts --out .devset [--train 60] [--test-good 100]
 *   npx tsx scripts/make-devset.ts --pose --out .devset-pose   (pose-varied parts)
 */
import { parseArgs } from 'node:util';
import { ALL_CATEGORIES, POSE_CATEGORIES, generateDevset } from '../fixtures/devset.ts';
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: '.devset' },
    train: { type: 'string', default: '60' },
    'test-good': { type: 'string', default: '100' },
    'test-per-defect': { type: 'string', default: '10' },
    size: { type: 'string', default: '256' },
    seed: { type: 'string', default: '1' },
    categories: { type: 'string' },
    pose: { type: 'boolean', default: false },
  },
});
const t = performance.now();
const written = await generateDevset(
  {
    out: values.out!,
    train: Number(values.train),
    testGood: Number(values['test-good']),
    testPerDefect: Number(values['test-per-defect']),
    size: Number(values.size),
    seed: Number(values.seed),
    categories: values.categories ? values.categories.split(',').map((s) => s.trim()) : values.pose ? POSE_CATEGORIES : ALL_CATEGORIES,
  },
  (line) => console.log(line),
);
console.log(`wrote ${written.length} categories to ${values.out} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
