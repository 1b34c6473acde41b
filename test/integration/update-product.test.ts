/**
 * A product update on the conveyor sample product: good parts the golden
 * set lacked (a brighter light) are false rejects; marked good, they build a
 * new version whose replay shows them passing while every confirmed defect
 * still rejects; the version verifies, is not active until activated, and
 * the `linesight update` / `activate` commands do the same from the shell,
 * also from the device's reviewed records (`--records`, what the Review
 * page runs), finding the golden-sample set on the device by itself.
 */
import t from 'tap';
import { copyFile, cp, mkdir, readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../../config/enroll.ts';
import { enrollProduct } from '../../trainer/enroll.ts';
import { prepareSampleProduct } from '../../fixtures/conveyor.ts';
import { activateVersion, loadProductArtifact, productDir, readActiveVersion } from '../../product/artifact.ts';
import { readImage } from '../../product/image-io.ts';
import { ProductScorer } from '../../product/scorer.ts';
import { updateProduct, type ReviewSet } from '../../trainer/update-product.ts';
import { parseUpdateLine, type UpdateResultLine } from '../../product/update-progress.ts';
import { SqliteRecordStore } from '../../runtime/records/record-store.ts';
import { linesight } from '../helpers/cli.ts';

const root = t.testdir({});
const sample = await prepareSampleProduct({ dir: root, size: 224, goldenSamples: 12, testGood: 8, testPerDefect: 1, seed: 3 });
const goldenDir = join(sample.devset, sample.product, 'train', 'good');
const inference = inferenceSettingsSchema.parse({});

/** Good test parts under a brighter light, scored by the active version; the brightest light that makes at least one a false reject. */
async function brighterGoodParts(): Promise<{ path: string; score: number; threshold: number }[]> {
  const scorer = await ProductScorer.load(sample.dataDir, sample.product, inference);
  try {
    let scored: { path: string; score: number; threshold: number }[] = [];
    for (const gain of [1.25, 1.35, 1.45]) {
      const folder = join(root, `brighter-${gain}`);
      await mkdir(folder, { recursive: true });
      scored = [];
      for (const part of sample.good) {
        const path = join(folder, basename(part.image));
        await sharp(part.image).linear(gain, 0).toFile(path);
        const r = await scorer.score(await readImage(path, scorer.inputSize));
        scored.push({ path, score: r.score, threshold: r.threshold });
      }
      if (scored.some((s) => s.score >= s.threshold)) break;
    }
    return scored.sort((a, b) => b.score - a.score);
  } finally {
    await scorer.release();
  }
}

const brighter = await brighterGoodParts();
const markedGood = brighter.slice(0, 5);
const defectsDir = join(root, 'review', 'defects');
for (const d of sample.defective) {
  await mkdir(join(defectsDir, d.kind), { recursive: true });
  await copyFile(d.image, join(defectsDir, d.kind, basename(d.image)));
}
const review: ReviewSet = { good: markedGood.map((g) => g.path), defects: sample.defective.map((d) => ({ path: d.image, type: d.kind })), missed: [] };

t.test('marked-good false rejects pass after the update, confirmed defects still reject', async (t) => {
  t.ok(markedGood.some((g) => g.score >= g.threshold), `at least one brighter good part is a false reject (${markedGood.map((g) => `${g.score.toFixed(2)}/${g.threshold.toFixed(2)}`).join(', ')})`);
  const before = await loadProductArtifact(sample.dataDir, sample.product);
  const r = await updateProduct({ dataDir: sample.dataDir, productId: sample.product, review, inference, settings: { goldenDir } });
  t.equal(r.updatedFrom, before.manifest.version);
  t.same(r.replay.totals, { good: 5, defects: sample.defective.length, missed: 0 });
  t.ok(r.replay.active.goodPass < 5, `the active version rejects some marked-good parts (${r.replay.active.goodPass}/5 pass)`);
  t.equal(r.replay.candidate.goodPass, 5, 'the candidate passes every marked-good part');
  t.equal(r.replay.active.defectReject, sample.defective.length, 'the active version rejects every confirmed defect');
  t.equal(r.replay.candidate.defectReject, sample.defective.length, 'the candidate still rejects every confirmed defect');
  t.equal(r.replay.records.length, 5 + sample.defective.length, 'one replay record per reviewed image');
  t.equal(r.thresholds.how, 'recalibrated');
  t.ok(r.seconds < 30, `update took ${r.seconds.toFixed(1)} s`);

  t.equal(await readActiveVersion(sample.dataDir, sample.product), before.manifest.version, 'the candidate is not activated');
  const candidate = await loadProductArtifact(sample.dataDir, sample.product, r.version);
  const m = candidate.manifest;
  t.match(m.update, { updatedFrom: before.manifest.version, addedImages: 5, review: { good: 5, defects: sample.defective.length, missed: 0 }, thresholds: 'recalibrated' });
  t.ok(r.bankRowsAdded > 0 && r.bankRowsAdded < 5 * m.grid.width * m.grid.height, `the top-up adds some of the new patches, not all (${r.bankRowsAdded})`);
  t.equal(m.coreset.size, before.manifest.coreset.size + r.bankRowsAdded);
  t.equal(m.goldenSamples.count, before.manifest.goldenSamples.count + 5);
  t.same(m.backbone, before.manifest.backbone, 'same backbone');
  t.same(Array.from(candidate.reduction!.axes.subarray(0, 8)), Array.from(before.reduction!.axes.subarray(0, 8)), 'same feature reduction');
  t.same(Array.from(candidate.bank.subarray(0, before.bank.length)), Array.from(before.bank), 'the earlier bank rows are kept as they were');
});

t.test('a golden sample marked good again adds (almost) nothing to the bank', async (t) => {
  const bankSample = (await loadProductArtifact(sample.dataDir, sample.product)).manifest.goldenSamples.files.find((f) => f.role === 'bank')!;
  const again: ReviewSet = { good: [join(goldenDir, bankSample.name)], defects: [], missed: [] };
  const measured = await updateProduct({ dataDir: sample.dataDir, productId: sample.product, review: again, inference, settings: { goldenDir } });
  t.equal(measured.bankRowsAdded, 0, 'with the golden folder, the radius is measured on the bank samples: nothing added');
  const estimated = await updateProduct({ dataDir: sample.dataDir, productId: sample.product, review: again, inference });
  const { grid } = (await loadProductArtifact(sample.dataDir, sample.product, estimated.version)).manifest;
  t.ok(estimated.bankRowsAdded <= 0.02 * grid.width * grid.height, `with the radius estimated from the bank, ${estimated.bankRowsAdded} rows added`);
  t.equal(estimated.thresholds.how, 'kept', 'without the golden folder the thresholds are kept');
});

t.test('linesight update, then linesight activate: the same parts pass on the new version', async (t) => {
  const r = await linesight(['update', '--product', sample.product, '--good', ...review.good, '--defects', defectsDir, '--golden', goldenDir, '--data-dir', sample.dataDir, '--json']);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { version: string; replay: { candidate: { goodPass: number; defectReject: number }; records: { group: string; type?: string }[] } };
  t.equal(out.replay.candidate.goodPass, 5);
  t.equal(out.replay.candidate.defectReject, sample.defective.length);
  t.same(out.replay.records.filter((x) => x.group === 'defects').map((x) => x.type).sort(), sample.defective.map((d) => d.kind).sort(), 'defect types from the folder names');

  const text = await linesight(['update', '--product', sample.product, '--good', review.good[0]!, '--data-dir', sample.dataDir]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /marked good, pass\s+\d\/1\s+1\/1/);
  t.match(text.stdout, /activate it with: linesight activate --product washer --version v\d+/);

  const a = await linesight(['activate', '--product', sample.product, '--version', out.version, '--data-dir', sample.dataDir]);
  t.equal(a.code, 0, a.stderr);
  t.equal(await readActiveVersion(sample.dataDir, sample.product), out.version);
  const scorer = await ProductScorer.load(sample.dataDir, sample.product, inference);
  try {
    for (const path of review.good) t.equal((await scorer.score(await readImage(path, scorer.inputSize))).verdict, 'ok', `${basename(path)} passes on ${out.version}`);
    for (const d of sample.defective) t.equal((await scorer.score(await readImage(d.image, scorer.inputSize))).verdict, 'reject', `${d.kind} rejects on ${out.version}`);
  } finally {
    await scorer.release();
  }
});

t.test("a PaDiM product: the Gaussians take the marked-good parts in, confirmed defects still reject", async (t) => {
  const dataDir = join(root, 'padim-data');
  const enrolled = await enrollProduct({ productId: 'washer', imagesDir: goldenDir, dataDir, settings: enrollSettingsSchema.parse({ inputSize: 224, minGoldenSamples: 10, scorer: 'padim' }), inference, activate: true });
  const r = await updateProduct({ dataDir, productId: 'washer', review, inference, settings: { goldenDir } });
  t.equal(r.replay.candidate.goodPass, 5, `the candidate passes every marked-good part (active: ${r.replay.active.goodPass}/5)`);
  t.equal(r.replay.candidate.defectReject, sample.defective.length, 'the candidate still rejects every confirmed defect');
  const m = (await loadProductArtifact(dataDir, 'washer', r.version)).manifest;
  const bankSamples = enrolled.manifest.goldenSamples.files.filter((f) => f.role === 'bank').length;
  t.equal(m.update?.gaussianSamples, bankSamples + 5, "the Gaussians count the bank samples and the new images");
  t.equal(m.scorer, 'padim');
  t.equal(m.update?.thresholds, 'recalibrated');
});

t.test('linesight update --records: the reviewed records of the device, the golden set found on the device, progress as JSON lines', async (t) => {
  const dataDir = join(root, 'records-device');
  // The device's product (the sample's enrolled v1) and the golden set it was enrolled from.
  await cp(join(productDir(sample.dataDir, sample.product), 'v1'), join(productDir(dataDir, sample.product), 'v1'), { recursive: true });
  await activateVersion(dataDir, sample.product, 'v1');
  const golden = join(dataDir, 'golden', sample.product, '20260101-000000');
  await mkdir(golden, { recursive: true });
  for (const f of await readdir(goldenDir)) await copyFile(join(goldenDir, f), join(golden, f));
  // Kept records: the brighter good parts and the defects, rejected on v1, reviewed by the operator.
  const store = new SqliteRecordStore(dataDir, { maxBytes: 1e9, maxDays: 30, minFreeBytes: 0 });
  const png = (path: string) => sharp(path).resize(224, 224).png().toBuffer();
  const ids: Record<string, number> = {};
  const reviewed = [...markedGood.map((g, i) => ({ path: g.path, partId: `G-${i}`, label: 'good' as const, type: null })), ...sample.defective.map((d, i) => ({ path: d.image, partId: `D-${i}`, label: 'defect' as const, type: d.kind }))];
  for (const [i, r] of reviewed.entries()) {
    const row = await store.add({ ts: Date.now() - 1000 * (10 - i), camera: 'cam1', product: sample.product, version: 'v1', verdict: 'reject', score: 2, threshold: 1, partId: r.partId, files: { image: await png(r.path), map: await png(r.path), mask: await png(r.path) } });
    store.review(row!.id, { label: r.label, type: r.type, who: 'ana' });
    ids[r.partId] = row!.id;
  }
  // A reviewed record that kept no image (a part without a frame) is left out, and said so.
  const empty = await store.add({ ts: Date.now(), camera: 'cam1', product: sample.product, version: 'v1', verdict: 'no_verdict', score: null, threshold: null, partId: 'N-0', files: {} });
  store.review(empty!.id, { label: 'good', type: null, who: 'ana' });
  store.close();

  const r = await linesight(['update', '--product', sample.product, '--records', '--data-dir', dataDir, '--progress', 'json']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map(parseUpdateLine);
  t.ok(lines.every((l) => l !== undefined), 'every line is a progress line or the result');
  t.same([...new Set(lines.filter((l) => l?.event === 'progress').map((l) => (l as { stage: string }).stage))], ['features', 'model', 'calibrate', 'write', 'replay'], 'the stages in order');
  const result = lines.at(-1) as UpdateResultLine;
  t.equal(result.event, 'result');
  t.equal(result.updatedFrom, 'v1');
  t.equal(result.thresholds.how, 'recalibrated', "the held-out samples were found in the device's golden set");
  t.same(result.replay.totals, { good: markedGood.length, defects: sample.defective.length, missed: 0 });
  t.equal(result.replay.candidate.goodPass, markedGood.length, 'every record marked good passes on the new version');
  t.equal(result.replay.candidate.defectReject, sample.defective.length, 'every confirmed defect still rejects');
  t.same(
    result.replay.records.map((x) => [x.recordId, x.partId, x.group]).sort(),
    reviewed.map((x) => [ids[x.partId], x.partId, x.label === 'good' ? 'good' : 'defects']).sort(),
    'each replayed image names its record and part',
  );
  t.match(result.notes.join('\n'), new RegExp(`1 reviewed record\\(s\\) kept no image and were left out: ${empty!.id}`));
  const manifest = JSON.parse(await readFile(join(productDir(dataDir, sample.product), result.version, 'manifest.json'), 'utf8'));
  t.match(manifest.update, { updatedFrom: 'v1', addedImages: markedGood.length, thresholds: 'recalibrated' });
  t.same(
    manifest.goldenSamples.files.filter((f: { name: string }) => f.name.startsWith('record-')).map((f: { name: string }) => f.name).sort(),
    markedGood.map((_, i) => `record-${ids[`G-${i}`]}.png`).sort(),
    'the images marked good are listed among the golden samples by their record',
  );

  const none = await linesight(['update', '--product', 'bracket', '--records', '--data-dir', dataDir, '--progress', 'json']);
  t.equal(none.code, 1);
  t.match(parseUpdateLine(none.stdout.trim().split('\n').at(-1)!), { event: 'error', message: /product "bracket" has no kept record marked good/ });
});
