/**
 * The streaming runtime with a product that aligns its parts: a version of
 * the conveyor product enrolled with a spatial transformer (a short training)
 * is activated on a running device. Every frame is put into the canonical
 * pose before it is scored — the scored outcome carries the pose the
 * transformer found and the aligned image that the overlay and the defect
 * mask are drawn on — and the defective part still makes exactly one reject
 * with its mask. Real ffmpeg decoding a recorded conveyor video, real ONNX
 * Runtime, the embedded broker.
 */
import t from 'tap';
import { join } from 'node:path';
import { deviceConfigSchema } from '../../config/device.ts';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../../config/enroll.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { maskPayloadSchema } from '../../runtime/mqtt/payloads.ts';
import { scaleOf } from '../../models/stn/pose.ts';
import { enrollProduct } from '../../trainer/enroll.ts';
import { conveyorFixture, expectOneRejectInLoop } from '../helpers/conveyor-fixture.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);

t.test('an aligning product scores frames in canonical pose and still rejects the defective part', async (t) => {
  const scaleRange = 0.05;
  const aligned = await enrollProduct({
    productId: fixture.product,
    imagesDir: join(fixture.devset, fixture.product, 'train', 'good'),
    dataDir: fixture.dataDir,
    settings: enrollSettingsSchema.parse({ inputSize: 224, minGoldenSamples: 10, align: 'stn', stn: { steps: 40, rotation: 30, scale: scaleRange } }),
    inference: inferenceSettingsSchema.parse({}),
    activate: true,
  });
  t.equal(aligned.manifest.alignment?.method, 'stn', 'the new version carries a spatial transformer');

  // 4 s loop: good, good, defective, good.
  const video = await fixture.video('aligned-ggdg', 'ggdg');
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(
    deviceConfigSchema.parse({
      dataDir: fixture.dataDir,
      mqtt: { deviceId: 'line1', embeddedBroker: { port: 0 }, outboxDir: join(dir, 'outbox') },
      http: { enabled: false },
      decision: { debounceFrames: 2, cooldownMs: 500 },
      cameras: [{ id: 'cam1', url: video, product: fixture.product, publishMasks: true }],
    }),
    { onScored: (s) => scored.push(s) },
  );
  t.teardown(() => runtime.stop());
  const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line1/#']);
  t.teardown(() => collector.client.endAsync());

  await until(() => scored.length > 0 && scored.at(-1)!.result.seq - scored[0]!.result.seq >= 62, 30_000, 'one full loop of the video');
  t.ok(scored.every((s) => s.result.modelVersion === aligned.version), `every frame is scored by the aligning version ${aligned.version}`);
  t.ok(scored.every((s) => s.outcome.pose !== undefined), 'every scored frame was aligned (the pose is part of the outcome)');
  // The pose output is the transformer's pose followed by the product's framing (zoomed onto the part), so its scale is their product.
  const framingScale = scaleOf(aligned.manifest.alignment?.framing ?? [1, 0, 0, 0]);
  const [lo, hi] = [framingScale / (1 + scaleRange), framingScale / (1 - scaleRange)];
  t.ok(scored.every((s) => scaleOf(s.outcome.pose!) >= lo - 1e-4 && scaleOf(s.outcome.pose!) <= hi + 1e-4), 'poses stay within the trained size change (times the framing zoom)');
  t.ok(scored.every((s) => s.outcome.image.length === 224 * 224 * 3 && (s.outcome.map ?? new Float32Array(224 * 224)).length === 224 * 224), 'the aligned image and its anomaly map are at the input size');
  t.ok(scored.filter((s) => s.reject).every((s) => s.outcome.map !== undefined), 'every rejected frame comes with its anomaly map');

  expectOneRejectInLoop(t, scored);
  const mask = await collector.waitForJson('linesight/line1/cam1/mask', () => true, 10_000);
  t.ok(maskPayloadSchema.safeParse(mask).success, 'the defective frame publishes its mask, refined in the aligned frame');
});
