/**
 * `npm run bench:rtsp-start [-- --rounds 5]`: how a camera's RTSP connection
 * starts under each `cameras[].rtspStart` preset (runtime/ingest/ffmpeg-command.ts).
 *
 * A 30 fps H.264 video (B-frames, a keyframe a second, as bench:opcua's line
 * video) whose frames carry their own number in 16 black/white columns is
 * served by the RTSP test camera (GStreamer); every connection plays it from
 * frame 0. The product's camera reader (FfmpegCamera) connects once per round
 * and preset, the presets taking turns, and for each connection the bench
 * records the time from start() to the first frame, the number of the first
 * frame delivered (frames before it were lost), and over the next 3 s any
 * frame number skipped or delivered out of order. Medians over the rounds.
 *
 * Ends with one JSON line, also written to `.bench/rtsp-start.json`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { cameraSettingsSchema, type CameraSettings } from '../config/camera-settings.ts';
import { startRtspCamera } from '../fixtures/rtsp-camera.ts';
import { FfmpegCamera } from '../runtime/ingest/ffmpeg-camera.ts';
import { resolveFfmpeg } from '../runtime/ingest/find-ffmpeg.ts';
import type { Frame } from '../runtime/camera-pipeline.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

const args = parseArgs({ options: { rounds: { type: 'string', default: '5' }, dir: { type: 'string', default: '.bench/rtsp-start' } } });
const SIZE = 224;
const FPS = 30;
const BITS = 16;
const COLUMN = SIZE / BITS;
const WATCH_MS = 3000;
const PRESETS: CameraSettings['rtspStart'][] = ['low-delay', 'probed'];

/** Frame k of the numbered video: column b is white when bit b of k is set (RGB, rows of SIZE). */
function numberedFrame(k: number): Buffer {
  const frame = Buffer.alloc(SIZE * SIZE * 3);
  for (let x = 0; x < SIZE; x++) {
    const v = (k >> Math.floor(x / COLUMN)) & 1 ? 235 : 20;
    for (let y = 0; y < SIZE; y++) frame.fill(v, (y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3);
  }
  return frame;
}

/** The number a decoded frame carries (read at the middle of each column). */
function frameNumber(rgb: Uint8Array, width: number): number {
  let k = 0;
  for (let b = 0; b < BITS; b++) if (rgb[((SIZE / 2) * width + b * COLUMN + COLUMN / 2) * 3]! > 128) k |= 1 << b;
  return k;
}

async function encodeNumberedVideo(path: string, seconds: number): Promise<void> {
  const child = spawn(resolveFfmpeg().path, ['-y', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${SIZE}x${SIZE}`, '-r', String(FPS), '-i', 'pipe:0',
    '-c:v', 'libx264', '-preset', 'veryfast', '-qp', '10', '-pix_fmt', 'yuv444p', '-g', String(FPS), path], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<void>((ok, fail) => child.on('close', (code) => (code === 0 ? ok() : fail(new Error(`ffmpeg could not encode ${path}`)))));
  for (let k = 0; k < seconds * FPS; k++) {
    if (!child.stdin.write(numberedFrame(k))) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  await done;
}

interface Connection { msToFirstFrame: number; firstFrame: number; skipped: number; outOfOrder: number }

/** One connection of the product's reader: first frame, its number, and the order of the frames after it. */
async function connectOnce(url: string, rtspStart: CameraSettings['rtspStart']): Promise<Connection> {
  const camera = new FfmpegCamera(cameraSettingsSchema.parse({ id: 'bench', url, width: SIZE, height: SIZE, fps: FPS, rtspStart }));
  const numbers: number[] = [];
  let firstAt = 0;
  const started = performance.now();
  const watched = new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`no frame within 15 s (${rtspStart})`)), 15_000);
    camera.on('frame', (frame: Frame) => {
      if (numbers.length === 0) firstAt = performance.now();
      numbers.push(frameNumber(frame.data, frame.width));
      if (performance.now() - firstAt >= WATCH_MS) {
        clearTimeout(timer);
        done();
      }
    });
  });
  camera.start();
  try {
    await watched;
  } finally {
    await camera.stop();
  }
  let skipped = 0;
  let outOfOrder = 0;
  for (let i = 1; i < numbers.length; i++) {
    const step = numbers[i]! - numbers[i - 1]!;
    if (step > 1) skipped += step - 1;
    if (step < 0) outOfOrder++;
  }
  return { msToFirstFrame: firstAt - started, firstFrame: numbers[0]!, skipped, outOfOrder };
}

async function bench(): Promise<void> {
  const rounds = Number(args.values.rounds);
  const dir = resolve(args.values.dir);
  mkdirSync(dir, { recursive: true });
  const video = join(dir, 'numbered-60s.mp4');
  await encodeNumberedVideo(video, 60);
  const camera = await startRtspCamera({ video });
  const results = new Map<string, Connection[]>(PRESETS.map((p) => [p, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      for (const preset of PRESETS) {
        const c = await connectOnce(camera.url, preset);
        results.get(preset)!.push(c);
        console.error(`round ${r + 1} ${preset}: first frame after ${c.msToFirstFrame.toFixed(0)} ms, frame ${c.firstFrame}, skipped ${c.skipped}, out of order ${c.outOfOrder}`);
      }
    }
  } finally {
    await camera.stop();
  }
  const summary = Object.fromEntries(
    [...results].map(([preset, cs]) => [preset, {
      msToFirstFrame: round(median(cs.map((c) => c.msToFirstFrame)), 0),
      msToFirstFrameMax: round(Math.max(...cs.map((c) => c.msToFirstFrame)), 0),
      firstFrame: median(cs.map((c) => c.firstFrame)),
      firstFrameMax: Math.max(...cs.map((c) => c.firstFrame)),
      skipped: cs.reduce((a, c) => a + c.skipped, 0),
      outOfOrder: cs.reduce((a, c) => a + c.outOfOrder, 0),
    }]),
  );
  console.log('\npreset      first frame after (median / max ms)   first frame number (median / max)   skipped   out of order');
  for (const [preset, s] of Object.entries(summary)) {
    console.log(`${preset.padEnd(11)} ${String(s.msToFirstFrame).padStart(8)} / ${String(s.msToFirstFrameMax).padEnd(27)} ${String(s.firstFrame).padStart(6)} / ${String(s.firstFrameMax).padEnd(26)} ${String(s.skipped).padStart(7)}   ${s.outOfOrder}`);
  }
  writeBenchResult('rtsp-start', { bench: 'rtsp-start', fps: FPS, keyframeEverySeconds: 1, rounds, watchMs: WATCH_MS, presets: summary });
}

await bench();
