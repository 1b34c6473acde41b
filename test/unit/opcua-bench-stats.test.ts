/** The OPC UA benchmark's matching of triggers and result events, on hand-checkable inputs. */
import t from 'tap';
import { matchResults } from '../../scripts/bench-opcua-stats.ts';

t.test('latency from each trigger to its first event; missing, duplicated and unexpected parts', async (t) => {
  const sent = new Map([
    ['P1', 1000],
    ['P2', 1100],
    ['P3', 1200],
    ['P4', 1300],
  ]);
  const stats = matchResults(sent, [
    { partId: 'P1', at: 1040 },
    { partId: 'P2', at: 1160 },
    { partId: 'P2', at: 1170 },
    { partId: 'X9', at: 1180 },
    { partId: 'P4', at: 1320 },
  ]);
  t.same(stats.missing, ['P3']);
  t.same(stats.duplicated, ['P2']);
  t.equal(stats.unexpected, 1);
  t.equal(stats.events, 5);
  t.equal(stats.parts, 4);
  t.same(stats.latencyMs, { p50: 40, p99: 60, max: 60 }, 'latencies 40, 60, 20 (first event of P2 counts)');
});

t.test('no events: every part missing, no latency', async (t) => {
  const stats = matchResults(new Map([['P1', 0]]), []);
  t.same(stats.missing, ['P1']);
  t.same(stats.latencyMs, { p50: null, p99: null, max: null });
});
