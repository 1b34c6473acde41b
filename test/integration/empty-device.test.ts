/**
 * A device started before any product is enrolled: the camera streams
 * without scoring, health names the product that is not enrolled yet, and
 * the first activated version starts scoring without a restart. Real RTSP
 * camera (GStreamer), real ffmpeg, the embedded aedes broker, real ONNX
 * Runtime.
 */
import { join } from 'node:path';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../../config/enroll.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { enrollProduct } from '../../trainer/enroll.ts';
import { encodeConveyorVideo, CONVEYOR_PRODUCT } from '../../fixtures/conveyor.ts';
import { generateDevset } from '../../fixtures/devset.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const SIZE = 224;
const product = CONVEYOR_PRODUCT;
await generateDevset({ out: join(dir, 'devset'), train: 12, testGood: 1, testPerDefect: 1, size: SIZE, seed: 5, categories: [product] });
const goldenDir = join(dir, 'devset', product, 'train', 'good');
const golden = (await readdir(goldenDir)).filter((f) => f.endsWith('.png')).sort().map((f) => ({ kind: 'good', defective: false, image: join(goldenDir, f) }));
// Good parts for about three minutes: the stream outlasts the enrollment.
const video = join(dir, 'line.mp4');
await encodeConveyorVideo(Array.from({ length: 15 }, () => golden).flat(), video, { size: SIZE, fps: 15, partFrames: 15 });

t.test('a camera of a product not enrolled yet streams, and scores once a version is activated', async (t) => {
  const camera = await startRtspCamera({ video });
  t.teardown(() => camera.stop());
  const dataDir = join(dir, 'device');
  const config = deviceConfigSchema.parse({
    dataDir,
    mqtt: { deviceId: 'line2', embeddedBroker: { port: 0 }, outboxDir: join(dir, 'outbox') },
    http: { port: 0, ui: false },
    productPollMs: 300,
    enroll: { inputSize: SIZE },
    cameras: [{ id: 'cam1', url: camera.url, product }],
  });
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(config, { onScored: (s) => scored.push(s) });
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line2/cam1/result']);
  t.teardown(() => collector.close());

  const streaming = await until(() => {
    const cam = runtime.health().cameras[0]!;
    return cam.state === 'streaming' && cam.unscored >= 15 ? cam : undefined;
  }, 30_000, 'frames from the camera');
  t.equal(streaming.modelVersion, null, 'no model is loaded');
  t.equal(streaming.scored, 0, 'nothing is scored');
  const health = await fetch(`${runtime.healthUrl}/health`);
  t.equal(health.status, 503, 'health is degraded, not failed');
  const body = (await health.json()) as { status: string; problems: string[] };
  t.equal(body.status, 'degraded');
  t.match(body.problems.join('\n'), /product "washer" is not enrolled yet/);
  t.equal(collector.messages('linesight/line2/cam1/result').length, 0, 'no results are published');

  const enrolled = await enrollProduct({
    productId: product,
    imagesDir: goldenDir,
    dataDir,
    settings: enrollSettingsSchema.parse({ inputSize: SIZE }),
    inference: inferenceSettingsSchema.parse({}),
    activate: true,
  });
  const first = await collector.waitForJson<{ modelVersion: string; verdict: string }>('linesight/line2/cam1/result', () => true, 30_000);
  t.equal(first.modelVersion, enrolled.version, 'results come from the activated version');
  await until(() => scored.length >= 10, 30_000, 'ten scored frames');
  t.ok(scored.filter((s) => s.result.verdict === 'ok').length >= 8, 'the golden parts themselves pass');
  const after = runtime.health();
  t.equal(after.status, 'ok', `health is ok once the product is enrolled (${after.problems.join('; ')})`);
  t.equal(after.cameras[0]!.modelVersion, enrolled.version);
  t.same(runtime.products.waitingProducts(), []);
});

t.test('a product whose only version is damaged still stops the start, naming it', async (t) => {
  const dataDir = join(dir, 'damaged-device');
  const versionDir = join(dataDir, 'products', product, 'v1');
  await mkdir(versionDir, { recursive: true });
  await writeFile(join(versionDir, 'manifest.json'), '{"schemaVersion":');
  await writeFile(join(dataDir, 'products', product, 'active'), 'v1\n');
  const config = deviceConfigSchema.parse({
    dataDir,
    mqtt: { deviceId: 'line3', embeddedBroker: { port: 0 }, outboxDir: join(dir, 'outbox-damaged') },
    http: { enabled: false },
    cameras: [{ id: 'cam1', url: 'rtsp://127.0.0.1:9/none', product }],
  });
  await t.rejects(DeviceRuntime.start(config), { name: 'ArtifactError', message: /product "washer" version v1: manifest\.json is not valid JSON/ });
});
