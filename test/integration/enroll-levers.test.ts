/**
 * The enroll levers end to end through the `linesight` command: a product
 * enrolled with a random-projection reduction, flipped and turned bank views
 * and PatchCore's image-score reweighting records them in its manifest,
 * keeps a bank the size the unaugmented samples give, and scores as the
 * plain product does (good parts pass, a defect is rejected); combinations
 * that cannot work are refused by name.
 */
import t from 'tap';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linesight } from '../helpers/cli.ts';
import { partPixels, writeGoldenSet, writePng } from '../helpers/images.ts';

const root = await mkdtemp(join(tmpdir(), 'linesight-levers-'));
const dataDir = join(root, 'data');
const golden = join(root, 'golden');
await writeGoldenSet(golden, 14, 64);
const base = ['--images', golden, '--data-dir', dataDir, '--input-size', '64', '--coreset', '0.25'];
const manifestOf = async (product: string) => JSON.parse(await readFile(join(dataDir, 'products', product, 'v1', 'manifest.json'), 'utf8'));

t.test('random projection, dihedral bank views and reweighting: recorded, same bank size, same verdicts', async (t) => {
  const plain = await linesight(['enroll', '--product', 'plain', ...base]);
  t.equal(plain.code, 0, plain.stderr);
  const levers = await linesight(['enroll', '--product', 'levers', ...base, '--feature-reduction', 'random', '--feature-dim', '16', '--bank-augment', 'dihedral', '--reweight', '3']);
  t.equal(levers.code, 0, levers.stderr);
  const p = await manifestOf('plain');
  const m = await manifestOf('levers');
  t.equal(m.reduction.method, 'random');
  t.equal(m.reduction.to, 16);
  t.equal(m.featureDim, 16);
  t.equal(p.reduction.method, undefined, 'a PCA reduction is written as before');
  t.same(m.reweight, { neighbours: 3 });
  t.equal(p.reweight, undefined);
  t.equal(m.coreset.augment, 'dihedral');
  t.equal(m.coreset.size, p.coreset.size, 'the bank keeps the ratio of the samples\' own patches');
  t.equal(m.coreset.totalPatches, 8 * p.coreset.totalPatches, 'every bank sample and its 7 views were candidates');

  const good = await writePng(join(root, 'good.png'), partPixels(64, 64, 40), 64, 64);
  const bad = await writePng(join(root, 'bad.png'), partPixels(64, 64, 41, { x: 40, y: 26, r: 5 }), 64, 64);
  const scored = await linesight(['score', '--product', 'levers', '--data-dir', dataDir, '--json', good, bad]);
  t.equal(scored.code, 0, scored.stderr);
  const [g, b] = scored.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(g.verdict, 'ok', `good part scores ${g.score} under ${g.threshold}`);
  t.equal(b.verdict, 'reject', `defective part scores ${b.score} over ${b.threshold}`);
});

t.test('refused: reweighting or bank views with PaDiM, one neighbour, an unknown view set', async (t) => {
  let r = await linesight(['enroll', '--product', 'padim-a', ...base, '--scorer', 'padim', '--bank-augment', 'flips']);
  t.equal(r.code, 1);
  t.match(r.stderr, /bankAugment .*PaDiM/);
  r = await linesight(['enroll', '--product', 'padim-b', ...base, '--scorer', 'padim', '--reweight', '9']);
  t.equal(r.code, 1);
  t.match(r.stderr, /reweightNeighbours .*PaDiM/);
  r = await linesight(['enroll', '--product', 'one', ...base, '--reweight', '1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--reweight: .*at least 2/);
  r = await linesight(['enroll', '--product', 'views', ...base, '--bank-augment', 'rotations']);
  t.not(r.code, 0);
  t.match(r.stderr, /bank-augment.*rotations/);
});
