/**
 * The streaming runtime end to end, in-process: real ffmpeg decoding a
 * recorded conveyor video at real-time rate, real ONNX Runtime scoring, the
 * embedded aedes broker, the HTTP health endpoint.
 */
import t from 'tap';
import { deviceConfigSchema, type DeviceConfig } from '../../config/device.ts';
import { join } from 'node:path';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { BANK_FILE, activateVersion, loadProductArtifact, productDir, writeProductArtifact } from '../../product/artifact.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { rejectPayloadSchema, resultPayloadSchema, statusPayloadSchema } from '../../runtime/mqtt/payloads.ts';
import { conveyorFixture, expectOneRejectInLoop } from '../helpers/conveyor-fixture.ts';
import { freePort } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);

function config(overrides: Record<string, unknown>): DeviceConfig {
  return deviceConfigSchema.parse({
    dataDir: fixture.dataDir,
    mqtt: { deviceId: 'line1', embeddedBroker: { port: 0 }, outboxDir: `${dir}/outbox-${Math.random().toString(36).slice(2)}` },
    http: { port: 0 },
    decision: { debounceFrames: 2, cooldownMs: 500 },
    healthIntervalMs: 500,
    productPollMs: 300,
    ...overrides,
  });
}

t.test('frames flow end to end and one defective part makes exactly one reject', async (t) => {
  // 4 s loop: good, good, defective, good.
  const video = await fixture.video('ggdg', 'ggdg');
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(config({ cameras: [{ id: 'cam1', url: video, product: fixture.product }] }), { onScored: (s) => scored.push(s) });
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line1/#']);
  t.teardown(() => collector.client.endAsync());

  await until(() => scored.length > 0 && scored.at(-1)!.result.seq - scored[0]!.result.seq >= 62, 20_000, 'one full loop of the video');
  const loop = expectOneRejectInLoop(t, scored);
  const first = scored[0]!.result.seq;
  const rejects = loop.filter((s) => s.reject);
  t.ok(loop.filter((s) => s.result.seq - first < 30 || s.result.seq - first >= 46).every((s) => s.result.verdict === 'ok'), 'good parts score ok');
  t.ok(loop.length >= 40, `most frames are scored (${loop.length} of 60)`);

  const reject = await collector.waitForJson('linesight/line1/cam1/reject', () => true, 5000);
  t.ok(rejectPayloadSchema.safeParse(reject).success, 'the reject message is a valid reject payload');
  t.match(reject, { camera: 'cam1', product: fixture.product, frameId: rejects[0]!.result.frameId, seq: 1 });
  const result = (await collector.waitForCount('linesight/line1/cam1/result', 1))[0]!;
  t.ok(resultPayloadSchema.safeParse(JSON.parse(result.payload.toString())).success, 'results are valid result payloads');
  const status = collector.json('linesight/line1/status').at(-1);
  t.match(statusPayloadSchema.parse(status), { state: 'online', cameras: ['cam1'], products: [fixture.product] });
  await collector.waitForCount('linesight/line1/cam1/health', 1, 3000);
  t.ok(collector.messages('linesight/line1/cam1/mask').length >= 1, 'the defective frames published their masks');

  const health = await fetch(`${runtime.healthUrl}/health`);
  t.equal(health.status, 200);
  const body = (await health.json()) as { status: string; cameras: { id: string; state: string; rejects: number }[] };
  t.match(body, { status: 'ok', cameras: [{ id: 'cam1', state: 'streaming' }] });
  const metrics = await (await fetch(`${runtime.healthUrl}/metrics`)).text();
  t.match(metrics, /linesight_frames_scored_total\{camera="cam1",verdict="ok"\} \d+/);
  t.match(metrics, /linesight_rejects_total\{camera="cam1"\} [1-9]/);
  t.match(metrics, /linesight_reject_ack_latency_seconds_count\{camera="cam1"\} [1-9]/);
  t.match(metrics, /linesight_camera_frames_total\{camera="cam1"\} \d+/);

  await runtime.stop();
  await collector.waitForJson<{ state: string }>('linesight/line1/status', (s) => s.state === 'offline', 3000);
  t.pass('the retained status turns offline on a graceful stop');
});

t.test('an unreachable camera is reported while the other camera keeps scoring', async (t) => {
  const video = await fixture.video('gggg', 'gggg');
  const deadPort = await freePort();
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(
    config({
      cameras: [
        { id: 'cam1', url: video, product: fixture.product },
        { id: 'cam2', url: `rtsp://127.0.0.1:${deadPort}/line`, product: fixture.product },
      ],
    }),
    { onScored: (s) => scored.push(s) },
  );
  t.teardown(() => runtime.stop());
  await until(() => scored.filter((s) => s.camera === 'cam1').length >= 20, 20_000, 'cam1 frames');
  const res = await fetch(`${runtime.healthUrl}/health`);
  t.equal(res.status, 503, 'health reports degraded');
  const health = (await res.json()) as { status: string; problems: string[]; cameras: { id: string; state: string; reason?: string; scored: number }[] };
  t.equal(health.status, 'degraded');
  const [cam1, cam2] = health.cameras;
  t.equal(cam1!.state, 'streaming');
  t.not(cam2!.state, 'streaming');
  t.equal(cam2!.scored, 0);
  t.match(health.problems.join('\n'), /camera cam2/);
  t.notOk(scored.some((s) => s.camera === 'cam2'));
  t.equal(runtime.products.extractorSessions, 1, 'both cameras share one backbone session');
});

t.test('a newly activated product version is hot-swapped without a restart', async (t) => {
  const video = await fixture.video('gggg-swap', 'gggg');
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(config({ cameras: [{ id: 'cam1', url: video, product: fixture.product }] }), { onScored: (s) => scored.push(s) });
  t.teardown(() => runtime.stop());
  await until(() => scored.length >= 5, 20_000, 'first frames');
  const before = scored.at(-1)!.result.modelVersion;
  // A new version with a stricter threshold, written and activated as `enroll` does.
  const current = await loadProductArtifact(fixture.dataDir, fixture.product);
  const { version: _v, files: _f, schemaVersion: _s, ...draft } = current.manifest;
  const stricter = { ...draft, thresholds: { ...draft.thresholds, image: draft.thresholds.image * 2 } };
  const next = await writeProductArtifact(fixture.dataDir, stricter, current.bank, { activate: false, reduction: current.reduction, refine: current.refine });
  await activateVersion(fixture.dataDir, fixture.product, next.version);
  await until(() => scored.at(-1)!.result.modelVersion === next.version, 10_000, 'frames scored by the new version');
  t.not(before, next.version);
  const swappedAt = scored.findIndex((s) => s.result.modelVersion === next.version);
  t.ok(scored.slice(swappedAt).every((s) => s.result.modelVersion === next.version), 'every later frame uses the new version');
  t.equal(scored.at(-1)!.result.threshold, current.manifest.thresholds.image * 2);
  t.equal(runtime.products.extractorSessions, 1, 'the new version reuses the backbone session');
  const seqs = scored.map((s) => s.result.seq);
  t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'the camera kept streaming through the swap');

  // A damaged version made active behind linesight's back (a bad copy): refused, the running one stays.
  const broken = await writeProductArtifact(fixture.dataDir, stricter, current.bank, { activate: false, reduction: current.reduction, refine: current.refine });
  const bankFile = join(broken.dir, BANK_FILE);
  await truncate(bankFile, (await stat(bankFile)).size - 100);
  const failures: string[] = [];
  runtime.products.on('swapFailed', (f) => failures.push(`${f.version}: ${f.reason}`));
  await writeFile(join(productDir(fixture.dataDir, fixture.product), 'active'), `${broken.version}\n`);
  await until(() => failures.length > 0, 10_000, 'the damaged version to be refused');
  t.match(failures[0], new RegExp(`${broken.version}: .*(checksum|sha256|truncated|size|bytes)`, 'i'));
  const countAtFailure = scored.length;
  await until(() => scored.length >= countAtFailure + 5, 10_000, 'frames after the refusal');
  t.ok(scored.slice(countAtFailure).every((s) => s.result.modelVersion === next.version), 'frames are still scored by the last good version');
});

t.test('a damaged active version at start-up: the newest good version is used', async (t) => {
  // The previous test left a damaged version active.
  const active = (await readFile(join(productDir(fixture.dataDir, fixture.product), 'active'), 'utf8')).trim();
  const video = await fixture.video('gg-fallback', 'gg');
  const runtime = await DeviceRuntime.start(config({ cameras: [{ id: 'cam1', url: video, product: fixture.product }] }));
  t.teardown(() => runtime.stop());
  const serving = runtime.products.versions()[fixture.product]!;
  t.not(serving, active, `the damaged ${active} is not served`);
  t.equal(Number(serving.slice(1)), Number(active.slice(1)) - 1, 'the newest version that loads is served');
});

t.test('an RTSP camera killed and restarted: the runtime recovers on its own', async (t) => {
  const video = await fixture.video('forty-good', 'g'.repeat(40));
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(
    config({ cameras: [{ id: 'cam1', url: camera.url, product: fixture.product, backoff: { initialMs: 200, maxMs: 1000 } }] }),
    { onScored: (s) => scored.push(s) },
  );
  t.teardown(() => runtime.stop());
  await until(() => scored.length >= 10, 30_000, 'frames over RTSP');
  t.ok(scored.every((s) => s.result.verdict === 'ok'), 'good parts pass over RTSP too');

  await camera.kill();
  await until(() => runtime.health().cameras[0]!.state !== 'streaming', 15_000, 'the outage to be noticed');
  const down = runtime.health();
  t.equal(down.status, 'degraded');
  t.match(down.problems.join('\n'), /camera cam1/);
  const countAtOutage = scored.length;

  await camera.restart();
  await until(() => runtime.health().cameras[0]!.state === 'streaming' && scored.length >= countAtOutage + 10, 40_000, 'frames after the camera came back');
  const up = runtime.health();
  t.equal(up.status, 'ok');
  t.ok(up.cameras[0]!.reconnects >= 1, `reconnects counted (${up.cameras[0]!.reconnects})`);
});
