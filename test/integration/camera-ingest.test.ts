/**
 * Camera ingest against real parts: Debian's ffmpeg reading a real RTSP
 * server (GStreamer) on 127.0.0.1 that is killed, frozen and restarted.
 */
import t from 'tap';
import { join } from 'node:path';
import { cameraSettingsSchema } from '../../config/camera-settings.ts';
import { FfmpegCamera, type CameraState } from '../../runtime/ingest/ffmpeg-camera.ts';
import type { Frame } from '../../runtime/camera-pipeline.ts';
import { encodeConveyorVideo } from '../../fixtures/conveyor.ts';
import { writeGoldenSet } from '../helpers/images.ts';
import { freePort } from '../../fixtures/mosquitto.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';

const dir = t.testdir();
const images = await writeGoldenSet(dir, 4, 64);
const video = join(dir, 'clip.mp4');
// 40 s of parts, one per second: longer than any test here streams.
await encodeConveyorVideo(Array.from({ length: 40 }, (_, i) => ({ kind: 'good', defective: false, image: images[i % images.length]! })), video, { size: 224, fps: 15 });

function camera(url: string, extra: Record<string, unknown> = {}): FfmpegCamera {
  const cam = new FfmpegCamera(cameraSettingsSchema.parse({ id: 'cam1', url, backoff: { initialMs: 200, maxMs: 1000 }, ...extra }));
  t.teardown(() => cam.stop());
  return cam;
}

function waitForState(cam: FfmpegCamera, state: CameraState, timeoutMs: number): Promise<string> {
  if (cam.state === state) return Promise.resolve(cam.stats().reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`camera not ${state} within ${timeoutMs} ms (is ${cam.state}: ${cam.stats().reason})`)), timeoutMs);
    const on = (c: { state: CameraState; reason: string }) => {
      if (c.state !== state) return;
      clearTimeout(timer);
      cam.off('state', on);
      resolve(c.reason);
    };
    cam.on('state', on);
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('frames flow from an RTSP camera; stop leaves no ffmpeg behind', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const cam = camera(server.url);
  cam.start();
  const frames: Frame[] = [];
  for (let i = 0; i < 10; i++) frames.push((await cam.next())!);
  t.ok(frames.every((f) => f.width === 224 && f.height === 224 && f.data.length === 224 * 224 * 3), 'whole RGB frames of the configured size');
  t.ok(frames.every((f, i) => i === 0 || f.seq > frames[i - 1]!.seq), 'sequence numbers increase');
  t.same(frames.map((f) => f.stream), frames.map((_, i) => ({ reader: 0, index: i })), 'each frame carries its place in the stream (first reader, frames 0, 1, 2, ...)');
  t.equal(cam.state, 'streaming');
  const pid = cam.readerPid!;
  t.ok(alive(pid));
  await cam.stop();
  t.notOk(alive(pid), 'the ffmpeg reader is gone after stop()');
  t.equal(await cam.next(), null, 'next() gives null once stopped');
});

t.test('a slow consumer gets the newest frame; the others count as dropped', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const cam = camera(server.url);
  cam.start();
  const first = (await cam.next())!;
  await new Promise((r) => setTimeout(r, 1000));
  const next = (await cam.next())!;
  t.ok(next.seq - first.seq >= 10, `one second later the newest frame is taken (seq ${first.seq} -> ${next.seq})`);
  t.ok(cam.stats().droppedFrames >= 9, `skipped frames are counted (${cam.stats().droppedFrames})`);
});

t.test('a camera that reboots is reconnected on its own', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const cam = camera(server.url);
  const states: CameraState[] = [];
  cam.on('state', (s) => states.push(s.state));
  cam.start();
  await waitForState(cam, 'streaming', 20_000);
  await server.kill();
  const reason = await waitForState(cam, 'backoff', 15_000);
  t.match(reason, /retrying in/);
  await new Promise((r) => setTimeout(r, 1000));
  await server.restart();
  await waitForState(cam, 'streaming', 30_000);
  const before = cam.stats().frames;
  await cam.next();
  const after = (await cam.next())!;
  t.ok(cam.stats().frames > before, 'frames flow again');
  t.ok(after.stream!.reader >= 1 && after.stream!.index < after.seq, `the new reader's frames count from 0 again (reader ${after.stream!.reader}, index ${after.stream!.index}, seq ${after.seq}): the frame clock starts anew`);
  t.ok(cam.stats().reconnects >= 1, `reconnects counted (${cam.stats().reconnects})`);
  t.ok(states.includes('exited') || states.includes('stalled'), 'the failure was reported');
});

t.test('a frozen camera is detected by the watchdog and recovered', async (t) => {
  const server = await startRtspCamera({ video });
  t.teardown(() => server.stop());
  const cam = camera(server.url, { watchdogMs: 1500 });
  cam.start();
  await waitForState(cam, 'streaming', 20_000);
  const pid = server.pid()!;
  process.kill(pid, 'SIGSTOP'); // the camera hangs: connection open, no data
  t.teardown(() => alive(pid) && process.kill(pid, 'SIGCONT'));
  const reason = await waitForState(cam, 'stalled', 10_000);
  t.match(reason, /no frame for 1\.5 s/);
  process.kill(pid, 'SIGCONT');
  await waitForState(cam, 'streaming', 30_000);
  t.pass('streaming again after the camera came back');
});

t.test('an unreachable camera backs off with a clear reason', async (t) => {
  const port = await freePort();
  const cam = camera(`rtsp://user:secret@127.0.0.1:${port}/line`);
  const reasons: string[] = [];
  cam.on('state', (s) => reasons.push(`${s.state}: ${s.reason}`));
  cam.start();
  await waitForState(cam, 'backoff', 10_000);
  await waitForState(cam, 'starting', 5000);
  await waitForState(cam, 'backoff', 10_000);
  const text = reasons.join('\n');
  t.match(text, /cannot connect to rtsp:\/\/user:\*\*\*@127\.0\.0\.1:\d+\/line \(connection refused/);
  t.notMatch(text, /secret/, 'the password is not logged');
  t.equal(cam.stats().frames, 0);
  t.ok(cam.stats().reconnects >= 1);
});

t.test('a video file plays at real-time rate', async (t) => {
  const cam = camera(video);
  cam.start();
  const first = (await cam.next())!;
  const t0 = Date.now();
  let last = first;
  while (Date.now() - t0 < 2000) last = (await cam.next())!;
  const fps = ((last.seq - first.seq) / (last.ts - first.ts)) * 1000;
  t.ok(fps > 10 && fps < 20, `about 15 fps (${fps.toFixed(1)})`);
});
