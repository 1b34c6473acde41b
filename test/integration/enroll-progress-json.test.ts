/**
 * `linesight enroll --progress json`: what a program running an enrollment
 * reads (the web UI runs it as a child process). Real CLI, real enrollment.
 */
import { mkdir, readdir, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { parseEnrollLine, type EnrollLine } from '../../product/enrollment-progress.ts';
import { loadProductArtifact, readActiveVersion } from '../../product/artifact.ts';
import { generateDevset } from '../../fixtures/devset.ts';
import { linesight } from '../helpers/cli.ts';

const dir = t.testdir();
await generateDevset({ out: join(dir, 'devset'), train: 10, testGood: 1, testPerDefect: 1, size: 64, seed: 2, categories: ['washer'] });
const images = join(dir, 'devset', 'washer', 'train', 'good');

const lines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => parseEnrollLine(l));

t.test('one JSON line per progress update, then the result', async (t) => {
  const dataDir = join(dir, 'data');
  const r = await linesight(['enroll', '--product', 'washer', '--images', images, '--data-dir', dataDir, '--input-size', '64', '--no-activate', '--progress', 'json']);
  t.equal(r.code, 0, `exit status 0${r.code ? `: ${r.stderr.slice(-300)}` : ''}`);
  const out = lines(r.stdout);
  t.ok(out.every((l) => l !== undefined), 'stdout holds nothing but JSON lines');
  const progress = out.filter((l): l is Extract<EnrollLine, { event: 'progress' }> => l?.event === 'progress');
  t.ok(progress.length >= 10, `${progress.length} progress lines`);
  t.same([...new Set(progress.map((p) => p.stage))], ['load', 'features', 'coreset', 'calibrate', 'write'], 'stages in order');
  t.ok(progress.every((p) => p.done >= 0 && p.done <= p.total));
  const result = out.at(-1)!;
  t.match(result, {
    event: 'result',
    product: 'washer',
    version: 'v1',
    activated: false,
    goldenSamples: 10,
    calibration: { method: 'cutswap', expectedFrr: Number, expectedMiss: Number },
    alignment: null,
    attachments: ['synthetic-negatives.png'],
  });
  t.equal(await readActiveVersion(dataDir, 'washer'), undefined, '--no-activate left the product without an active version');
});

t.test('a failure is one JSON error line and exit status 1', async (t) => {
  const few = join(dir, 'few');
  await mkdir(few);
  for (const f of (await readdir(images)).slice(0, 3)) await copyFile(join(images, f), join(few, f));
  const r = await linesight(['enroll', '--product', 'washer', '--images', few, '--data-dir', join(dir, 'data2'), '--input-size', '64', '--progress', 'json']);
  t.equal(r.code, 1);
  t.match(lines(r.stdout).at(-1), { event: 'error', message: /3 .*golden samples|at least 10/ });
  t.match(r.stderr, /^linesight: /m, 'the human line is still on stderr');
});

t.test('the human output stays the default', async (t) => {
  const r = await linesight(['enroll', '--product', 'washer', '--images', images, '--data-dir', join(dir, 'data3'), '--input-size', '64']);
  t.equal(r.code, 0, `exit status 0${r.code ? `: ${r.stderr.slice(-300)}` : ''}`);
  t.match(r.stdout, /^enrolled washer v1 \(active\)/m);
  t.match(r.stdout, /^calibration: 2 held-out golden samples as captured \(no camera jitter\)$/m, 'one line on what calibration used');
  t.notMatch(r.stdout, /"event"/);
});

t.test('camera-jittered views of the held-out samples are scored and recorded', async (t) => {
  const dataDir = join(dir, 'data4');
  const views = 2;
  const r = await linesight(['enroll', '--product', 'washer', '--images', images, '--data-dir', dataDir, '--input-size', '64', '--calibration-views', String(views), '--progress', 'json']);
  t.equal(r.code, 0, `exit status 0${r.code ? `: ${r.stderr.slice(-300)}` : ''}`);
  const { manifest } = await loadProductArtifact(dataDir, 'washer');
  const c = manifest.calibration;
  t.equal(c.heldOut, 2);
  t.match(c.jitter, { views, ranges: { rotation: 3, zoom: 0.03, shift: 0.03, gain: 0.08, offset: 6, noise: 3 }, scores: c.heldOut * (1 + views) });
  const calibrate = lines(r.stdout).filter((l): l is Extract<EnrollLine, { event: 'progress' }> => l?.event === 'progress' && l.stage === 'calibrate');
  const negatives = c.negatives?.count ?? 0;
  t.equal(calibrate.at(-1)?.total, c.heldOut * (1 + views) + negatives + (c.leftOut ?? 0), 'every view is one scoring step of calibration');
  t.equal(calibrate.at(-1)?.done, calibrate.at(-1)?.total);
  const human = await linesight(['enroll', '--product', 'washer', '--images', images, '--data-dir', dataDir, '--input-size', '64', '--calibration-views', String(views)]);
  t.match(human.stdout, /^calibration: 6 good scores from 2 held-out golden samples x \(1 \+ 2 camera-jittered views: \+-3\.0 deg/m);
});
