/**
 * The embedded broker's rules on hand-checked inputs: topic filters, who
 * may log in and publish where, the retained budget, and packet lengths
 * read from MQTT fixed headers split across chunks.
 */
import t from 'tap';
import { decideLogin, decidePublish, PacketSizeGuard, RetainedBudget, sameSecret, topicMatches } from '../../runtime/mqtt/broker-policy.ts';
import { isLoopbackHost } from '../../config/hosts.ts';

t.test('MQTT topic filters', async (t) => {
  t.ok(topicMatches('linesight/line3/#', 'linesight/line3/cam1/reject'));
  t.ok(topicMatches('linesight/line3/#', 'linesight/line3'), '# includes the parent level');
  t.ok(topicMatches('linesight/line3/+/trigger', 'linesight/line3/cam1/trigger'));
  t.notOk(topicMatches('linesight/line3/+/trigger', 'linesight/line3/cam1/reject'));
  t.notOk(topicMatches('linesight/line3/+/trigger', 'linesight/line3/a/b/trigger'));
  t.notOk(topicMatches('linesight/line3/#', 'linesight/line30/cam1/reject'));
  t.notOk(topicMatches('#', '$SYS/broker/uptime'), 'wildcards at the start do not match $ topics');
  t.ok(topicMatches('a/b', 'a/b'));
  t.notOk(topicMatches('a/b', 'a/b/c'));
});

t.test('loopback hosts', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) t.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'line3.plant.local', '']) t.notOk(isLoopbackHost(host), host);
});

t.test('secrets compare by content', async (t) => {
  t.ok(sameSecret('broker-pass', 'broker-pass'));
  t.ok(sameSecret(Buffer.from('broker-pass'), 'broker-pass'));
  t.notOk(sameSecret('broker-pas', 'broker-pass'));
  t.notOk(sameSecret(undefined, 'broker-pass'));
});

const policy = {
  username: 'linesight',
  password: 'broker-pass',
  runtimeClientId: 'linesight-line3',
  protectedTopics: ['linesight/line3/#'],
  clientPublishTopics: ['linesight/line3/+/trigger'],
};

t.test('logins', async (t) => {
  t.same(decideLogin(policy, { clientId: 'plc' }, false), { ok: false, returnCode: 5, reason: 'anonymous clients are refused (the broker has credentials)' });
  t.match(decideLogin(policy, { clientId: 'plc', username: 'linesight', password: 'nope' }, false), { ok: false, returnCode: 4 });
  t.same(decideLogin(policy, { clientId: 'plc', username: 'linesight', password: 'broker-pass' }, false), { ok: true, runtime: false });
  t.same(decideLogin(policy, { clientId: 'linesight-line3', username: 'linesight', password: 'broker-pass' }, false), { ok: true, runtime: true });
  t.match(decideLogin(policy, { clientId: 'linesight-line3', username: 'linesight', password: 'broker-pass' }, true), { ok: false, returnCode: 2 }, 'no takeover');
  t.same(decideLogin({}, { clientId: 'anyone' }, false), { ok: true, runtime: false }, 'without credentials anyone may connect');
  t.match(decideLogin({ runtimeClientId: 'linesight-line3' }, { clientId: 'linesight-line3' }, true), { ok: false, returnCode: 2 }, 'no takeover without credentials either');
});

t.test('publishing', async (t) => {
  t.same(decidePublish(policy, 'linesight/line3/cam1/reject', true), { ok: true }, 'the runtime publishes its topics');
  t.match(decidePublish(policy, 'linesight/line3/cam1/reject', false), { ok: false, reason: /only the runtime publishes/ });
  t.match(decidePublish(policy, 'linesight/line3/status', false), { ok: false });
  t.same(decidePublish(policy, 'linesight/line3/cam1/trigger', false), { ok: true }, 'triggers are open to clients');
  t.same(decidePublish(policy, 'plant/other', false), { ok: true }, 'topics outside the device are not the runtime’s');
});

t.test('the retained budget counts messages and bytes per topic', async (t) => {
  const budget = new RetainedBudget(2, 100);
  t.same(budget.admit('a', 40), { ok: true });
  t.same(budget.admit('a', 60), { ok: true }, 'replacing a topic counts its new size only');
  t.same([budget.count, budget.totalBytes], [1, 60]);
  t.match(budget.admit('b', 41), { ok: false, reason: /101 bytes, more than the 100/ });
  t.same(budget.admit('b', 40), { ok: true });
  t.match(budget.admit('c', 1), { ok: false, reason: /at most 2 retained/ });
  t.same(budget.admit('a', 0), { ok: true }, 'an empty payload deletes');
  t.same([budget.count, budget.totalBytes], [1, 40]);
  t.same(budget.admit('c', 1), { ok: true });
});

/** An MQTT fixed header: type byte and the remaining length as a variable-length integer. */
function header(type: number, length: number): number[] {
  const bytes = [type];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

t.test('packet lengths are read from the fixed headers, across chunks', async (t) => {
  const guard = new PacketSizeGuard(1000);
  const connect = [...header(0x10, 12), ...new Array<number>(12).fill(0)];
  const publish = [...header(0x30, 1000), ...new Array<number>(1000).fill(7)];
  const stream = Uint8Array.from([...connect, ...publish, ...header(0xc0, 0)]);
  for (let i = 0; i < stream.length; i += 3) t.equal(guard.push(stream.subarray(i, i + 3)), undefined);
  t.equal(new PacketSizeGuard(1000).push(Uint8Array.from(header(0x30, 1001))), 1001, 'one byte over is refused');
  const split = new PacketSizeGuard(64 * 1024);
  const big = header(0x31, 1024 * 1024 + 20);
  t.equal(big.length, 4, 'a 1 MB packet has a 3-byte length');
  t.equal(split.push(Uint8Array.from(big.slice(0, 2))), undefined, 'the length is not complete yet');
  t.equal(split.push(Uint8Array.from(big.slice(2))), 1024 * 1024 + 20);
});
