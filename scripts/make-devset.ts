/**
 * Writes the development dataset (fixtures/devset.ts) to a folder:
 *   npx tsx scripts/make-devset.ts --out .devset [--train 60] [--test-good 100]
 *   npx tsx scripts/make-devset.ts --pose --out .devset-pose   (pose-varied parts)
 * or the hard one (fixtures/devset-hard.ts), to `<out>-tune` and `<out>-holdout`:
 *   npx tsx scripts/make-devset.ts --hard [--out .devset-hard] [--split tune|holdout|both]
 *     [--train 60] [--test-good 40] [--test-defective 60]
 */
import { parseArgs } from 'node:util';
import { ALL_CATEGORIES, POSE_CATEGORIES, generateDevset } from '../fixtures/devset.ts';
import { HARD_CATEGORIES, HARD_SPLITS, generateHardDevset, type HardSplit } from '../fixtures/devset-hard.ts';
const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    train: { type: 'string', default: '60' },
    'test-good': { type: 'string' },
    'test-per-defect': { type: 'string', default: '10' },
    'test-defective': { type: 'string', default: '60' },
    size: { type: 'string', default: '256' },
    seed: { type: 'string', default: '1' },
    categories: { type: 'string' },
    pose: { type: 'boolean', default: false },
    hard: { type: 'boolean', default: false },
    split: { type: 'string', default: 'both' },
  },
});
const t = performance.now();
const log = (line: string) => console.log(line);
const categories = values.categories?.split(',').map((s) => s.trim());
if (values.hard) {
  const splits = values.split === 'both' ? [...HARD_SPLITS] : [values.split as HardSplit];
  if (!splits.every((s) => (HARD_SPLITS as readonly string[]).includes(s))) throw new Error(`--split ${values.split}: use tune, holdout or both`);
  for (const split of splits) {
    const out = `${values.out ?? '.devset-hard'}-${split}`;
    const written = await generateHardDevset(
      {
        out,
        split,
        train: Number(values.train),
        testGood: Number(values['test-good'] ?? 40),
        testDefective: Number(values['test-defective']),
        size: Number(values.size),
        seed: Number(values.seed),
        categories: categories ?? HARD_CATEGORIES,
      },
      log,
    );
    console.log(`wrote ${written.length} categories to ${out} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
} else {
  const out = values.out ?? '.devset';
  const written = await generateDevset(
    {
      out,
      train: Number(values.train),
      testGood: Number(values['test-good'] ?? 100),
      testPerDefect: Number(values['test-per-defect']),
      size: Number(values.size),
      seed: Number(values.seed),
      categories: categories ?? (values.pose ? POSE_CATEGORIES : ALL_CATEGORIES),
    },
    log,
  );
  console.log(`wrote ${written.length} categories to ${out} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
