import t from 'tap';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGoldenSamples, EnrollError } from '../../trainer/golden-samples.ts';
import { imageFileNames } from '../../product/image-io.ts';
import { partPixels, writeGoldenSet, writePng, writeTruncatedPng } from '../helpers/images.ts';

const size = { width: 32, height: 32 };
const root = await mkdtemp(join(tmpdir(), 'linesight-golden-'));

t.test('loads every readable image at the model input size', async (t) => {
  const dir = join(root, 'ok');
  await writeGoldenSet(dir, 5, 48);
  await writeFile(join(dir, 'notes.txt'), 'not an image');
  const set = await loadGoldenSamples(dir, size, 3);
  t.equal(set.images.length, 5);
  t.equal(set.images[0]!.data.length, 32 * 32 * 3);
  t.equal(set.images[0]!.originalWidth, 48);
  t.match(set.images[0]!.sha256, /^[0-9a-f]{64}$/);
  t.same(set.skipped, []);
});

t.test('corrupt files are skipped by name, not fatal while enough remain', async (t) => {
  const dir = join(root, 'some-corrupt');
  await writeGoldenSet(dir, 4, 48);
  await writeTruncatedPng(join(dir, 'cut.png'), 48);
  await writeFile(join(dir, 'zero.png'), '');
  await writeFile(join(dir, 'text.jpg'), 'hello');
  const set = await loadGoldenSamples(dir, size, 3);
  t.equal(set.images.length, 4);
  t.same(set.skipped.map((s) => s.name).sort(), ['cut.png', 'text.jpg', 'zero.png']);
  t.match(set.skipped.find((s) => s.name === 'zero.png')!.reason, /empty/);
  t.match(set.skipped.find((s) => s.name === 'text.jpg')!.reason, /not a readable image/);
});

t.test('an empty folder, a missing folder and an all-corrupt folder are clear errors', async (t) => {
  const empty = join(root, 'empty');
  await mkdir(empty);
  await t.rejects(loadGoldenSamples(empty, size, 3), { name: 'EnrollError', message: /no golden-sample images in .*empty/ });
  await t.rejects(loadGoldenSamples(join(root, 'nope'), size, 3), /does not exist/);
  const bad = join(root, 'all-corrupt');
  await mkdir(bad);
  for (const n of ['a.png', 'b.png', 'c.png']) await writeTruncatedPng(join(bad, n));
  const err = await loadGoldenSamples(bad, size, 2).catch((e) => e);
  t.ok(err instanceof EnrollError);
  t.match(err.message, /only 0 usable golden samples .* at least 2 are needed; skipped: a\.png/);
});

t.test('images of another size than the majority are reported and left out', async (t) => {
  const dir = join(root, 'mixed');
  await writeGoldenSet(dir, 4, 48);
  await writePng(join(dir, 'other_camera.png'), partPixels(64, 40, 1), 64, 40);
  const set = await loadGoldenSamples(dir, size, 3);
  t.equal(set.images.length, 4);
  t.same(set.skipped, [{ name: 'other_camera.png', reason: 'size 64x40 differs from the other golden samples (48x48)' }]);
  await t.rejects(loadGoldenSamples(dir, size, 5), /only 4 usable golden samples .*other_camera\.png \(size 64x40/);
});

t.test('imageFileNames keeps image files by extension, drops hidden and other files, sorts', async (t) => {
  t.same(imageFileNames(['b.PNG', 'a.jpg', '.capture-1.tmp', '.hidden.png', 'notes.txt', 'c.webp', 'manifest.json']), ['a.jpg', 'b.PNG', 'c.webp']);
  t.same(imageFileNames([]), []);
});
