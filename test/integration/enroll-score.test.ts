/**
 * Enrollment and scoring end to end through the `linesight` command, on small
 * real image files: a product is enrolled, good parts pass, a part with a
 * defect is rejected with its region located, and bad input is refused with a
 * clear message and no partial artifact left active.
 */
import t from 'tap';
import { linesight } from '../helpers/cli.ts';
import { mkdtemp, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { partPixels, writeGoldenSet, writePng, writeTruncatedPng } from '../helpers/images.ts';

const root = await mkdtemp(join(tmpdir(), 'linesight-cli-'));
const dataDir = join(root, 'data');
const settings = ['--input-size', '64', '--coreset', '0.25'];

const golden = join(root, 'golden');
await writeGoldenSet(golden, 14, 64);
await writeTruncatedPng(join(golden, 'broken.png'));

t.test('enroll, then good parts pass and a defective part is rejected', async (t) => {
  const enrolled = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, ...settings]);
  t.equal(enrolled.code, 0, enrolled.stderr);
  t.match(enrolled.stdout, /enrolled disc v1 \(active\): 14 golden samples/);
  t.match(enrolled.stderr, /skipped broken\.png: not a readable image/);
  const manifest = JSON.parse(await readFile(join(dataDir, 'products', 'disc', 'v1', 'manifest.json'), 'utf8'));
  t.equal(manifest.goldenSamples.count, 14);
  t.same(manifest.goldenSamples.skipped.map((s: { name: string }) => s.name), ['broken.png']);
  t.equal(manifest.precision, 'int8', 'the default backbone enrolls in int8 by default');
  t.ok(Object.keys(manifest.int8.ranges).length > 30, 'with its activation ranges calibrated on the golden samples');

  const good = await writePng(join(root, 'good.png'), partPixels(64, 64, 40), 64, 64);
  const bad = await writePng(join(root, 'bad.png'), partPixels(64, 64, 41, { x: 40, y: 26, r: 5 }), 64, 64);
  const heat = join(root, 'heat');
  const scored = await linesight(['score', '--product', 'disc', '--data-dir', dataDir, '--json', '--heatmap', heat, good, bad]);
  t.equal(scored.code, 0, scored.stderr);
  const [g, b] = scored.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(g.verdict, 'ok', `good part scores ${g.score} under ${g.threshold}`);
  t.equal(b.verdict, 'reject', `defective part scores ${b.score} over ${b.threshold}`);
  t.ok(b.regions.length >= 1, 'a defect region is reported');
  const r = b.regions[0];
  t.ok(r.x <= 40 && r.x + r.w >= 40 && r.y <= 26 && r.y + r.h >= 26, `the region ${JSON.stringify(r)} covers the defect`);
  t.same((await readdir(heat)).sort(), ['bad_heatmap.png', 'bad_mask.png', 'good_heatmap.png', 'good_mask.png']);
});

t.test('bad input: empty folder, all-corrupt folder, unknown config key, invalid flag, unreadable image', async (t) => {
  const empty = join(root, 'empty');
  await mkdir(empty);
  let r = await linesight(['enroll', '--product', 'empty', '--images', empty, '--data-dir', dataDir, ...settings]);
  t.equal(r.code, 1);
  t.match(r.stderr, /linesight: no golden-sample images in .*empty/);

  const corrupt = join(root, 'corrupt');
  await mkdir(corrupt);
  for (let i = 0; i < 12; i++) await writeTruncatedPng(join(corrupt, `c${i}.png`));
  r = await linesight(['enroll', '--product', 'corrupt', '--images', corrupt, '--data-dir', dataDir, ...settings]);
  t.equal(r.code, 1);
  t.match(r.stderr, /only 0 usable golden samples/);
  t.notOk((await readdir(join(dataDir, 'products'))).includes('corrupt'), 'no artifact is written');

  const config = join(root, 'typo.yaml');
  await writeFile(config, 'enroll:\n  coresetRatoi: 0.1\n');
  r = await linesight(['enroll', '--product', 'disc', '--images', golden, '--config', config, '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /unknown key "enroll\.coresetRatoi"/);

  r = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, '--coreset', '3']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--coreset: .*1/);
  r = await linesight(['enroll', '--product', 'Disc A', '--images', golden, '--data-dir', dataDir]);
  t.match(r.stderr, /--product "Disc A"/);

  const notImage = join(root, 'note.png');
  await writeFile(notImage, 'hello');
  r = await linesight(['score', '--product', 'disc', '--data-dir', dataDir, notImage]);
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot score .*note\.png: not a readable image/);
  r = await linesight(['score', '--product', 'ghost', '--data-dir', dataDir, notImage]);
  t.match(r.stderr, /product "ghost" is not enrolled/);
});

t.test('a tampered artifact is refused and the active version stays', async (t) => {
  const second = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, '--no-activate', ...settings]);
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /enrolled disc v2:/);
  const bank = join(dataDir, 'products', 'disc', 'v2', 'memory-bank.safetensors');
  const bytes = await readFile(bank);
  await writeFile(bank, bytes.subarray(0, bytes.length - 100));
  const r = await linesight(['score', '--product', 'disc', '--version', 'v2', '--data-dir', dataDir, join(golden, 'good_000.png')]);
  t.equal(r.code, 1);
  t.match(r.stderr, /v2: memory-bank\.safetensors is corrupt or was modified/);
  t.equal((await readFile(join(dataDir, 'products', 'disc', 'active'), 'utf8')).trim(), 'v1');
  const ok = await linesight(['score', '--product', 'disc', '--data-dir', dataDir, join(golden, 'good_000.png')]);
  t.equal(ok.code, 0, ok.stderr);
});

t.test('CutSwap: adapted features, calibrated threshold, expectations and contact sheet', async (t) => {
  const config = join(root, 'adapt.yaml');
  await writeFile(config, 'enroll:\n  adaptation:\n    epochs: 3\n');
  const r = await linesight(['enroll', '--product', 'adapted', '--images', golden, '--data-dir', dataDir, '--config', config, '--adapt', 'cutswap', ...settings]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /reject threshold \(cutswap, target 0\.50 %\): expected false rejects 0\.50 % of good parts; misses [\d.]+ % of 16 synthetic cutswap negatives/);
  t.match(r.stdout, /feature adaptation \(cutswap\): \d+ samples, 3 epochs in [\d.]+ s \((wasm|cpu|tensorflow)\)/);
  const dir = join(dataDir, 'products', 'adapted', 'v1');
  t.match(r.stdout, `synthetic negatives and saliency maps: ${join(dir, 'synthetic-negatives.png')}`);
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
  t.equal(m.adaptation.method, 'cutswap');
  t.equal(m.adaptation.samples, 12 * 5, 'each bank sample with four negatives');
  t.ok(m.adaptation.change > 0, 'the adaptor moved');
  t.same(m.reduction, { from: 128, to: 48, explainedVariance: m.reduction.explainedVariance }, 'the adaptor is folded into the reduction');
  t.same(Object.keys(m.calibration.choices).sort(), ['cutswap', 'f1synthetic', 'maxnormal']);
  t.equal(m.thresholds.image, m.calibration.choices.cutswap.threshold);
  t.equal(m.calibration.leftOut, 12);
  t.equal(m.calibration.negatives.count, 16);
  t.ok(m.calibration.choices.cutswap.threshold > m.calibration.imageScores.max, 'a 0.5 % target sits above every held-out good score here');
  const sheet = await sharp(join(dir, 'synthetic-negatives.png')).metadata();
  t.equal(sheet.height, 2 * 64 + 4, 'one row per held-out sample');
  t.equal(sheet.width, 9 * 64 + 8 * 4, 'the sample, four saliency levels, four negatives');

  const good = await writePng(join(root, 'good2.png'), partPixels(64, 64, 50), 64, 64);
  const bad = await writePng(join(root, 'bad2.png'), partPixels(64, 64, 51, { x: 22, y: 30, r: 6 }), 64, 64);
  const scored = await linesight(['score', '--product', 'adapted', '--data-dir', dataDir, '--json', good, bad]);
  t.equal(scored.code, 0, scored.stderr);
  const [g, b] = scored.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(g.verdict, 'ok', `good part scores ${g.score} under ${g.threshold}`);
  t.equal(b.verdict, 'reject', `defective part scores ${b.score} over ${b.threshold}`);

  const plain = await linesight(['enroll', '--product', 'plain', '--images', golden, '--data-dir', dataDir, '--calibrate', 'maxnormal', ...settings]);
  t.equal(plain.code, 0, plain.stderr);
  const pm = JSON.parse(await readFile(join(dataDir, 'products', 'plain', 'v1', 'manifest.json'), 'utf8'));
  t.equal(pm.adaptation, null);
  t.equal(pm.calibration.method, 'maxnormal');
  t.ok(Math.abs(pm.thresholds.image - pm.calibration.imageScores.max * 1.1) < 1e-9, 'maxnormal: 10 % above the highest held-out score');

  let bad1 = await linesight(['enroll', '--product', 'x', '--images', golden, '--data-dir', dataDir, '--target-frr', '2']);
  t.equal(bad1.code, 1);
  t.match(bad1.stderr, /--target-frr: .*0\.5/);
  bad1 = await linesight(['enroll', '--product', 'x', '--images', golden, '--data-dir', dataDir, '--calibrate', 'median']);
  t.not(bad1.code, 0);
  t.match(bad1.stderr, /--calibrate.*median.*maxnormal, f1synthetic, cutswap/s);
});

t.test('eval names an unknown mask stage before doing any work', async (t) => {
  const r = await linesight(['eval', '--dataset', root, '--refine', 'none,f2pd']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--refine "f2pd": use none, filter, calibrated, threshold/);
});
