/**
 * Golden-sample capture from a real RTSP camera (GStreamer's RTSP server fed
 * with an H.264 video made by ffmpeg): the library on an FfmpegCamera, and the
 * `linesight capture` command end to end, including an unknown camera id and
 * a camera that does not answer.
 */
import t from 'tap';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { cameraSettingsSchema } from '../../config/camera-settings.ts';
import { greyThumbnail, thumbnailDifference } from '../../runtime/capture/capture-decision.ts';
import { captureGoldenSamples } from '../../runtime/capture/golden-capture.ts';
import { FfmpegCamera } from '../../runtime/ingest/ffmpeg-camera.ts';
import { encodeConveyorVideo } from '../../fixtures/conveyor.ts';
import { linesight } from '../helpers/cli.ts';
import { bracketPixels, writePng } from '../helpers/images.ts';
import { freePort } from '../../fixtures/mosquitto.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';

const dir = t.testdir({});
// Five scenes, each held still for 3 s (a stopped belt), then the next part: a bracket at another angle.
const scenes: string[] = [];
for (let i = 0; i < 5; i++) scenes.push(await writePng(join(dir, `scene${i}.png`), bracketPixels(160, (i * Math.PI) / 3, 0, 0, i), 160, 160));
const video = join(dir, 'belt.mp4');
await encodeConveyorVideo(scenes.flatMap((image) => Array.from({ length: 3 }, () => ({ kind: 'good', defective: false, image }))), video, { size: 160, fps: 15 });

/** Decoded pixels of the saved PNGs, checked to be whole images of the camera's frame size. */
async function readSamples(t: { same(found: unknown, wanted: unknown, message: string): unknown }, files: string[], width: number, height: number) {
  const frames = [];
  for (const f of files) {
    const { data, info } = await sharp(f).raw().toBuffer({ resolveWithObject: true });
    t.same([info.width, info.height, info.channels], [width, height, 3], `${f} is a ${width}x${height} RGB PNG`);
    frames.push({ width, height, data });
  }
  return frames;
}

t.test('captures distinct scenes from a live RTSP camera and skips the stopped belt', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const camera = new FfmpegCamera(cameraSettingsSchema.parse({ id: 'cam1', url: server.url, width: 128, height: 96, fps: 10 }));
  t.teardown(() => camera.stop());
  camera.start();
  const out = join(dir, 'golden');
  const result = await captureGoldenSamples(camera, { count: 3, outDir: out, minIntervalMs: 500, timeoutMs: 30_000 });
  t.same((await readdir(out)).sort(), ['000.png', '001.png', '002.png'], 'only whole samples are in the folder');
  t.ok(result.skippedSimilar >= 10, `frames of the stopped belt are skipped as near-identical (${result.skippedSimilar})`);
  const samples = await readSamples(t, result.files, 128, 96);
  for (let i = 0; i < samples.length; i++) {
    for (let j = i + 1; j < samples.length; j++) {
      const d = thumbnailDifference(greyThumbnail(samples[i]!), greyThumbnail(samples[j]!));
      t.ok(d >= 0.02, `samples ${i} and ${j} differ (${d.toFixed(3)})`);
    }
  }
  t.equal(camera.listenerCount('frame'), 0, 'capture no longer listens to the camera');
});

t.test('linesight capture: progress, summary and next step; the camera reader is stopped', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const config = join(dir, 'device.yaml');
  await writeFile(config, `cameras:\n  - id: infeed\n    url: ${server.url}\n    product: bracket-a\n    width: 96\n    height: 96\n    fps: 10\n  - id: outfeed\n    url: rtsp://127.0.0.1:1/none\n    product: bracket-b\n`);
  const out = join(dir, 'cli-golden');
  await writeFile(join(dir, 'placeholder'), '');
  const r = await linesight(['capture', '--camera', 'infeed', '--count', '2', '--out', out, '--config', config, '--interval', '500', '--timeout', '30']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^saved 1\/2 \(skipped \d+ near-identical\)/m);
  t.match(r.stdout, /^saved 2\/2 \(skipped \d+ near-identical\)/m);
  t.match(r.stdout, new RegExp(`captured 2 golden samples into ${out} in [\\d.]+ s \\(skipped \\d+ near-identical and \\d+ too-soon frames\\)`));
  t.match(r.stdout, `linesight enroll --product bracket-a --images ${out}`);
  t.match(r.stderr, /camera infeed: receiving 96x96 frames/);
  await readSamples(t, (await readdir(out)).sort().map((f) => join(out, f)), 96, 96);

  // A second capture into the same folder continues the numbering.
  const again = await linesight(['capture', '--camera', 'infeed', '--count', '1', '--out', out, '--config', config, '--interval', '0', '--timeout', '30']);
  t.equal(again.code, 0, again.stderr);
  t.same((await readdir(out)).sort(), ['000.png', '001.png', '002.png']);
});

t.test('linesight capture: unknown camera id lists the configured ones; bad flags are named', async (t) => {
  const config = join(dir, 'two.yaml');
  await writeFile(config, 'cameras:\n  - id: infeed\n    url: rtsp://127.0.0.1:1/a\n    product: bracket-a\n  - id: outfeed\n    url: rtsp://127.0.0.1:1/b\n    product: bracket-b\n');
  const out = join(dir, 'nothing');
  let r = await linesight(['capture', '--camera', 'topview', '--count', '5', '--out', out, '--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /linesight: --camera "topview": no such camera in .*two\.yaml; configured cameras: infeed, outfeed/);
  r = await linesight(['capture', '--camera', 'infeed', '--count', '0', '--out', out, '--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /--count "0": use a whole number, at least 1/);
  r = await linesight(['capture', '--camera', 'infeed', '--count', '3', '--out', out, '--config', config, '--min-change', 'lots']);
  t.match(r.stderr, /--min-change "lots": use a number, at least 0, at most 1/);
  r = await linesight(['capture', '--camera', 'infeed', '--count', '3', '--out', out]);
  t.match(r.stderr, /--camera "infeed": no cameras are configured \(no --config given\)/);
  t.same(await readdir(dir).then((e) => e.includes('nothing')), false, 'no folder is created for a refused capture');
});

t.test('linesight capture: a camera that does not answer fails within the timeout, with the reason', async (t) => {
  const port = await freePort();
  const config = join(dir, 'off.yaml');
  await writeFile(config, `cameras:\n  - id: infeed\n    url: rtsp://127.0.0.1:${port}/line\n    product: bracket-a\n    backoff:\n      initialMs: 200\n      maxMs: 1000\n`);
  const out = join(dir, 'off-golden');
  const r = await linesight(['capture', '--camera', 'infeed', '--count', '5', '--out', out, '--config', config, '--timeout', '4']);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`linesight: camera infeed sent no frame: cannot connect to rtsp://127\\.0\\.0\\.1:${port}/line \\(connection refused: camera off or wrong port\\).*; no new golden sample for 4 s: saved 0 of 5; no frame arrived from the camera`));
  t.same(await readdir(out), [], 'the folder holds no partial file');
});
