import t from 'tap';
import { ConfigError, parseOrThrow } from '../../config/errors.ts';
import { defaultDeviceId, deviceConfigSchema } from '../../config/schema.ts';

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
