/**
 * The pure parts of the OPC UA server: trigger argument checks, the vision
 * system state from the device's facts, the password check, the offered
 * endpoint security and a verdict as result values.
 */
import t from 'tap';
import { MessageSecurityMode, SecurityPolicy } from 'node-opcua';
import { resultValues } from '../../runtime/opcua/address-space.ts';
import { visionSystemState, type DeviceFacts } from '../../runtime/opcua/device-port.ts';
import { checkTrigger } from '../../runtime/opcua/methods.ts';
import { endpointSecurity, passwordChecker } from '../../runtime/opcua/security.ts';

t.test('checkTrigger: known camera, part id rules of the trigger topic, delay 0..60000 ms', async (t) => {
  const cams = ['cam1', 'cam2'];
  t.same(checkTrigger(cams, 'cam1', 'P-1', 250), { ok: true, camera: 'cam1', partId: 'P-1', delayMs: 250 });
  t.same(checkTrigger(cams, 'cam2', 'lot7:part.9_x', undefined), { ok: true, camera: 'cam2', partId: 'lot7:part.9_x', delayMs: 0 }, 'no delay is 0');
  t.same(checkTrigger(cams, 'cam3', 'P-1', 0), { ok: false, message: 'unknown camera "cam3"; the cameras are cam1, cam2' });
  t.match(checkTrigger(cams, 'cam1', 'P 1', 0), { ok: false, message: /part id "P 1" is invalid/ });
  t.match(checkTrigger(cams, 'cam1', '', 0), { ok: false });
  t.match(checkTrigger(cams, 'cam1', 'x'.repeat(65), 0), { ok: false }, '65 characters is too long');
  t.match(checkTrigger(cams, 'cam1', 'P-1', 60_001), { ok: false, message: 'delay 60001 ms is out of range 0..60000' });
  t.match(checkTrigger(cams, 'cam1', 'P-1', 1.5), { ok: false });
});

t.test('visionSystemState: Error on a fault, Preoperational while starting, Operational when inspecting, else Halted', async (t) => {
  const up: DeviceFacts = { fault: false, starting: false, camerasStreaming: true, brokerConnected: true, productsLoaded: true };
  t.equal(visionSystemState(up), 'Operational');
  t.equal(visionSystemState({ ...up, fault: true, starting: true }), 'Error');
  t.equal(visionSystemState({ ...up, starting: true }), 'Preoperational');
  t.equal(visionSystemState({ ...up, camerasStreaming: false }), 'Halted');
  t.equal(visionSystemState({ ...up, brokerConnected: false }), 'Halted');
  t.equal(visionSystemState({ ...up, productsLoaded: false }), 'Halted');
});

t.test('passwordChecker: exact user and password of one configured user', async (t) => {
  const check = passwordChecker([
    { username: 'plc', password: 'line-4-secret' },
    { username: 'scada', password: 'another-secret' },
  ]);
  t.equal(check('plc', 'line-4-secret'), true);
  t.equal(check('scada', 'another-secret'), true);
  t.equal(check('plc', 'another-secret'), false, 'another user\'s password');
  t.equal(check('plc', 'line-4-secre'), false);
  t.equal(check('PLC', 'line-4-secret'), false);
  t.equal(passwordChecker([])('plc', 'line-4-secret'), false);
});

t.test('endpointSecurity: Basic256Sha256 Sign and SignAndEncrypt, None only when allowed', async (t) => {
  t.same(endpointSecurity(false), { securityPolicies: [SecurityPolicy.Basic256Sha256], securityModes: [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt] });
  t.same(endpointSecurity(true).securityModes, [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt]);
  t.same(endpointSecurity(true).securityPolicies, [SecurityPolicy.None, SecurityPolicy.Basic256Sha256]);
});

t.test('resultValues: a part without a verdict has NaN score and threshold and says why', async (t) => {
  const values = resultValues({
    partId: 'P-9', seq: 4, camera: 'cam1', product: 'washer', modelVersion: null, verdict: 'no_verdict', score: null, threshold: null,
    frames: 0, firstTs: null, lastTs: null, decidedTs: 1_700_000_000_000, latencyMs: 1500, reason: 'camera_down', action: 'reject',
  });
  t.ok(Number.isNaN(values.Score) && Number.isNaN(values.Threshold));
  t.match(values, { PartId: 'P-9', Seq: 4, Verdict: 'no_verdict', Action: 'reject', Reason: 'camera_down', ModelVersion: '', LatencyMs: 1500 });
  t.same(values.DecidedTime, new Date(1_700_000_000_000));
});
