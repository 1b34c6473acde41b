/**
 * A camera that speaks garbage and a clock that jumps. The garbage camera is
 * a TCP server on loopback answering an rtsp:// URL with random bytes (some
 * dressed as an RTSP reply): the camera must report a clear reason, keep
 * retrying, deliver no frame, and the process keeps running. The clock jumps
 * back and forward by hours between reject appends and part triggers: seqs
 * keep rising, every reject stays in order, and every triggered part still
 * gets exactly one verdict.
 */
import { monotonicNow } from '../../runtime/clock.ts';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { cameraSettingsSchema } from '../../config/camera-settings.ts';
import { partsSettingsSchema } from '../../config/parts.ts';
import { FfmpegCamera } from '../../runtime/ingest/ffmpeg-camera.ts';
import { RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import { PartLine } from '../../runtime/parts/part-line.ts';
import { STACK_TRACE } from './budget.ts';

t.test('a camera that sends garbage bytes: a clear reason, retries, no frames, the process keeps running', async (t) => {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    // Half the time a plausible RTSP status line first, then noise.
    const head = connections % 2 === 0 ? Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 9999\r\n\r\n') : Buffer.alloc(0);
    socket.write(Buffer.concat([head, randomBytes(4096)]));
    const timer = setInterval(() => socket.write(randomBytes(1024)), 50);
    socket.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const camera = new FfmpegCamera(cameraSettingsSchema.parse({ id: 'cam1', url: `rtsp://admin:s3cret@127.0.0.1:${port}/line`, watchdogMs: 1500, backoff: { initialMs: 100, maxMs: 400 } }), { logger: pino({ level: 'silent' }) });
  const reasons: string[] = [];
  let frames = 0;
  camera.on('state', (change: { state: string; reason: string }) => reasons.push(`${change.state}: ${change.reason}`));
  camera.on('frame', () => frames++);
  t.teardown(async () => {
    await camera.stop();
    for (const s of sockets) s.destroy();
    server.close();
  });
  camera.start();
  // ffmpeg may sit on the garbage until the opening watchdog (12 s) gives up: allow two rounds.
  const deadline = Date.now() + 40_000;
  while (Date.now() < deadline && (connections < 2 || camera.stats().reconnects < 1)) await new Promise((r) => setTimeout(r, 100));
  t.ok(connections >= 2, `the camera retried (${connections} connections)`);
  t.ok(camera.stats().reconnects >= 1, `${camera.stats().reconnects} restarts counted`);
  t.equal(frames, 0, 'no frame came out of garbage');
  const failures = reasons.filter((r) => /^(exited|backoff|stalled)/.test(r));
  t.ok(failures.length > 0, 'failures are reported as states');
  t.ok(failures.every((r) => r.length > 'backoff: '.length && !STACK_TRACE.test(r)), `each with a reason: ${failures.slice(0, 3).join(' | ')}`);
  t.notMatch(reasons.join('\n'), /s3cret/, 'the password is not in any reason');
  t.comment(`garbage camera: ${connections} connections, ${camera.stats().reconnects} restarts; e.g. "${failures[0]}"`);
});

t.test('clock jumps: reject seqs keep rising and stay in order; every triggered part gets one verdict', async (t) => {
  const outbox = await RejectOutbox.open(join(t.testdir(), 'outbox'), { logger: pino({ level: 'silent' }) });
  t.teardown(() => outbox.close());
  const jumps = [0, -3_600_000, 7_200_000, -86_400_000, 5, -1, 3_600_000 * 24 * 365, -3_600_000 * 24 * 365 * 2];
  let now = 1_700_000_000_000;
  const seqs: number[] = [];
  for (const [i, jump] of jumps.entries()) {
    now += jump;
    seqs.push((await outbox.append({ ts: now, frameId: `f-${i}`, score: 2, threshold: 1, camera: 'cam1', product: 'washer' })).seq);
  }
  t.same(seqs, jumps.map((_, i) => i + 1), 'seq follows the order of storing, not the clock');
  t.same((await outbox.pending()).map((r) => r.frameId), jumps.map((_, i) => `f-${i}`), 'pending rejects are sent in the order they were decided');

  // Parts: forward jumps (a suspended machine, an NTP step forward) time parts out with a verdict, never lose one.
  t.same(verdictsWithClock([0, 5, 3_600_000, 1, 86_400_000 * 365, 0]), ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
});

/** Triggers one part per step, jumping the clock by the step's amount while the part is on its way; returns the parts with a verdict. */
function verdictsWithClock(jumps: number[]): string[] {
  const line = new PartLine([{ camera: 'cam1', product: 'washer', settings: partsSettingsSchema.parse({ mode: 'trigger', window: { kind: 'time', windowMs: 200 }, deadlineMs: 500 }) }]);
  const tracker = line.tracker('cam1')!;
  const verdicts: string[] = [];
  let now = 1_700_000_000_000;
  for (const [i, jump] of jumps.entries()) {
    verdicts.push(...line.trigger('cam1', { partId: `p${i}` }, now).verdicts.map((v) => v.partId));
    now += jump;
    verdicts.push(...tracker.tick(now).map((v) => v.partId));
    now += 1000;
    verdicts.push(...tracker.tick(now).map((v) => v.partId));
  }
  return verdicts.sort();
}

t.test('the runtime drives parts with a clock that a wall-clock step does not move back', async (t) => {
  const realNow = Date.now;
  t.teardown(() => {
    Date.now = realNow;
  });
  const before = monotonicNow();
  Date.now = () => realNow() - 3_600_000;
  const after = monotonicNow();
  t.ok(after >= before, 'an hour stepped back on the wall clock is not seen');
  t.ok(Math.abs(after - realNow()) < 60_000, 'and the clock stays near wall time');
  // With that clock, a part on its way while the wall clock steps back gets its verdict by its deadline.
  t.same(verdictsWithClock([0, 0, 0]), ['p0', 'p1', 'p2']);
});
