/**
 * The OPC UA server of a running device, as a PLC on the line uses it: the
 * runtime (real RTSP camera, real model, embedded broker) in trigger mode
 * with `opcua.enabled`; a node-opcua client reads the vision system's state,
 * announces parts with the Trigger method and gets a result event for each,
 * and every answer matches the part message the MQTT side published for the
 * same part id. Selecting a version that does not exist is refused with the
 * reason, the active version staying.
 */
import { AttributeIds, DataType, MessageSecurityMode, StatusCodes } from 'node-opcua';
import t from 'tap';
import { deviceConfigSchema } from '../../config/device.ts';
import { freePort } from '../../fixtures/free-port.ts';
import { connectVisionClient, createClientIdentity, subscribeResultEvents, type ResultEvent } from '../../fixtures/opcua-client.ts';
import { startRtspCamera } from '../../fixtures/rtsp-camera.ts';
import { readActiveVersion } from '../../product/artifact.ts';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import type { PartVerdictPayload } from '../../runtime/parts/payloads.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);
const video = await fixture.video('opcua', 'ggdg');
const camera = await startRtspCamera({ video });
t.teardown(() => camera.stop());
const opcuaPort = await freePort();
const runtime = await DeviceRuntime.start(
  deviceConfigSchema.parse({
    dataDir: fixture.dataDir,
    mqtt: { deviceId: 'line4', embeddedBroker: { port: 0 }, outboxDir: `${dir}/outbox` },
    http: { enabled: false },
    parts: { mode: 'trigger', window: { kind: 'time', windowMs: 300 }, deadlineMs: 3000, inViewCheck: false },
    opcua: { enabled: true, host: '127.0.0.1', port: opcuaPort, allowAnonymous: true, allowSecurityNone: true },
    cameras: [{ id: 'cam1', url: camera.url, product: fixture.product }],
  }),
);
t.teardown(() => runtime.stop());
const collector = await MqttCollector.connect(runtime.brokerUrl, ['linesight/line4/cam1/part']);
t.teardown(() => collector.close());
const identity = await createClientIdentity(`${dir}/plc-pki`, 'plc');
const plc = await connectVisionClient(`opc.tcp://127.0.0.1:${opcuaPort}`, { identity, securityMode: MessageSecurityMode.None });
t.teardown(() => plc.close());
const id = (path: string) => `ns=${plc.ns};s=${path}`;
const str = (value: string) => ({ dataType: DataType.String, value });

t.test('the vision system is Operational once the camera streams and the product is loaded', async (t) => {
  await until(async () => (await plc.session.read({ nodeId: id('VisionSystem.VisionStateMachine.CurrentState'), attributeId: AttributeIds.Value })).value.value === 'Operational', 20_000, 'state Operational');
  t.pass('Operational');
});

t.test('parts triggered over OPC UA are answered by a result event that matches the MQTT part message', async (t) => {
  const events: ResultEvent[] = [];
  const unsubscribe = await subscribeResultEvents(plc, (e) => events.push(e));
  t.teardown(unsubscribe);
  const partIds = ['OPC-1', 'OPC-2', 'OPC-3', 'OPC-4', 'OPC-5'];
  for (const partId of partIds) {
    const answer = await plc.session.call({ objectId: id('VisionSystem'), methodId: id('VisionSystem.Trigger'), inputArguments: [str('cam1'), str(partId), { dataType: DataType.UInt32, value: 0 }] });
    t.equal(answer.statusCode.value, StatusCodes.Good.value, `Trigger ${partId} accepted`);
    await new Promise((r) => setTimeout(r, 450));
  }
  await until(() => partIds.every((p) => events.some((e) => e.PartId === p)), 15_000, 'a result event for every part');
  await until(() => partIds.every((p) => collector.json<PartVerdictPayload>('linesight/line4/cam1/part').some((m) => m.partId === p)), 15_000, 'an MQTT part message for every part');
  const mqtt = new Map(collector.json<PartVerdictPayload>('linesight/line4/cam1/part').map((m) => [m.partId, m]));
  for (const partId of partIds) {
    const event = events.filter((e) => e.PartId === partId);
    t.equal(event.length, 1, `one event for ${partId}`);
    const m = mqtt.get(partId)!;
    t.match(event[0], { PartId: partId, Camera: 'cam1', Verdict: m.verdict, Action: m.action, Seq: m.seq, Product: fixture.product }, `${partId}: OPC UA and MQTT agree (${m.verdict})`);
    if (m.score !== null) t.ok(Math.abs(Number(event[0]!.Score) - m.score) < 1e-6, `${partId}: the same score`);
  }
  const counters = await plc.session.read({ nodeId: id('VisionSystem.Cameras.cam1.Counters.Parts'), attributeId: AttributeIds.Value });
  t.equal(counters.value.value, runtime.partCounters().cam1!.parts, 'the Parts counter is the runtime\'s');
});

t.test('SelectRecipe of a version that does not exist is refused with its reason; the active version stays', async (t) => {
  const before = await readActiveVersion(fixture.dataDir, fixture.product);
  const answer = await plc.session.call({ objectId: id('VisionSystem.RecipeManagement'), methodId: id('VisionSystem.RecipeManagement.SelectRecipe'), inputArguments: [str(fixture.product), str('v99')] });
  t.not(answer.statusCode.value, StatusCodes.Good.value, 'refused');
  t.match(String(answer.outputArguments?.at(-1)?.value), /v99/);
  t.equal(await readActiveVersion(fixture.dataDir, fixture.product), before, 'the active version stays');
});
