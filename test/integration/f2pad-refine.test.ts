/**
 * F2PAD end to end on a real enrolled product: the enrollment stores the pixel
 * prior and golden references, the objective graph runs in ONNX Runtime
 * through the default backbone, and the refined mask of a defective part
 * matches the defect better than the thresholded PatchCore mask. A product
 * enrolled without F2PAD data falls back to the per-image threshold and says why.
 */
import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../../config/enroll.ts';
import { refineSettingsSchema } from '../../config/refine.ts';
import { maskScores } from '../../eval/metrics.ts';
import { ProductScorer } from '../../product/scorer.ts';
import { refineMask } from '../../product/refine-mask.ts';
import { enrollProduct } from '../../trainer/enroll.ts';
import { partPixels, writeGoldenSet } from '../helpers/images.ts';

const size = 64;
const root = await mkdtemp(join(tmpdir(), 'linesight-f2pad-'));
const golden = join(root, 'golden');
await writeGoldenSet(golden, 14, size);
const inference = inferenceSettingsSchema.parse({});
const defect = { x: 40, y: 26, r: 5 };
const image = { data: Float32Array.from(partPixels(size, size, 41, defect)), width: size, height: size };
const truth = new Uint8Array(size * size);
for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) truth[y * size + x] = Math.hypot(x - defect.x, y - defect.y) < defect.r ? 1 : 0;

async function enroll(productId: string, refineReferences: number) {
  const dataDir = join(root, productId);
  const settings = enrollSettingsSchema.parse({ inputSize: size, coresetRatio: 0.25, refineReferences });
  const { version } = await enrollProduct({ productId, imagesDir: golden, dataDir, settings, inference });
  return ProductScorer.load(dataDir, productId, inference, version);
}

t.test('the F2PAD mask of a defective part beats the thresholded PatchCore mask', async (t) => {
  const product = await enroll('disc', 8);
  t.same(product.manifest.refine, { priorComponents: 5, references: 8 }, 'the artifact holds the prior and 8 references');
  t.equal(product.f2padUnavailable, undefined);
  const outcome = await product.score(image);
  t.equal(outcome.verdict, 'reject');
  const settings = refineSettingsSchema.parse({ mode: 'f2pad', minRegionArea: 4 });
  // Both masks start from the map cut at half its peak (this tiny product's
  // calibrated pixel threshold marks nearly the whole 64x64 frame).
  const threshold = 0.5 * outcome.map.reduce((m, v) => Math.max(m, v), 0);
  const input = { image, map: outcome.map, threshold, minRegionArea: 4 };
  const plain = await refineMask('none', input, settings, product);
  const refined = await refineMask('f2pad', input, settings, product);
  t.equal(refined.mode, 'f2pad');
  t.equal(refined.fallback, undefined);
  t.ok(refined.iterations >= 1 && refined.iterations <= settings.f2pad.maxIterations, `${refined.iterations} iterations`);
  const before = maskScores(plain.mask, truth).iou;
  const after = maskScores(refined.mask, truth).iou;
  t.ok(after > before && after > 0.6, `IoU ${before.toFixed(3)} thresholded -> ${after.toFixed(3)} with F2PAD`);
  const good = await product.score({ data: Float32Array.from(partPixels(size, size, 40)) });
  const quiet = await refineMask('f2pad', { ...input, image: { ...image, data: Float32Array.from(partPixels(size, size, 40)) }, map: good.map }, settings, product);
  t.equal(quiet.mask.reduce((a, v) => a + v, 0), 0, 'a good part gets an empty mask');
  await product.release();
});

t.test('a product enrolled without F2PAD data falls back to the per-image threshold', async (t) => {
  const product = await enroll('plain', 0);
  t.equal(product.manifest.refine, undefined);
  const outcome = await product.score(image);
  const settings = refineSettingsSchema.parse({ mode: 'f2pad' });
  const refined = await refineMask('f2pad', { image, map: outcome.map, threshold: product.manifest.thresholds.pixel, minRegionArea: 4 }, settings, product);
  t.equal(refined.mode, 'threshold');
  t.match(refined.fallback, /product "plain" v1 was enrolled without F2PAD data \(enroll it again\)/);
  t.equal(refined.iterations, settings.iterTimes, 'the per-image threshold search ran instead');
  await product.release();
});
