/**
 * Pose alignment end to end through the `linesight` command on real image
 * files: golden samples of a bracket lying at different angles are enrolled
 * with a spatial transformer (a short training, the shipped network), the
 * artifact carries it and its contact sheet, scoring aligns each frame first
 * (PatchCore and PaDiM), and a folder with golden samples of two products is
 * refused, naming the odd ones, with nothing written; parts that turn further
 * than the product's rotation range are refused as that, with the range to
 * enroll them at.
 */
import t from 'tap';
import { linesight } from '../helpers/cli.ts';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import sharp from 'sharp';
import { bracketPixels, partPixels, writePng } from '../helpers/images.ts';

const root = await mkdtemp(join(tmpdir(), 'linesight-align-'));
const dataDir = join(root, 'data');
const size = 64;
const settings = ['--input-size', String(size), '--coreset', '0.25', '--align', 'stn', '--stn-rotation', '60', '--stn-steps', '40'];

const golden = join(root, 'golden');
await mkdir(golden, { recursive: true });
for (let i = 0; i < 16; i++) {
  const angle = (((i * 37) % 100) / 100 - 0.5) * (Math.PI / 3);
  await writePng(join(golden, `good_${String(i).padStart(2, '0')}.png`), bracketPixels(size, angle, (i % 5) - 2, (i % 3) - 1, i), size, size);
}
const frames = join(root, 'frames');
await mkdir(frames, { recursive: true });
const good = await writePng(join(frames, 'good.png'), bracketPixels(size, 0.4, 2, -1, 99), size, size);
const bad = await writePng(join(frames, 'bad.png'), bracketPixels(size, -0.3, -1, 2, 98, true), size, size);

for (const scorer of ['patchcore', 'padim']) {
  t.test(`enroll with a spatial transformer, then score aligned frames (${scorer})`, async (t) => {
    const product = `bracket-${scorer}`;
    const enrolled = await linesight(['enroll', '--product', product, '--images', golden, '--data-dir', dataDir, '--scorer', scorer, '--stn-posed-views', '2', ...settings]);
    t.equal(enrolled.code, 0, enrolled.stderr);
    t.match(enrolled.stdout, /alignment \(stn, image loss\): 40 steps in [\d.]+ s .*SSIM restored vs canonical/);
    if (scorer === 'padim') t.match(enrolled.stdout, /; 2 posed views of each golden sample in the Gaussians/);
    const dir = join(dataDir, 'products', product, 'v1');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    t.equal(manifest.alignment.method, 'stn');
    t.equal(manifest.alignment.steps, 40);
    t.equal(manifest.alignment.lossCurve.length, 10);
    t.ok(manifest.alignment.ssim.validation > 0 && manifest.alignment.ssim.validation <= 1);
    t.equal(manifest.scorer ?? 'patchcore', scorer);
    t.equal(manifest.precision, 'int8', 'int8 by default, its ranges calibrated on the aligned samples');
    t.equal(manifest.int8.samples, manifest.goldenSamples.files.filter((f: { role: string }) => f.role === 'bank').length);
    t.ok((await readdir(dir)).includes('alignment.png'), 'before/after contact sheet next to the artifact');
    const sheet = await sharp(join(dir, 'alignment.png')).metadata();
    t.same([sheet.width, sheet.height], [8 * (size + 4) - 4, 2 * size + 4], 'eight golden samples, before and after');
    const scored = await linesight(['score', '--product', product, '--data-dir', dataDir, '--json', good, bad]);
    t.equal(scored.code, 0, scored.stderr);
    const [g, b] = scored.stdout.trim().split('\n').map((l) => JSON.parse(l));
    t.equal(g.pose.length, 4, 'the pose the transformer found is reported');
    t.ok(g.timings.alignMs > 0);
    t.ok(b.score > g.score, `defective bracket scores higher (${b.score.toFixed(3)} > ${g.score.toFixed(3)})`);
  });
}

t.test("PaDiM's Gaussians also learn from posed-and-realigned views of the golden samples; the memory bank does not take them", async (t) => {
  const featureImages = async (product: string, scorer: string) => {
    const r = await linesight(['enroll', '--product', product, '--images', golden, '--data-dir', dataDir, '--scorer', scorer, '--stn-posed-views', '3', '--progress', 'json', ...settings]);
    t.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const features = lines.filter((l) => l.event === 'progress' && l.stage === 'features').at(-1);
    const manifest = JSON.parse(await readFile(join(dataDir, 'products', product, 'v1', 'manifest.json'), 'utf8'));
    const bank = manifest.goldenSamples.files.filter((f: { role: string }) => f.role === 'bank').length;
    return { total: features.total, bank, manifest };
  };
  const padim = await featureImages('bracket-views-padim', 'padim');
  t.equal(padim.total, padim.bank * 4, `features of ${padim.bank} bank samples and 3 views of each`);
  t.equal(padim.manifest.alignment.posedViews, 3);
  t.equal(padim.manifest.coreset.totalPatches, padim.bank * padim.manifest.grid.width * padim.manifest.grid.height, 'the memory bank is picked from the golden samples alone');
  const patchcore = await featureImages('bracket-views-patchcore', 'patchcore');
  t.equal(patchcore.total, patchcore.bank, 'PatchCore: the bank samples only');
  t.equal(patchcore.manifest.alignment.posedViews, 0);
});

t.test('golden samples of two products in one folder are refused by name', async (t) => {
  const mixed = join(root, 'mixed');
  await mkdir(mixed, { recursive: true });
  for (let i = 0; i < 12; i++) await writePng(join(mixed, `bracket_${String(i).padStart(2, '0')}.png`), bracketPixels(size, i * 0.05, 0, 0, i), size, size);
  for (let i = 0; i < 3; i++) await writePng(join(mixed, `washer_${i}.png`), partPixels(size, size, i), size, size);
  const r = await linesight(['enroll', '--product', 'mixed', '--images', mixed, '--data-dir', dataDir, ...settings]);
  t.not(r.code, 0);
  t.match(r.stderr, /3 of 15 golden samples do not align with the others/);
  t.match(r.stderr, /washer_0\.png \(residual [\d.]+\), washer_1\.png/);
  t.match(r.stderr, /two products mixed/);
  const products: string[] = await readdir(join(dataDir, 'products')).catch(() => []);
  t.notOk(products.includes('mixed') && (await readdir(join(dataDir, 'products', 'mixed'))).some((e) => /^v\d+$/.test(e)), 'no version written');
});

t.test('golden samples turned beyond the rotation range are refused as such, not as another product', async (t) => {
  const turning = join(root, 'turning');
  await mkdir(turning, { recursive: true });
  // Parts turning fully on the line, enrolled at +-60 deg.
  for (let i = 0; i < 12; i++) await writePng(join(turning, `bracket_${String(i).padStart(2, '0')}.png`), bracketPixels(size, (i * Math.PI) / 6, (i % 3) - 1, 0, i), size, size);
  const r = await linesight(['enroll', '--product', 'turning', '--images', turning, '--data-dir', dataDir, ...settings]);
  t.not(r.code, 0);
  t.match(r.stderr, /\d+ of 12 golden samples lie turned beyond the product's rotation range \(60 deg either way\)/);
  t.match(r.stderr, /bracket_\d\d\.png \(turned \d+ deg, residual [\d.]+ -> [\d.]+\)/);
  t.match(r.stderr, /enroll with --stn-rotation 180 \(stn\.rotation: parts turn fully\)/);
  t.notMatch(r.stderr, /two products/);
});

t.test('a texture has no pose: alignment is skipped with a note, the product still enrolls', async (t) => {
  const texture = join(root, 'texture');
  await mkdir(texture, { recursive: true });
  for (let i = 0; i < 12; i++) {
    const px = Buffer.alloc(size * size * 3);
    let seed = i * 7919 + 1;
    for (let p = 0; p < px.length; p++) px[p] = 80 + ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) / 2;
    await writePng(join(texture, `t_${i}.png`), px, size, size);
  }
  const r = await linesight(['enroll', '--product', 'gravel', '--images', texture, '--data-dir', dataDir, ...settings]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /note: alignment skipped: the golden samples share no shape to register \(median correlation with the reference -?[\d.]+, below 0\.5/);
  const manifest = JSON.parse(await readFile(join(dataDir, 'products', 'gravel', 'v1', 'manifest.json'), 'utf8'));
  t.equal(manifest.alignment, null);
});

t.test('eval --align stn,none scores the same data with and without alignment and reports both', async (t) => {
  const data = join(root, 'dataset');
  const cat = join(data, 'bracket');
  for (const d of ['train/good', 'test/good', 'test/spot', 'ground_truth/spot']) await mkdir(join(cat, d), { recursive: true });
  for (let i = 0; i < 14; i++) await writePng(join(cat, 'train/good', `${i}.png`), bracketPixels(size, (((i * 37) % 100) / 100 - 0.5) * (Math.PI / 3), (i % 5) - 2, 0, i), size, size);
  for (let i = 0; i < 2; i++) {
    await writePng(join(cat, 'test/good', `${i}.png`), bracketPixels(size, 0.3 - i * 0.5, 1, -1, 50 + i), size, size);
    const spotted = bracketPixels(size, -0.2 + i * 0.4, -1, 1, 60 + i, true);
    const clean = bracketPixels(size, -0.2 + i * 0.4, -1, 1, 60 + i);
    await writePng(join(cat, 'test/spot', `${i}.png`), spotted, size, size);
    // Ground truth: the pixels the spot changed.
    const mask = Buffer.alloc(size * size * 3);
    for (let p = 0; p < size * size; p++) if (spotted[p * 3] !== clean[p * 3]) mask.fill(255, p * 3, p * 3 + 3);
    await writePng(join(cat, 'ground_truth/spot', `${i}_mask.png`), mask, size, size);
  }
  const json = join(root, 'report.json');
  const r = await linesight(['eval', '--dataset', data, '--align', 'stn,none', '--scorer', 'padim', '--json', json, ...settings.filter((s, i, all) => s !== '--align' && all[i - 1] !== '--align')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /image AUROC by alignment \(scorer padim\)\nalign +bracket +mean\nstn +[\d.]+ +[\d.]+\nnone +[\d.]+/);
  const report = JSON.parse(await readFile(json, 'utf8'));
  t.equal(report.categories.bracket.align, 'stn');
  t.equal(report.categories.bracket.scorer, 'padim');
  t.ok(report.categories.bracket.stnSeconds > 0);
  t.same(Object.keys(report.alignments).sort(), ['none', 'stn']);
  t.equal(report.alignments.none.categories.bracket.align, 'none');
  t.equal(report.alignments.none.mean.scorer, 'padim');
  const wrong = await linesight(['eval', '--dataset', data, '--align', 'stn,sift']);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /--align.*stn/);
});
