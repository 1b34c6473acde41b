/**
 * The embedded broker's settings: refused off loopback without an account,
 * and the options the runtime derives from the device config (its store,
 * which topics only the runtime publishes, where a PLC may publish).
 */
import t from 'tap';
import { mqttConfigSchema } from '../../config/mqtt.ts';
import { embeddedBrokerOptions, runtimeClientConfig } from '../../runtime/mqtt/embedded-broker-options.ts';

const parse = (embeddedBroker: Record<string, unknown>, extra: Record<string, unknown> = {}) => mqttConfigSchema.safeParse({ deviceId: 'line3', embeddedBroker, ...extra });

t.test('a broker reachable from the network needs an account', async (t) => {
  const open = parse({ host: '0.0.0.0' });
  t.notOk(open.success);
  t.match(JSON.stringify(open.error?.issues), /embeddedBroker.*username|reachable from the network at 0\.0\.0\.0/);
  t.ok(parse({ host: '0.0.0.0', username: 'plant', password: 'a-long-password' }).success);
  t.notOk(parse({ username: 'plant' }).success, 'username without password');
  t.notOk(parse({ username: 'plant', password: 'short' }).success, 'a short password');
  t.notOk(parse({ colour: 'red' }).success, 'an unknown key');
});

t.test('options derived from the device config', async (t) => {
  const config = mqttConfigSchema.parse({ deviceId: 'line3', prefix: 'plant/ls' });
  const o = embeddedBrokerOptions(config, '/var/lib/linesight');
  t.equal(o.dataDir, '/var/lib/linesight/embedded-broker/line3', 'kept on disk under the data dir');
  t.equal(o.runtimeClientId, 'linesight-line3');
  t.same(o.protectedTopics, ['plant/ls/line3/#']);
  t.same(o.clientPublishTopics, ['plant/ls/line3/+/trigger', 'plant/ls/line3/+/counters/reset']);
  t.equal(embeddedBrokerOptions(mqttConfigSchema.parse({ deviceId: 'line3', embeddedBroker: { persist: false } }), '/d').dataDir, undefined, 'in memory when persist is off');
  const sparkplug = embeddedBrokerOptions(mqttConfigSchema.parse({ deviceId: 'line3', encoding: 'sparkplug' }), '/d');
  t.ok(sparkplug.protectedTopics?.includes('spBv1.0/linesight/+/line3/#'));
  t.ok(sparkplug.clientPublishTopics?.includes('spBv1.0/linesight/NCMD/line3'));
});

t.test("the runtime's client logs in with the embedded broker's account", async (t) => {
  const config = mqttConfigSchema.parse({ deviceId: 'line3', embeddedBroker: { username: 'plant', password: 'a-long-password' } });
  t.match(runtimeClientConfig(config), { username: 'plant', password: 'a-long-password' });
  const external = mqttConfigSchema.parse({ deviceId: 'line3', url: 'mqtt://broker:1883', embeddedBroker: { username: 'plant', password: 'a-long-password' } });
  t.equal(runtimeClientConfig(external).username, undefined, 'an external broker keeps its own settings');
});
