/**
 * `mqtt.servers`: the other brokers of a cluster. The config accepts them only
 * next to `url`, in the same scheme as `tls` asks for and without their own
 * credentials; the client options list `url` first, then each server, with
 * default ports filled in, so mqtt.js tries them in turn after a lost
 * connection.
 */
import t from 'tap';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { brokerServer, brokerServers, clientOptions } from '../../runtime/mqtt/client-options.ts';
import type { OutgoingMessage } from '../../runtime/mqtt/encoding.ts';

const will: OutgoingMessage = { topic: 'linesight/dev1/status', payload: Buffer.from('{}'), qos: 1, retain: true };

function messagesOf(input: Record<string, unknown>): string[] {
  const parsed = mqttConfigSchema.safeParse({ deviceId: 'dev1', ...input });
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

t.test('a broker URL becomes a servers entry with its default port', async (t) => {
  t.same(brokerServer('mqtt://node-a.plant:1884'), { host: 'node-a.plant', port: 1884, protocol: 'mqtt' });
  t.same(brokerServer('mqtt://node-a.plant'), { host: 'node-a.plant', port: 1883, protocol: 'mqtt' });
  t.same(brokerServer('mqtts://node-b.plant'), { host: 'node-b.plant', port: 8883, protocol: 'mqtts' });
  t.same(brokerServer('mqtt://[fd00::7]:1883'), { host: 'fd00::7', port: 1883, protocol: 'mqtt' });
});

t.test('the client tries url first, then each server in turn', async (t) => {
  const config = mqttConfigSchema.parse({ deviceId: 'dev1', url: 'mqtt://10.0.0.1:1883', servers: ['mqtt://10.0.0.2:1883', 'mqtt://10.0.0.3'] });
  const options = clientOptions(config, {}, will, 1000);
  t.same(options.servers, [
    { host: '10.0.0.1', port: 1883, protocol: 'mqtt' },
    { host: '10.0.0.2', port: 1883, protocol: 'mqtt' },
    { host: '10.0.0.3', port: 1883, protocol: 'mqtt' },
  ]);
});

t.test('one broker: no servers list (mqtt.js connects to url only)', async (t) => {
  const config = mqttConfigSchema.parse({ deviceId: 'dev1', url: 'mqtt://10.0.0.1:1883' });
  t.equal(brokerServers(config), undefined);
  t.notOk('servers' in clientOptions(config, {}, will, 1000));
});

t.test('servers need url, the scheme tls asks for, and no credentials of their own', async (t) => {
  t.same(messagesOf({ url: 'mqtt://a:1883', servers: ['mqtt://b:1883'] }), []);
  t.match(messagesOf({ servers: ['mqtt://b:1883'] }), [/^servers: .*mqtt\.url .* is not set/]);
  t.match(messagesOf({ url: 'mqtts://a', servers: ['mqtt://b'], tls: {} }), [/^servers\.0: tls is set but "mqtt:\/\/b" is plain mqtt:\/\//]);
  t.match(messagesOf({ url: 'mqtt://a', servers: ['mqtt://plc:secret@b'] }), [/^servers\.0: .* carries credentials/]);
  t.match(messagesOf({ url: 'mqtt://a', servers: ['http://b'] }), [/^servers\.0: .*linesight speaks mqtt:\/\/ and mqtts:\/\//]);
  t.match(messagesOf({ url: 'mqtt://a', servers: [] }), [/^servers: /], 'an empty list is a mistake, not one broker');
});
