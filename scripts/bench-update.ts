/**
 * `npm run bench:update [-- --runs 3 --counts 5,50]`: the time from the
 * operator's verdicts to an activatable version. On the conveyor sample
 * product (40 golden samples), N good parts under a brighter light the golden
 * set lacked are marked good; `updateProduct` builds and replays the new
 * version (threshold recalibrated on the golden folder), and a full
 * enrollment of the golden set plus the same N images is timed for
 * comparison. Reports medians over the runs and the replay counts.
 */
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { prepareSampleProduct } from '../fixtures/conveyor.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { updateProduct, type Replay } from '../trainer/update-product.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

const args = parseArgs({ options: { runs: { type: 'string', default: '3' }, counts: { type: 'string', default: '5,50' }, dir: { type: 'string', default: '.bench/update' } } }).values;
const runs = Number(args.runs);
const counts = args.counts.split(',').map(Number);
const dir = resolve(args.dir);
const say = (line: string) => process.stderr.write(`${line}\n`);
const inference = inferenceSettingsSchema.parse({});

const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 40, testGood: Math.max(...counts), testPerDefect: 1, seed: 3, log: say });
const goldenDir = join(sample.devset, sample.product, 'train', 'good');
if (sample.good.length < Math.max(...counts)) throw new Error(`the sample product has ${sample.good.length} good test parts, fewer than ${Math.max(...counts)}`);

/** N good parts under a brighter light, and a folder of the golden set plus them. */
async function brighterParts(n: number): Promise<{ good: string[]; goldenPlus: string }> {
  const folder = join(dir, `brighter-${n}`);
  const goldenPlus = join(dir, `golden-plus-${n}`);
  await mkdir(folder, { recursive: true });
  await mkdir(goldenPlus, { recursive: true });
  for (const f of await readdir(goldenDir)) await copyFile(join(goldenDir, f), join(goldenPlus, f));
  const good: string[] = [];
  for (const [i, part] of sample.good.slice(0, n).entries()) {
    const path = join(folder, `brighter-${i}.png`);
    await sharp(part.image).linear(1.25, 0).toFile(path);
    await copyFile(path, join(goldenPlus, `brighter-${i}.png`));
    good.push(path);
  }
  return { good, goldenPlus };
}

const results = [];
for (const n of counts) {
  const parts = await brighterParts(n);
  const review = { good: parts.good, defects: sample.defective.map((d) => ({ path: d.image, type: d.kind })), missed: [] };
  const updates: number[] = [];
  const enrolls: number[] = [];
  let replay: Replay | undefined;
  let bankRowsAdded = 0;
  for (let run = 0; run < runs; run++) {
    const r = await updateProduct({ dataDir: sample.dataDir, productId: sample.product, review, inference, settings: { goldenDir } });
    updates.push(r.seconds);
    replay = r.replay;
    bankRowsAdded = r.bankRowsAdded;
    say(`update with ${n} good image(s), run ${run + 1}: ${r.seconds.toFixed(1)} s (${r.version}, ${r.bankRowsAdded} bank rows added)`);
    const t = performance.now();
    await enrollProduct({ productId: `full${n}`, imagesDir: parts.goldenPlus, dataDir: join(dir, 'full-enroll'), settings: enrollSettingsSchema.parse({ inputSize: 224 }), inference, activate: false });
    enrolls.push((performance.now() - t) / 1000);
    say(`full enrollment of the golden set + ${n}, run ${run + 1}: ${enrolls.at(-1)!.toFixed(1)} s`);
  }
  results.push({
    goodImages: n,
    updateSeconds: round(median(updates)),
    fullEnrollSeconds: round(median(enrolls)),
    bankRowsAdded,
    replay: { active: replay!.active, candidate: replay!.candidate, totals: replay!.totals },
  });
}
writeBenchResult('update', { goldenSamples: 40, runs, results });
