/**
 * No password reaches /health or a log line: a real ffmpeg reader failing on
 * camera URLs with credentials (ffmpeg echoes the URL in its error lines),
 * and /health serving a snapshot whose broker error and camera reason carry
 * credentials and known secrets.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { cameraSettingsSchema } from '../../config/camera-settings.ts';
import { startHealthServer } from '../../runtime/health-server.ts';
import type { DeviceHealth } from '../../runtime/health.ts';
import { FfmpegCamera } from '../../runtime/ingest/ffmpeg-camera.ts';
import { RuntimeMetrics } from '../../runtime/metrics.ts';

/** A logger whose every line is kept as text. */
function capturingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const CAMERA_PASSWORDS = [
  // ffmpeg: "rtsp://admin:pa/ss@127.0.0.1:18554/line: Invalid argument" (the line the reason used to append raw).
  { url: 'rtsp://admin:pa/ss@127.0.0.1:18554/line', forms: ['pa/ss', 'pa%2Fss'] },
  { url: 'rtsp://admin:hunter2@127.0.0.1:9/line', forms: ['hunter2'] },
  { url: 'rtsp://admin:p%40ss%2Fw0rd@127.0.0.1:9/line', forms: ['p%40ss%2Fw0rd', 'p@ss/w0rd'] },
  { url: 'http://admin:s3cr%3At@127.0.0.1:9/line', forms: ['s3cr%3At', 's3cr:t'] },
];

for (const { url, forms } of CAMERA_PASSWORDS) {
  t.test(`a failing camera never shows its password (${forms[0]})`, async (t) => {
    const { logger, lines } = capturingLogger();
    const camera = new FfmpegCamera(cameraSettingsSchema.parse({ id: 'cam1', url, width: 64, height: 48, fps: 5, backoff: { initialMs: 200, maxMs: 400 } }), { logger });
    const ffmpegLines: string[] = [];
    const reasons: string[] = [];
    camera.on('log', (line) => ffmpegLines.push(line));
    camera.on('state', (change) => reasons.push(change.reason));
    camera.start();
    const deadline = Date.now() + 15_000;
    while (camera.stats().state !== 'backoff' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await camera.stop();
    t.equal(reasons.includes(camera.stats().reason), true);
    t.ok(ffmpegLines.length > 0, `ffmpeg reported: ${ffmpegLines.join(' | ')}`);
    t.ok(reasons.some((reason) => reason.includes('***')), `a reason names the redacted URL: ${reasons.join(' | ')}`);
    const everything = [...ffmpegLines, ...reasons, ...lines].join('\n');
    for (const form of forms) t.notOk(everything.includes(form), `"${form}" appears nowhere`);
  });
}

t.test('/health scrubs URL credentials and known secrets from every field', async (t) => {
  const health: DeviceHealth = {
    status: 'degraded',
    problems: ['MQTT broker not connected (offline: cannot reach broker mqtt://line:br0ker/pw@10.0.0.2:1883); 1 reject(s) kept on disk until it is back'],
    device: 'line3',
    version: '0.1.0',
    uptimeS: 5,
    mqtt: { state: 'offline', pendingRejects: 1, sentRejects: 0, refusedRejects: 0, quarantinedRejects: 0, reconnects: 2, lastError: 'cannot reach broker mqtt://line:br0ker/pw@10.0.0.2:1883' },
    products: {},
    cameras: [
      {
        id: 'cam1', product: 'p', modelVersion: null, state: 'exited', reason: 'stream rtsp://admin:***@cam ended: login with "api-token-123456" refused',
        fps: 0, frames: 0, droppedFrames: 0, reconnects: 1, decodeErrors: 0, lastFrameTs: null,
      } as DeviceHealth['cameras'][number],
    ],
  };
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, health: () => health, metrics: new RuntimeMetrics(() => health), secrets: ['api-token-123456', 'br0ker/pw'] });
  t.teardown(() => server.close());
  const response = await fetch(`${server.url}/health`);
  const text = await response.text();
  t.equal(response.status, 503);
  for (const secret of ['br0ker/pw', 'br0ker', 'api-token-123456']) t.notOk(text.includes(secret), `${secret} is not served`);
  const served = JSON.parse(text) as DeviceHealth;
  t.equal(served.mqtt.lastError, 'cannot reach broker mqtt://line:***@10.0.0.2:1883');
  t.match(served.cameras[0]!.reason, /login with "\*\*\*" refused/);
});
