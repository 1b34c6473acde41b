/**
 * `npm run bench:stages`: where one frame's time goes on this machine, stage
 * by stage (camera frame to model input, backbone, aggregation, patch
 * distances, bound of the anomaly map, anomaly map, threshold + regions), and what scoring with
 * `map: 'whenNeeded'` (the runtime's way) saves over `map: 'always'` (the
 * way every frame was scored before). Both ways score the same development-set
 * images in interleaved rounds (the order flips every round) and report
 * medians; the script fails when a verdict, score or region count differs
 * between them. Products are enrolled from the development set as in
 * bench-score.ts (generated when missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { frameToInput, readImage, type RgbImage } from '../product/image-io.ts';
import { defectRegions, ProductScorer, thresholdMap, type FrameOutcome } from '../product/scorer.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { separableMapBound } from '../models/features/anomaly-map-bound.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

const devset = process.env.LINESIGHT_DEVSET ?? '.devset';
const category = process.env.BENCH_CATEGORY ?? 'pcb';
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const perRound = Number(process.env.BENCH_IMAGES ?? 20);

if (!existsSync(join(devset, category))) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--out', devset, '--categories', category], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

type Samples = Record<string, number[]>;

function add(samples: Samples, key: string, ms: number): void {
  (samples[key] ??= []).push(ms);
}

/** Every test image of the category, good ones first (most frames on a line are good). */
function testImages(): { path: string; good: boolean }[] {
  const dir = join(devset, category, 'test');
  return readdirSync(dir)
    .sort((a, b) => Number(b === 'good') - Number(a === 'good'))
    .flatMap((type) => readdirSync(join(dir, type)).map((f) => ({ path: join(dir, type, f), good: type === 'good' })));
}

/** A mix of good and defective images for the timed rounds: three good to one defective. */
function timedSet<T extends { good: boolean }>(all: T[], n: number): T[] {
  const good = all.filter((x) => x.good);
  const bad = all.filter((x) => !x.good);
  const nBad = Math.min(bad.length, Math.round(n / 4));
  return [...good.slice(0, n - nBad), ...bad.slice(0, nBad)];
}

/** Times each stage of one image alone (the pieces ProductScorer.score runs). */
async function timeStages(product: ProductScorer, image: RgbImage, frame: Buffer, samples: Samples): Promise<void> {
  const { scorer } = product;
  const { width, height } = product.inputSize;
  let t = performance.now();
  await frameToInput(frame, 640, 480, product.inputSize);
  add(samples, 'frameToInputMs', performance.now() - t);
  const start = performance.now();
  const { rows, timings } = await scorer.features.extract(image);
  add(samples, 'backboneMs', timings.backboneMs);
  add(samples, 'aggregateMs', timings.aggregateMs);
  t = performance.now();
  const patchScores = scorer.search.score ? (await scorer.search.score(rows)).patchScores : await scorer.search.distances(rows);
  add(samples, 'distancesMs', performance.now() - t);
  const weights = await scorer.mapWeights();
  t = performance.now();
  separableMapBound(patchScores, weights);
  add(samples, 'mapBoundMs', performance.now() - t);
  t = performance.now();
  const map = await scorer.anomalyMap(patchScores);
  add(samples, 'mapMs', performance.now() - t);
  t = performance.now();
  const mask = thresholdMap(map, product.manifest.thresholds.pixel);
  defectRegions(mask, map, width, height);
  add(samples, 'regionsMs', performance.now() - t);
  add(samples, 'stagesWallMs', performance.now() - start);
}

function same(a: FrameOutcome, b: FrameOutcome): boolean {
  return a.verdict === b.verdict && a.score === b.score && a.regions.length === b.regions.length && a.mask.every((v, i) => v === b.mask[i]);
}

const inference = inferenceSettingsSchema.parse({});
const dataDir = await mkdtemp(join(tmpdir(), 'linesight-stages-'));
const settings = enrollSettingsSchema.parse({});
await enrollProduct({ productId: 'bench', imagesDir: join(devset, category, 'train', 'good'), dataDir, settings, inference });
const product = await ProductScorer.load(dataDir, 'bench', inference);
const all = await Promise.all(testImages().map(async (x) => ({ ...x, image: await readImage(x.path, product.inputSize) })));
const frame = Buffer.alloc(640 * 480 * 3, 128);

// Every test image once both ways: verdicts must agree; how many frames skip the map.
let skipped = 0;
let skippedGood = 0;
let mismatches = 0;
for (const x of all) {
  const eager = await product.score(x.image);
  const lazy = await product.score(x.image, { map: 'whenNeeded' });
  if (!same(eager, lazy)) mismatches++;
  if (!lazy.map) {
    skipped++;
    if (x.good) skippedGood++;
  }
}
const goodCount = all.filter((x) => x.good).length;
console.log(`${all.length} test images: ${mismatches} outcomes differ between map 'always' and 'whenNeeded'; map left out for ${skipped} (${skippedGood} of ${goodCount} good)`);

const timed = timedSet(all, perRound);
const samples: Samples = {};
for (let i = 0; i < 3; i++) await product.score(timed[i]!.image, { map: 'whenNeeded' });
for (let r = 0; r < rounds; r++) {
  for (const x of timed) {
    const ways = r % 2 === 0 ? (['always', 'whenNeeded'] as const) : (['whenNeeded', 'always'] as const);
    const ms = { always: 0, whenNeeded: 0 };
    for (const way of ways) {
      const t = performance.now();
      await product.score(x.image, { map: way });
      ms[way] = performance.now() - t;
    }
    add(samples, 'alwaysMs', ms.always);
    add(samples, 'whenNeededMs', ms.whenNeeded);
    // Paired on the same image back to back, per order (the second run of a pair finds warm caches).
    add(samples, r % 2 === 0 ? 'savedAlwaysFirstMs' : 'savedWhenNeededFirstMs', ms.always - ms.whenNeeded);
    await timeStages(product, x.image, frame, samples);
  }
}
const medians = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, round(median(v))]));
// The saving with the order effect cancelled: the mean of the two orders' median paired differences.
medians.savedMs = round((median(samples.savedAlwaysFirstMs!) + median(samples.savedWhenNeededFirstMs!)) / 2);
console.log(
  `stages (median ms): frame->input ${medians.frameToInputMs}, backbone ${medians.backboneMs}, aggregate ${medians.aggregateMs}, distances ${medians.distancesMs}, map bound ${medians.mapBoundMs}, map ${medians.mapMs}, threshold+regions ${medians.regionsMs}; all but frame->input back to back ${medians.stagesWallMs}`,
);
console.log(`per frame (median ms over ${rounds} interleaved rounds of ${timed.length} images): map 'always' ${medians.alwaysMs}, map 'whenNeeded' ${medians.whenNeededMs}, saved per frame ${medians.savedMs} (paired, both orders)`);
await product.release();
await rm(dataDir, { recursive: true, force: true });
writeBenchResult('stages', {
  category,
  rounds,
  images: timed.length,
  medians,
  testImages: all.length,
  mapSkipped: skipped,
  mapSkippedGood: skippedGood,
  goodImages: goodCount,
  mismatches,
});
if (mismatches > 0) process.exit(1);
