/** The hard development set: its layout, defect sizes, determinism and splits, on a tiny size. */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { checkDataset } from '../../eval/preflight.ts';
import { SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';
import { DEFECT_AREA, HARD_DEFECT_TYPES, OPENARENA_TEXTURES, decodeTga, defectCounts, generateHardDevset, type HardSplit } from '../../fixtures/devset-hard.ts';
import { requireTool } from '../helpers/require-tool.ts';

const SIZE = 64;
const options = (out: string, split: HardSplit = 'tune') => ({
  out,
  split,
  train: 2,
  testGood: 2,
  testDefective: 2 * HARD_DEFECT_TYPES.length,
  size: SIZE,
  seed: 5,
  categories: ['concrete', 'coffee'],
});

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-hard-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under a folder, relative path -> bytes. */
async function snapshot(root: string): Promise<Map<string, Buffer>> {
  const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const out = new Map<string, Buffer>();
  for (const f of files) out.set(join(f.parentPath, f.name).slice(root.length), await readFile(join(f.parentPath, f.name)));
  return out;
}

t.test('the hard set has the MVTec layout, a folder per defect type and masks of 0.5-3 % of the image', async (t) => {
  if (!requireTool(t, OPENARENA_TEXTURES, SYSTEM_DEPS_HINT)) return;
  const out = await tempDir(t);
  t.same(await generateHardDevset(options(out)), ['concrete', 'coffee']);
  const categories = await checkDataset(out, undefined, 2);
  t.same(categories.map((c) => c.name), ['coffee', 'concrete']);
  for (const category of categories) {
    t.equal(category.trainGood.length, 2, `${category.name}: golden samples`);
    t.equal(category.test.filter((x) => x.label === 0).length, 2, `${category.name}: good test images`);
    const defective = category.test.filter((x) => x.label === 1);
    t.same([...new Set(defective.map((d) => d.defectType))].sort(), [...HARD_DEFECT_TYPES].sort(), `${category.name}: one folder per defect type`);
    t.equal(defective.length, 2 * HARD_DEFECT_TYPES.length);
    for (const d of defective) {
      const image = await sharp(d.path).metadata();
      t.same([image.width, image.height], [SIZE, SIZE]);
      const mask = await sharp(d.maskPath!).greyscale().raw().toBuffer();
      const ones = mask.filter((v) => v === 255).length;
      t.equal(ones + mask.filter((v) => v === 0).length, mask.length, 'the mask is binary');
      const share = ones / mask.length;
      t.ok(share >= DEFECT_AREA[0] && share <= DEFECT_AREA[1], `${d.path}: defect covers ${(share * 100).toFixed(2)} % of the image`);
    }
  }
  t.match(await readFile(join(out, 'README.txt'), 'utf8'), /split tune \(seed 5\)/);
});

t.test('the same seed gives the same images; the held-out split gives others', async (t) => {
  if (!requireTool(t, OPENARENA_TEXTURES, SYSTEM_DEPS_HINT)) return;
  const [a, b, held] = [await tempDir(t), await tempDir(t), await tempDir(t)];
  await generateHardDevset(options(a));
  await generateHardDevset(options(b));
  await generateHardDevset(options(held, 'holdout'));
  const [first, second, holdout] = [await snapshot(a), await snapshot(b), await snapshot(held)];
  t.same([...first.keys()].sort(), [...second.keys()].sort());
  for (const [path, bytes] of first) t.ok(bytes.equals(second.get(path)!), `${path} is the same for the same seed`);
  const images = [...first.keys()].filter((p) => p.endsWith('.png'));
  t.ok(images.every((p) => !first.get(p)!.equals(holdout.get(p)!)), 'no image of the held-out split equals its tuning counterpart');
});

t.test('defectCounts spreads the defective images over the types', async (t) => {
  t.same(defectCounts(60), { cutpaste: 12, scratch: 12, blur: 12, stain: 12, missing: 12 });
  t.same(defectCounts(7), { cutpaste: 2, scratch: 2, blur: 1, stain: 1, missing: 1 });
});

t.test('decodeTga reads bottom-up and top-down 24/32-bit images as RGB', async (t) => {
  // 2x1 pixels... as 1x2: bottom-up rows, BGRA: first stored row is the bottom one.
  const header = (bits: number, descriptor: number) => [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, bits, descriptor];
  const bottomUp = Uint8Array.from([...header(32, 8), 3, 2, 1, 255, 30, 20, 10, 255]);
  t.same([...decodeTga(bottomUp, 'a.tga').px], [10, 20, 30, 1, 2, 3]);
  const topDown = Uint8Array.from([...header(24, 0x20), 3, 2, 1, 30, 20, 10]);
  t.same([...decodeTga(topDown, 'b.tga').px], [1, 2, 3, 10, 20, 30]);
  t.throws(() => decodeTga(Uint8Array.from([...header(32, 8), 1, 2]), 'c.tga'), /c\.tga: truncated TGA/);
  const rle = Uint8Array.from([0, 0, 10, ...header(32, 8).slice(3)]);
  t.throws(() => decodeTga(rle, 'd.tga'), /only uncompressed 24\/32-bit TGA/);
});
