/**
 * The OPC UA server with the real node-opcua client, as a PLC uses it:
 * browse the vision system, read its state, call Trigger and write
 * TriggerPartId and get the result event of exactly that part, select a
 * recipe, reset the counters; and the security a plant expects: a trusted
 * client certificate and a user name get in over Basic256Sha256, a wrong
 * password, an untrusted certificate, anonymous and None do not. The device
 * behind the server is a fake (fixtures/fake-vision-device.ts).
 */
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  ClientMonitoredItem,
  DataType,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  UserTokenType,
  type ClientSession,
} from 'node-opcua';
import t from 'tap';
import { FakeVisionDevice } from '../../fixtures/fake-vision-device.ts';
import { connectVisionClient, createClientIdentity, subscribeResultEvents, variableSubscription, type ResultEvent, type VisionClient } from '../../fixtures/opcua-client.ts';
import { VisionOpcUaServer } from '../../runtime/opcua/server.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const PLC = { username: 'plc', password: 'line-4-secret' };
const serverPki = join(dir, 'server-pki');
const [trustedClient, untrustedClient] = await Promise.all([createClientIdentity(join(dir, 'client-a'), 'plc-a'), createClientIdentity(join(dir, 'client-b'), 'plc-b')]);
// The operator's step: put the PLC's certificate in trusted/certs.
await mkdir(join(serverPki, 'trusted', 'certs'), { recursive: true });
await copyFile(trustedClient.certificateFile, join(serverPki, 'trusted', 'certs', 'plc-a.pem'));

function newDevice(): FakeVisionDevice {
  return new FakeVisionDevice({
    cameras: [
      { id: 'cam1', product: 'washer', activeVersion: 'v1' },
      { id: 'cam2', product: 'bracket', activeVersion: null },
    ],
    recipes: [
      { product: 'washer', versions: ['v1', 'v2'], active: 'v1' },
      { product: 'bracket', versions: [], active: null },
    ],
    scoringMs: 20,
  });
}

const device = newDevice();
const server = new VisionOpcUaServer({ host: '127.0.0.1', port: 0, allowAnonymous: false, allowSecurityNone: false, users: [PLC], pkiDir: serverPki, recipePollMs: 200 }, device);
await server.start();
t.teardown(async () => {
  await server.stop();
  device.close();
});
const plc = await connectVisionClient(server.endpointUrl, { identity: trustedClient, securityMode: MessageSecurityMode.SignAndEncrypt, user: PLC });
t.teardown(() => plc.close());

const id = (path: string): string => `ns=${plc.ns};s=${path}`;

async function children(session: ClientSession, nodeId: string): Promise<string[]> {
  const result = await session.browse({ nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: 'HierarchicalReferences', includeSubtypes: true, resultMask: 63 });
  return (result.references ?? []).map((r) => r.browseName.name ?? '');
}

async function readValue(path: string): Promise<unknown> {
  const dv = await plc.session.read({ nodeId: id(path), attributeId: AttributeIds.Value });
  return dv.value.value;
}

async function call(object: string, method: string, args: { dataType: DataType; value: unknown }[]) {
  return plc.session.call({ objectId: id(object), methodId: id(`${object}.${method}`), inputArguments: args });
}

const str = (value: string) => ({ dataType: DataType.String, value });

t.test('the address space: VisionSystem with its state machine, recipes, results and cameras', async (t) => {
  const objects = await children(plc.session, 'ns=0;i=85');
  t.ok(objects.includes('VisionSystem'), 'Objects organizes VisionSystem');
  t.same((await children(plc.session, id('VisionSystem'))).sort(), ['Cameras', 'RecipeManagement', 'ResetCounters', 'ResultManagement', 'Trigger', 'VisionStateMachine'].sort());
  t.same(await children(plc.session, id('VisionSystem.VisionStateMachine')), ['CurrentState']);
  t.same((await children(plc.session, id('VisionSystem.RecipeManagement'))).sort(), ['Recipes', 'SelectRecipe']);
  t.same((await children(plc.session, id('VisionSystem.RecipeManagement.Recipes'))).sort(), ['bracket', 'washer']);
  t.same((await children(plc.session, id('VisionSystem.ResultManagement.Results'))).sort(), ['cam1', 'cam2']);
  t.same(
    (await children(plc.session, id('VisionSystem.ResultManagement.Results.cam1'))).sort(),
    ['Action', 'Camera', 'DecidedTime', 'LatencyMs', 'ModelVersion', 'PartId', 'Product', 'Reason', 'Score', 'Seq', 'Threshold', 'Verdict'],
  );
  t.same((await children(plc.session, id('VisionSystem.Cameras.cam1'))).sort(), ['ActiveVersion', 'Counters', 'Product', 'TriggerDelayMs', 'TriggerPartId']);
  t.same(
    (await children(plc.session, id('VisionSystem.Cameras.cam1.Counters'))).sort(),
    ['NG', 'NoVerdict', 'OK', 'Parts', 'ProcessingTimeMax', 'ProcessingTimeMean', 'ProcessingTimeMin', 'TriggerErrors'],
  );
  t.same(await readValue('VisionSystem.RecipeManagement.Recipes.washer.Versions'), ['v1', 'v2']);
  t.equal(await readValue('VisionSystem.RecipeManagement.Recipes.washer.ActiveVersion'), 'v1');
  t.equal(await readValue('VisionSystem.Cameras.cam2.ActiveVersion'), '', 'a camera without an enrolled product has no active version');
});

t.test('the state follows the device', async (t) => {
  t.equal(await readValue('VisionSystem.VisionStateMachine.CurrentState'), 'Operational');
  device.state = 'Halted';
  t.equal(await readValue('VisionSystem.VisionStateMachine.CurrentState'), 'Halted');
  device.state = 'Operational';
});

t.test('Trigger answers with the result event and the result variables of exactly that part', async (t) => {
  const events: ResultEvent[] = [];
  const unsubscribe = await subscribeResultEvents(plc, (e) => events.push(e));
  t.teardown(unsubscribe);
  const subscription = await variableSubscription(plc);
  t.teardown(() => subscription.terminate());
  const partIds: unknown[] = [];
  const item = await ClientMonitoredItem.create(subscription, { nodeId: id('VisionSystem.ResultManagement.Results.cam1.PartId'), attributeId: AttributeIds.Value }, { samplingInterval: 0, queueSize: 100 }, TimestampsToReturn.Both);
  item.on('changed', (dv) => partIds.push(dv.value.value));

  const answer = await call('VisionSystem', 'Trigger', [str('cam1'), str('P-1001-NG'), { dataType: DataType.UInt32, value: 0 }]);
  t.equal(answer.statusCode.value, StatusCodes.Good.value);
  t.same(answer.outputArguments?.map((v) => v.value), [true, '']);
  t.same(device.triggers.at(-1), { camera: 'cam1', partId: 'P-1001-NG', delayMs: 0, at: device.triggers.at(-1)!.at }, 'the device got the trigger');
  const event = await until(() => events.find((e) => e.PartId === 'P-1001-NG'), 5000, 'the result event of P-1001-NG');
  t.match(event, { PartId: 'P-1001-NG', Camera: 'cam1', Verdict: 'reject', Action: 'reject', Score: 0.9, Threshold: 0.5, Product: 'washer', ModelVersion: 'v1', Reason: '' });
  t.ok(event.DecidedTime instanceof Date && typeof event.Seq === 'number' && typeof event.LatencyMs === 'number');
  await until(() => partIds.includes('P-1001-NG'), 5000, 'the PartId variable to change');
  t.equal(await readValue('VisionSystem.ResultManagement.Results.cam1.Verdict'), 'reject');
  t.equal(await readValue('VisionSystem.ResultManagement.Results.cam1.Seq'), event.Seq);
  t.equal(events.filter((e) => e.PartId === 'P-1001-NG').length, 1, 'one event for the part');

  const bad = await call('VisionSystem', 'Trigger', [str('cam9'), str('P-1002'), { dataType: DataType.UInt32, value: 0 }]);
  t.equal(bad.statusCode.value, StatusCodes.BadInvalidArgument.value, 'an unknown camera is a bad argument');
  t.match(String(bad.outputArguments?.at(-1)?.value), /unknown camera "cam9"; the cameras are cam1, cam2/);
  const badId = await call('VisionSystem', 'Trigger', [str('cam1'), str('P 1002/x'), { dataType: DataType.UInt32, value: 0 }]);
  t.equal(badId.statusCode.value, StatusCodes.BadInvalidArgument.value, 'an invalid part id is a bad argument');
});

t.test('writing TriggerPartId announces the part', async (t) => {
  const events: ResultEvent[] = [];
  const unsubscribe = await subscribeResultEvents(plc, (e) => events.push(e));
  t.teardown(unsubscribe);
  const delay = await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerDelayMs'), attributeId: AttributeIds.Value, value: { value: { dataType: DataType.UInt32, value: 30 } } });
  t.equal(delay.value, StatusCodes.Good.value);
  const status = await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerPartId'), attributeId: AttributeIds.Value, value: { value: str('B-77') } });
  t.equal(status.value, StatusCodes.Good.value);
  t.match(device.triggers.at(-1), { camera: 'cam2', partId: 'B-77', delayMs: 30 });
  const event = await until(() => events.find((e) => e.PartId === 'B-77'), 5000, 'the result event of B-77');
  t.match(event, { Camera: 'cam2', Verdict: 'ok', Action: 'pass' });
  t.equal(await readValue('VisionSystem.Cameras.cam2.TriggerPartId'), 'B-77');
  const invalid = await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerPartId'), attributeId: AttributeIds.Value, value: { value: str('no/slashes') } });
  t.equal(invalid.value, StatusCodes.BadInvalidArgument.value, 'an invalid part id is refused');
  await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerDelayMs'), attributeId: AttributeIds.Value, value: { value: { dataType: DataType.UInt32, value: 5000 } } });
  t.equal((await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerPartId'), attributeId: AttributeIds.Value, value: { value: str('B-78') } })).value, StatusCodes.Good.value);
  const duplicate = await plc.session.write({ nodeId: id('VisionSystem.Cameras.cam2.TriggerPartId'), attributeId: AttributeIds.Value, value: { value: str('B-78') } });
  t.equal(duplicate.value, StatusCodes.BadInvalidState.value, 'the device refusing the trigger (same part still waiting) is a bad state');
});

t.test('SelectRecipe activates through the device, its refusal is a Bad status with the reason', async (t) => {
  const ok = await call('VisionSystem.RecipeManagement', 'SelectRecipe', [str('washer'), str('v2')]);
  t.equal(ok.statusCode.value, StatusCodes.Good.value);
  t.same(device.selections.at(-1), { product: 'washer', version: 'v2' });
  t.equal(await readValue('VisionSystem.RecipeManagement.Recipes.washer.ActiveVersion'), 'v2', 'the recipe list shows the new active version');
  t.equal(await readValue('VisionSystem.Cameras.cam1.ActiveVersion'), 'v2', 'and so does the camera');
  const refused = await call('VisionSystem.RecipeManagement', 'SelectRecipe', [str('washer'), str('v9')]);
  t.equal(refused.statusCode.value, StatusCodes.BadInvalidArgument.value);
  t.equal(refused.outputArguments?.at(-1)?.value, 'product "washer" has no version v9 (versions: v1, v2)');
  device.addVersion('bracket', 'v1');
  await until(async () => ((await readValue('VisionSystem.RecipeManagement.Recipes.bracket.Versions')) as string[]).includes('v1'), 3000, 'a new version in the recipe list');
  t.pass('a version enrolled later shows up');
});

t.test('the counters and ResetCounters', async (t) => {
  await until(async () => (await readValue('VisionSystem.Cameras.cam1.Counters.Parts')) === 1, 3000, 'the cam1 part count');
  t.equal(await readValue('VisionSystem.Cameras.cam1.Counters.NG'), 1);
  t.equal(await readValue('VisionSystem.Cameras.cam1.Counters.OK'), 0);
  t.ok((await readValue('VisionSystem.Cameras.cam1.Counters.ProcessingTimeMax')) as number >= 20, 'processing time of the part');
  const reset = await call('VisionSystem', 'ResetCounters', [str('cam1')]);
  t.equal(reset.statusCode.value, StatusCodes.Good.value);
  t.equal(await readValue('VisionSystem.Cameras.cam1.Counters.Parts'), 0);
  t.ok(Number.isNaN(await readValue('VisionSystem.Cameras.cam1.Counters.ProcessingTimeMin')), 'no processing time before the first part');
  const unknown = await call('VisionSystem', 'ResetCounters', [str('cam7')]);
  t.equal(unknown.statusCode.value, StatusCodes.BadInvalidArgument.value);
});

async function refusal(connect: () => Promise<VisionClient>): Promise<string> {
  try {
    const c = await connect();
    await c.close();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

t.test('security: certificates, user names, anonymous and None', async (t) => {
  const url = server.endpointUrl;
  for (const securityMode of [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt]) {
    const mode = MessageSecurityMode[securityMode];
    const trusted = await connectVisionClient(url, { identity: trustedClient, securityMode, user: PLC });
    t.equal(await trusted.session.read({ nodeId: id('VisionSystem.VisionStateMachine.CurrentState'), attributeId: AttributeIds.Value }).then((dv) => dv.value.value), 'Operational', `${mode}: the trusted client reads the state`);
    await trusted.close();
    t.not(await refusal(() => connectVisionClient(url, { identity: untrustedClient, securityMode, user: PLC })), 'connected', `${mode}: an untrusted client certificate is refused`);
  }
  const rejected = await readdir(join(serverPki, 'rejected'));
  t.ok(rejected.length > 0, 'the untrusted certificate lands in rejected/ for the operator to review');
  t.match(await refusal(() => connectVisionClient(url, { identity: trustedClient, securityMode: MessageSecurityMode.SignAndEncrypt, user: { username: 'plc', password: 'wrong-password' } })), /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/, 'a wrong password is refused');
  t.match(await refusal(() => connectVisionClient(url, { identity: trustedClient, securityMode: MessageSecurityMode.SignAndEncrypt, user: { username: 'nobody', password: PLC.password } })), /Bad/, 'an unknown user is refused');
  const anonymous = await refusal(() => connectVisionClient(url, { identity: trustedClient, securityMode: MessageSecurityMode.SignAndEncrypt }));
  t.match(anonymous, /Cannot find ANONYMOUS user token policy|BadIdentityTokenInvalid|BadIdentityTokenRejected|BadUserAccessDenied/, `anonymous is refused (${anonymous})`);
  const none = await refusal(() => connectVisionClient(url, { identity: trustedClient, securityMode: MessageSecurityMode.None, user: PLC }));
  t.not(none, 'connected', `security None is refused (${none})`);
  const discovery = OPCUAClient.create({ applicationUri: untrustedClient.applicationUri, certificateFile: untrustedClient.certificateFile, privateKeyFile: untrustedClient.privateKeyFile, endpointMustExist: false, connectionStrategy: { maxRetry: 0 }, clientCertificateManager: new OPCUACertificateManager({ rootFolder: untrustedClient.pkiDir }) });
  await discovery.connect(url);
  const endpoints = await discovery.getEndpoints();
  await discovery.disconnect();
  t.same([...new Set(endpoints.map((e) => MessageSecurityMode[e.securityMode]))].sort(), ['Sign', 'SignAndEncrypt'], 'the server offers Sign and SignAndEncrypt only');
  t.same([...new Set(endpoints.map((e) => e.securityPolicyUri))], [SecurityPolicy.Basic256Sha256], 'with Basic256Sha256');
  t.same([...new Set(endpoints.flatMap((e) => (e.userIdentityTokens ?? []).map((u) => UserTokenType[u.tokenType])))].sort(), ['Certificate', 'UserName'], 'and no anonymous login');
});

t.test('anonymous and None work when allowed on loopback', async (t) => {
  const openDevice = newDevice();
  const open = new VisionOpcUaServer({ host: '127.0.0.1', port: 0, allowAnonymous: true, allowSecurityNone: true, users: [], pkiDir: join(dir, 'open-pki') }, openDevice);
  await open.start();
  t.teardown(async () => {
    await open.stop();
    openDevice.close();
  });
  const client = await connectVisionClient(open.endpointUrl, { identity: untrustedClient, securityMode: MessageSecurityMode.None });
  t.equal((await client.session.read({ nodeId: `ns=${client.ns};s=VisionSystem.VisionStateMachine.CurrentState`, attributeId: AttributeIds.Value })).value.value, 'Operational');
  await client.close();
});

t.test('the server refuses to start with anonymous or None reachable from the network', async (t) => {
  const base = { port: 0, users: [PLC], pkiDir: join(dir, 'never-created') };
  await t.rejects(new VisionOpcUaServer({ ...base, host: '0.0.0.0', allowAnonymous: true, allowSecurityNone: false }, newDevice()).start(), {
    message: 'key "opcua.allowAnonymous": the OPC UA server is reachable from the network at 0.0.0.0; anonymous access is allowed only on loopback: set opcua.allowAnonymous: false and add opcua.users (or host 127.0.0.1)',
  });
  await t.rejects(new VisionOpcUaServer({ ...base, host: '192.168.0.10', allowAnonymous: false, allowSecurityNone: true }, newDevice()).start(), { message: /^key "opcua.allowSecurityNone": the OPC UA server is reachable from the network at 192.168.0.10;/ });
});

t.test('a port in use fails the start with the address, and leaves nothing running', async (t) => {
  const { port } = new URL(server.endpointUrl.replace('opc.tcp:', 'http:'));
  const second = new VisionOpcUaServer({ host: '127.0.0.1', port: Number(port), allowAnonymous: false, allowSecurityNone: false, users: [PLC], pkiDir: serverPki }, newDevice());
  await t.rejects(second.start(), { message: new RegExp(`^the OPC UA server could not start on 127\\.0\\.0\\.1:${port}: `) });
  t.equal(await plc.session.read({ nodeId: id('VisionSystem.VisionStateMachine.CurrentState'), attributeId: AttributeIds.Value }).then((dv) => dv.value.value), 'Operational', 'the running server is unharmed');
});
