import t from 'tap';
import { mkdtemp, mkdir, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateDevset } from '../../fixtures/devset.ts';
import { listCategories, readCategory } from '../../eval/dataset.ts';

const opts = (out: string) => ({ out, train: 3, testGood: 2, testPerDefect: 2, size: 64, seed: 4, categories: ['washer', 'pcb'] });

t.test('the development set has the MVTec layout, paired masks and exact defects', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'linesight-devset-'));
  t.same(await generateDevset(opts(out)), ['washer', 'pcb']);
  t.same(await listCategories(out), ['pcb', 'washer']);
  const cat = await readCategory(out, 'washer');
  t.equal(cat.trainGood.length, 3);
  t.equal(cat.test.filter((x) => x.label === 0).length, 2);
  const defective = cat.test.filter((x) => x.label === 1);
  t.same([...new Set(defective.map((d) => d.defectType))].sort(), ['color', 'scratch', 'structural']);
  for (const d of defective) {
    const mask = await sharp(d.maskPath!).greyscale().raw().toBuffer();
    const ones = mask.filter((v) => v === 255).length;
    t.ok(ones > 0, `${d.path}: the mask is not empty`);
    t.equal(ones + mask.filter((v) => v === 0).length, mask.length, 'the mask is binary');
  }
  t.match(await readFile(join(out, 'README.txt'), 'utf8'), /F2PAD synthetic protocol/);
});

t.test('the same seed gives the same images', async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'linesight-devset-'));
  const b = await mkdtemp(join(tmpdir(), 'linesight-devset-'));
  await generateDevset(opts(a));
  await generateDevset(opts(b));
  for (const f of ['washer/train/good/000.png', 'pcb/test/color/001.png', 'pcb/ground_truth/scratch/000_mask.png']) {
    t.ok((await readFile(join(a, f))).equals(await readFile(join(b, f))), f);
  }
});

t.test('dataset reader errors name what is missing', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'linesight-ds-'));
  await t.rejects(listCategories(join(root, 'none')), /does not exist/);
  await mkdir(join(root, 'screw', 'train', 'good'), { recursive: true });
  await mkdir(join(root, 'screw', 'test', 'thread'), { recursive: true });
  await writeFile(join(root, 'screw', 'test', 'thread', '000.png'), '');
  await t.rejects(readCategory(root, 'bolt'), /category bolt not found .*categories: screw/);
  await t.rejects(readCategory(root, 'screw'), /test\/thread\/000\.png has no mask .*ground_truth\/thread\/000_mask\.png/);
});
