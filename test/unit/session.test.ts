import t from 'tap';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { resolveExecutionProviders, resetFallbackWarnings } from '../../models/session.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

t.test('a missing GPU provider falls back to cpu with one log line', async (t) => {
  resetFallbackWarnings();
  const { log, lines } = capture();
  t.same(resolveExecutionProviders(['cuda', 'cpu'], ['cpu'], log), ['cpu']);
  t.same(resolveExecutionProviders(['cuda', 'cpu'], ['cpu'], log), ['cpu']);
  t.equal(lines.length, 1, 'reported once');
  t.match(lines[0], /execution provider cuda is not available in this onnxruntime build; using cpu/);
});

t.test('available providers are kept in order, cpu last', async (t) => {
  const { log, lines } = capture();
  t.same(resolveExecutionProviders(['tensorrt', 'cuda'], ['cpu', 'cuda', 'tensorrt'], log), ['tensorrt', 'cuda', 'cpu']);
  t.equal(lines.length, 0);
});
