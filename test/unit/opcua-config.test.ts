/**
 * The `opcua` section of the device config: off by default, loopback-only
 * anonymous and None, someone able to log in, and error messages that name
 * the key as the HTTP section's do.
 */
import t from 'tap';
import { z } from 'zod';
import { parseOrThrow } from '../../config/errors.ts';
import { isLoopbackHost } from '../../config/hosts.ts';
import { opcuaSettingsSchema } from '../../config/opcua.ts';

/** The section as it sits in the device config, so messages carry the `opcua.` prefix. */
const inDevice = z.object({ opcua: opcuaSettingsSchema.default(() => opcuaSettingsSchema.parse({})) }).strict();
const parse = (opcua: unknown) => parseOrThrow(inDevice, { opcua }, 'linesight.yaml').opcua;
const PLC = { username: 'plc', password: 'line-4-secret' };

t.test('defaults: off, loopback, port 4840, no anonymous, no None', async (t) => {
  t.same(parseOrThrow(inDevice, {}, 'linesight.yaml').opcua, { enabled: false, host: '127.0.0.1', port: 4840, allowAnonymous: false, allowSecurityNone: false, users: [] });
});

t.test('anonymous and None are refused off loopback, with the key and what to do', async (t) => {
  t.throws(() => parse({ enabled: true, host: '0.0.0.0', allowAnonymous: true, users: [PLC] }), {
    name: 'ConfigError',
    message:
      'linesight.yaml: key "opcua.allowAnonymous": the OPC UA server is reachable from the network at 0.0.0.0; anonymous access is allowed only on loopback: set opcua.allowAnonymous: false and add opcua.users (or host 127.0.0.1)',
  });
  t.throws(() => parse({ enabled: true, host: '10.0.0.5', allowSecurityNone: true, users: [PLC] }), { message: /key "opcua\.allowSecurityNone": the OPC UA server is reachable from the network at 10\.0\.0\.5; security policy None is allowed only on loopback/ });
  t.same(parse({ enabled: true, host: '0.0.0.0', users: [PLC] }).users, [PLC], 'users and Basic256Sha256 only: accepted on the network');
  t.equal(parse({ enabled: true, host: '127.0.0.1', allowAnonymous: true, allowSecurityNone: true }).allowAnonymous, true, 'both allowed on loopback');
  t.equal(parse({ enabled: true, host: '::1', allowAnonymous: true }).host, '::1');
  t.equal(parse({ enabled: false, host: '0.0.0.0', allowAnonymous: true }).enabled, false, 'a disabled server is not checked');
});

t.test('an enabled server needs someone able to log in, users once each, real passwords', async (t) => {
  t.throws(() => parse({ enabled: true }), { message: /key "opcua\.users": no one could log in to the OPC UA server/ });
  t.throws(() => parse({ enabled: true, users: [PLC, PLC] }), { message: /key "opcua\.users\[1\]\.username": user "plc" is listed twice/ });
  t.throws(() => parse({ enabled: true, users: [{ username: 'plc', password: 'short' }] }), { message: /key "opcua\.users\[0\]\.password": use at least 8 characters/ });
  t.throws(() => parse({ enabled: true, users: [PLC], allowAnonymus: true }), { message: /unknown key "opcua\.allowAnonymus"/ });
});

t.test('isLoopbackHost: only names and addresses of the device itself', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]']) t.equal(isLoopbackHost(host), true, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.20', 'line4-cam.local', '128.0.0.1']) t.equal(isLoopbackHost(host), false, host);
});
