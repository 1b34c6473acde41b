/**
 * The streaming runtime with `mqtt.encoding: sparkplug`, end to end: real
 * ffmpeg decoding a conveyor video, real ONNX Runtime scoring, the embedded
 * aedes broker. A SCADA host joining late asks for a rebirth, then sees the
 * camera's results, its reject and its health as DDATA, and DDEATH and NDEATH
 * when the runtime stops.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { deviceConfigSchema } from '../../config/device.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';
import { encodeRebirthCommand, metricsByName } from '../helpers/sparkplug-decoder.ts';
import { bdSeqOf, SparkplugWatcher } from '../helpers/sparkplug-watcher.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);

t.test('a Sparkplug B edge node: births on request, results, the reject and health as DDATA, deaths on stop', async (t) => {
  const video = await fixture.video('ggdg', 'ggdg');
  const outboxDir = `${dir}/outbox`;
  const config = deviceConfigSchema.parse({
    dataDir: fixture.dataDir,
    mqtt: { deviceId: 'line1', embeddedBroker: { port: 0 }, outboxDir, encoding: 'sparkplug', sparkplug: { groupId: 'plant2' } },
    http: { enabled: false },
    decision: { debounceFrames: 2, cooldownMs: 500 },
    healthIntervalMs: 500,
    cameras: [{ id: 'cam1', url: video, product: fixture.product }],
  });
  const scored: ScoredFrame[] = [];
  const runtime = await DeviceRuntime.start(config, { onScored: (s) => scored.push(s) });
  t.teardown(() => runtime.stop());
  await runtime.publisher.waitForState('online', 10_000);
  const watcher = await SparkplugWatcher.connect(t, runtime.brokerUrl, 'plant2');

  await watcher.client.publishAsync('spBv1.0/plant2/NCMD/line1', encodeRebirthCommand(), { qos: 0 });
  const [nbirth] = await watcher.waitForCount('NBIRTH', 1, 10_000);
  t.equal(nbirth!.payload.seq, 0);
  t.same(JSON.parse(await readFile(`${outboxDir}/line1/sparkplug-bdseq.json`, 'utf8')), { bdSeq: bdSeqOf(nbirth) }, 'the bdSeq is kept in the outbox directory');
  t.equal(metricsByName(nbirth!.payload)['Properties/Products']?.value, fixture.product);
  const [dbirth] = await watcher.waitForCount('DBIRTH', 1);
  t.equal(dbirth!.topic, 'spBv1.0/plant2/DBIRTH/line1/cam1');

  const signal = await watcher.waitUntil(() => watcher.of('DDATA', 'cam1').find((s) => metricsByName(s.payload).reject?.value === true), 'the reject of the defective part', 30_000);
  const decided = scored.find((s) => s.reject)!;
  t.match(metricsByName(signal.payload), { rejectSeq: { value: decided.reject!.seq }, frameId: { value: decided.result.frameId }, product: { value: fixture.product } });
  const results = watcher.of('DDATA', 'cam1').filter((s) => metricsByName(s.payload).verdict);
  t.ok(results.length > 0, `${results.length} results as DDATA`);
  const r = metricsByName(results[0]!.payload);
  t.ok(typeof r.score?.value === 'number' && typeof r.threshold?.value === 'number' && typeof r.modelVersion?.value === 'string', 'results carry score, threshold and model version');
  await watcher.waitUntil(() => watcher.of('DDATA', 'cam1').find((s) => typeof metricsByName(s.payload).fps?.value === 'number'), 'a health DDATA');

  await runtime.stop();
  await watcher.waitForCount('NDEATH', 1);
  const tail = watcher.seen.slice(-2);
  t.same(tail.map((s) => `${s.type}${s.device ? `/${s.device}` : ''}`), ['DDEATH/cam1', 'NDEATH'], 'the camera dies, then the node');
  t.equal(bdSeqOf(tail[1]), bdSeqOf(nbirth), "NDEATH names the session's bdSeq");
});
