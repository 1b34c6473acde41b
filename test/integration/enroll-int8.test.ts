/**
 * An int8 product end to end through the `linesight` command: enrolled with
 * `--precision int8` (activation ranges calibrated on its golden samples and
 * kept in the manifest), then scored — good parts pass, a defect is rejected.
 */
import t from 'tap';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linesight } from '../helpers/cli.ts';
import { partPixels, writeGoldenSet, writePng } from '../helpers/images.ts';

const root = await mkdtemp(join(tmpdir(), 'linesight-int8-'));
const dataDir = join(root, 'data');
const golden = join(root, 'golden');
await writeGoldenSet(golden, 14, 64);

t.test('enroll --precision int8, then score', async (t) => {
  const enrolled = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, '--input-size', '64', '--coreset', '0.25', '--precision', 'int8']);
  t.equal(enrolled.code, 0, enrolled.stderr);
  const manifest = JSON.parse(await readFile(join(dataDir, 'products', 'disc', 'v1', 'manifest.json'), 'utf8'));
  t.equal(manifest.precision, 'int8');
  t.equal(manifest.int8.calibration, 'minmax');
  t.equal(manifest.int8.samples, manifest.goldenSamples.files.filter((f: { role: string }) => f.role === 'bank').length, 'ranges come from the bank samples');
  const ranges = Object.values(manifest.int8.ranges) as [number, number][];
  t.ok(ranges.length > 30, `${ranges.length} calibrated tensors`);
  t.ok(ranges.every(([min, max]) => min <= max), 'every range is [min, max]');
  t.match(manifest.backbone.sha256, /^[0-9a-f]{64}$/, 'the source weights are still identified by sha256');

  const good = await writePng(join(root, 'good.png'), partPixels(64, 64, 40), 64, 64);
  const bad = await writePng(join(root, 'bad.png'), partPixels(64, 64, 41, { x: 40, y: 26, r: 5 }), 64, 64);
  const scored = await linesight(['score', '--product', 'disc', '--data-dir', dataDir, '--json', good, bad]);
  t.equal(scored.code, 0, scored.stderr);
  // One JSON object per image; other lines (library notices) are not ours to parse.
  const [g, b] = scored.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  t.equal(g.verdict, 'ok', `good part scores ${g.score} under ${g.threshold}`);
  t.equal(b.verdict, 'reject', `defective part scores ${b.score} over ${b.threshold}`);

  const { int8: _ranges, ...withoutRanges } = manifest;
  await writeFile(join(dataDir, 'products', 'disc', 'v1', 'manifest.json'), JSON.stringify(withoutRanges));
  const refused = await linesight(['score', '--product', 'disc', '--data-dir', dataDir, good]);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /is int8 but its manifest has no calibrated ranges; enroll it again/);
});

t.test('an unknown precision is refused', async (t) => {
  const r = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, '--precision', 'int4']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--precision/);
});
