/**
 * The capture loop on hand-made frames sent through a plain EventEmitter (the
 * camera's own event interface), writing real PNG files.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Frame } from '../../runtime/camera-pipeline.ts';
import { CaptureError, captureGoldenSamples, type CaptureProgress } from '../../runtime/capture/golden-capture.ts';

const W = 12;
const H = 8;
let seq = 0;
function frame(grey: number, ts: number): Frame {
  return { cameraId: 'cam1', seq: seq++, ts, width: W, height: H, data: Buffer.alloc(W * H * 3, grey) };
}
/** Lets the capture's file writes run between frames. */
const settle = () => new Promise((r) => setTimeout(r, 50));

t.test('saves distinct frames spaced in time, skips the rest, writes whole PNGs', async (t) => {
  const dir = join(t.testdir({}), 'golden');
  const camera = new EventEmitter();
  const updates: CaptureProgress[] = [];
  const done = captureGoldenSamples(camera, { count: 3, outDir: dir, minIntervalMs: 1000, onProgress: (p) => updates.push(p) });
  await settle();
  camera.emit('frame', frame(50, 0)); // saved
  camera.emit('frame', frame(200, 300)); // too soon
  camera.emit('frame', frame(51, 1200)); // near-identical to the first
  camera.emit('frame', frame(120, 1300)); // saved
  await settle();
  camera.emit('frame', frame(121, 2500)); // near-identical to the second
  camera.emit('frame', frame(220, 2600)); // saved: done
  camera.emit('frame', frame(10, 9000)); // after the end: ignored
  const result = await done;
  t.same(result.files.map((f) => f.slice(dir.length + 1)), ['000.png', '001.png', '002.png']);
  t.equal(result.skippedSimilar, 2);
  t.equal(result.skippedTooSoon, 1);
  t.notOk(result.aborted);
  t.same((await readdir(dir)).sort(), ['000.png', '001.png', '002.png'], 'no temporary file is left');
  const png = await sharp(result.files[1]!).raw().toBuffer({ resolveWithObject: true });
  t.same([png.info.width, png.info.height, png.info.channels], [W, H, 3]);
  t.equal(png.data[0], 120, 'the second saved frame is the grey-120 one');
  t.equal(camera.listenerCount('frame'), 0, 'capture stops listening');
  const saves = updates.filter((u) => u.file);
  t.same(saves.map((u) => u.saved), [1, 2, 3]);
  t.same(updates.at(-1), { saved: 3, count: 3, skippedSimilar: 2, skippedTooSoon: 1, file: result.files[2] });
});

t.test('numbering continues after files already in the folder; none is overwritten', async (t) => {
  const dir = t.testdir({ '000.png': 'keep me', '001.png': 'keep me too', 'notes.txt': 'x' });
  const camera = new EventEmitter();
  const done = captureGoldenSamples(camera, { count: 2, outDir: dir, minIntervalMs: 0 });
  await settle();
  camera.emit('frame', frame(0, 0));
  camera.emit('frame', frame(255, 1));
  const result = await done;
  t.same(result.files.map((f) => f.slice(dir.length + 1)), ['002.png', '003.png']);
  t.same((await readdir(dir)).sort(), ['000.png', '001.png', '002.png', '003.png', 'notes.txt']);
});

t.test('a file that appears under the next number meanwhile is kept; the sample takes the next free number', async (t) => {
  const dir = t.testdir({});
  const camera = new EventEmitter();
  const done = captureGoldenSamples(camera, { count: 1, outDir: dir, minIntervalMs: 0 });
  await settle();
  await writeFile(join(dir, '000.png'), 'written by another capture');
  camera.emit('frame', frame(0, 0));
  const result = await done;
  t.same(result.files.map((f) => f.slice(dir.length + 1)), ['001.png']);
});

t.test('timeout: says how many were saved and why the other frames were skipped', async (t) => {
  const dir = t.testdir({});
  const camera = new EventEmitter();
  const done = captureGoldenSamples(camera, { count: 5, outDir: dir, minIntervalMs: 0, timeoutMs: 300 });
  await settle();
  camera.emit('frame', frame(50, 0));
  for (let i = 1; i <= 4; i++) camera.emit('frame', frame(50, i));
  const err = (await done.then(() => null, (e: unknown) => e)) as CaptureError;
  t.type(err, CaptureError);
  t.match(err.message, /no new golden sample for 0\.3 s: saved 1 of 5; of 5 camera frames 4 near-identical to a saved sample .* were skipped/);
  t.equal(err.files.length, 1, 'the saved sample is reported');
  t.same(await readdir(dir), ['000.png'], 'and kept on disk');
  t.equal(camera.listenerCount('frame'), 0);
});

t.test('timeout without any frame says the camera sent none', async (t) => {
  const camera = new EventEmitter();
  await t.rejects(captureGoldenSamples(camera, { count: 2, outDir: t.testdir({}), timeoutMs: 200 }), /saved 0 of 2; no frame arrived from the camera/);
});

t.test('abort resolves with what was saved, kept on disk', async (t) => {
  const dir = t.testdir({});
  const camera = new EventEmitter();
  const ac = new AbortController();
  const done = captureGoldenSamples(camera, { count: 10, outDir: dir, minIntervalMs: 0, signal: ac.signal });
  await settle();
  camera.emit('frame', frame(0, 0));
  camera.emit('frame', frame(255, 1));
  ac.abort();
  const result = await done;
  t.equal(result.aborted, true);
  t.equal(result.files.length, 2, 'frames chosen before the abort are written');
  t.same((await readdir(dir)).sort(), ['000.png', '001.png']);
  t.equal(camera.listenerCount('frame'), 0);
});

t.test('bad options are refused by name', async (t) => {
  const camera = new EventEmitter();
  const dir = t.testdir({});
  await t.rejects(captureGoldenSamples(camera, { count: 0, outDir: dir }), /count must be a whole number/);
  await t.rejects(captureGoldenSamples(camera, { count: 2, outDir: dir, minChange: 2 }), /minChange must be between 0 and 1/);
  await t.rejects(captureGoldenSamples(camera, { count: 2, outDir: dir, timeoutMs: 0 }), /timeoutMs must be more than 0/);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  await t.rejects(captureGoldenSamples(camera, { count: 2, outDir: join(file, 'sub') }), /cannot use .*a-file\/sub for golden samples: ENOTDIR/);
});

t.test('a set holds at most maxPerSet samples: a capture that would pass it is refused before it starts', async (t) => {
  const dir = t.testdir({ '000.png': 'x', '001.png': 'x', '002.png': 'x', 'notes.txt': 'x' });
  const camera = new EventEmitter();
  await t.rejects(captureGoldenSamples(camera, { count: 2, outDir: dir, maxPerSet: 4 }), {
    name: 'CaptureError',
    message: `${dir} holds 3 golden samples; capturing 2 more would pass the limit of 4 per set (ask for at most 1, or delete samples first)`,
  });
  t.equal(camera.listenerCount('frame'), 0, 'the refused capture never listened to the camera');
  const done = captureGoldenSamples(camera, { count: 1, outDir: dir, maxPerSet: 4, minIntervalMs: 0 });
  await settle();
  camera.emit('frame', frame(90, 0));
  t.equal((await done).files.length, 1, 'up to the limit is allowed');
  t.equal((await readdir(dir)).filter((f) => f.endsWith('.png')).length, 4);
});
