import t from 'tap';
import { ConfigError, parseOrThrow } from '../../config/errors.ts';
import { defaultDeviceId, deviceConfigSchema } from '../../config/device.ts';

const parse = (value: unknown) => parseOrThrow(deviceConfigSchema, value, 'linesight.yaml');
const camera = { id: 'cam1', url: 'rtsp://10.0.0.5:554/line', product: 'washer' };

t.test('a device with one camera gets working defaults', async (t) => {
  const c = parse({ cameras: [camera] });
  t.equal(c.mqtt.prefix, 'linesight');
  t.equal(c.mqtt.url, undefined, 'no broker configured: the embedded one runs');
  t.equal(c.mqtt.deviceId, defaultDeviceId());
  t.match(c.http, { enabled: true, host: '127.0.0.1' });
  t.match(c.decision, { debounceFrames: 2, cooldownMs: 1000 });
  t.match(c.cameras[0], { id: 'cam1', product: 'washer', publishMasks: true });
});

t.test('an mqtt section without deviceId still gets one', async (t) => {
  const c = parse({ mqtt: { prefix: 'plant2/linesight' }, cameras: [camera] });
  t.equal(c.mqtt.prefix, 'plant2/linesight');
  t.equal(c.mqtt.deviceId, defaultDeviceId());
});

t.test('device ids from host names are valid topic levels', async (t) => {
  t.equal(defaultDeviceId('Jetson-Line3.plant.local'), 'jetson-line3-plant-local');
  t.equal(defaultDeviceId('###'), 'linesight');
});

t.test('wrong keys are named by their full path', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ cameras: [{ ...camera, fsp: 15 }] }, /unknown key "cameras\[0\]\.fsp"/],
    [{ cameras: [camera, { ...camera }] }, /cameras\[1\]\.id.*already used by cameras\[0\]/],
    [{ cameras: [{ ...camera, product: 'Washer A' }] }, /cameras\[0\]\.product/],
    [{ cameras: [{ ...camera, decision: { debounceFrames: 0 } }] }, /cameras\[0\]\.decision\.debounceFrames/],
    [{ mqtt: { url: 'http://broker' }, cameras: [camera] }, /mqtt\.url/],
    [{ http: { port: 70000 }, cameras: [camera] }, /http\.port/],
    [{ decison: {}, cameras: [camera] }, /"decison"/],
  ];
  for (const [value, message] of cases) {
    const err = t.throws(() => parse(value)) as Error;
    t.type(err, ConfigError);
    t.match(err.message, message);
  }
});

t.test('the web UI on the network needs http.auth; on the device it is open', async (t) => {
  t.match(parse({ cameras: [camera] }).http, { ui: true, auth: undefined });
  const err = t.throws(() => parse({ http: { host: '0.0.0.0' }, cameras: [camera] })) as Error;
  t.match(err.message, /key "http\.auth": the UI is reachable from the network at 0\.0\.0\.0; set http\.auth\.token or username\/password/);
  t.match(parse({ http: { host: '0.0.0.0', auth: { token: 'a-long-enough-token' } }, cameras: [camera] }).http.auth, { token: 'a-long-enough-token' });
  t.match(parse({ http: { host: '0.0.0.0', auth: { username: 'tech', password: 'line3-secret' } }, cameras: [camera] }).http.auth, { username: 'tech' });
  t.equal(parse({ http: { host: '0.0.0.0', ui: false }, cameras: [camera] }).http.ui, false, 'health and metrics alone may be exposed as before');
  t.equal(parse({ http: { host: '::1' }, cameras: [camera] }).http.host, '::1');
  t.match((t.throws(() => parse({ http: { auth: { username: 'tech' } }, cameras: [camera] })) as Error).message, /http\.auth\.password.*together/);
  t.match((t.throws(() => parse({ http: { auth: { token: 'short' } }, cameras: [camera] })) as Error).message, /http\.auth\.token/);
  t.match((t.throws(() => parse({ http: { auth: { tokn: 'x' } }, cameras: [camera] })) as Error).message, /unknown key "http\.auth\.tokn"/);
});
