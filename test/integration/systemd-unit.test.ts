/**
 * The systemd units pass `systemd-analyze verify` and `security`, and the
 * runtime's notifier speaks the notify protocol systemd-notify implements
 * (checked against a real unix datagram socket).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';
import { createSystemdNotifier } from '../../runtime/systemd-notify.ts';
import { requireTool } from '../helpers/require-tool.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const ANALYZE = '/usr/bin/systemd-analyze';
const PYTHON = '/usr/bin/python3';

function analyze(args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync(ANALYZE, args, { cwd, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

for (const [unit, instance] of [
  ['linesight@.service', 'linesight@line1.service'],
  ['linesight-enroll@.service', 'linesight-enroll@bracket-a.service'],
] as const) {
  t.test(`${unit} passes systemd-analyze verify`, async (t) => {
    if (!requireTool(t, ANALYZE, SYSTEM_DEPS_HINT)) return;
    const dir = t.testdir();
    copyFileSync(join(ROOT, 'systemd', unit), join(dir, unit));
    const r = analyze(['verify', `./${instance}`], dir);
    t.equal(r.status, 0, r.output);
    t.notMatch(r.output, /linesight/, `no complaint about the unit: ${r.output}`);
  });
}

t.test('linesight@.service is hardened (systemd-analyze security)', async (t) => {
  if (!requireTool(t, ANALYZE, SYSTEM_DEPS_HINT)) return;
  const dir = t.testdir();
  copyFileSync(join(ROOT, 'systemd', 'linesight@.service'), join(dir, 'linesight@.service'));
  const r = analyze(['security', '--offline=true', './linesight@line1.service'], dir);
  const m = /Overall exposure level for linesight@line1\.service: ([\d.]+) (\w+)/.exec(r.output);
  t.ok(m, 'an exposure score is reported', { output: r.output.slice(-800) });
  const score = Number(m![1]);
  t.comment(`exposure score ${score} ${m![2]}`);
  t.ok(score <= 2.0, `exposure ${score} stays at or below 2.0`);
  for (const setting of ['NoNewPrivileges=', 'ProtectSystem=', 'PrivateTmp=', 'PrivateDevices=', 'CapabilityBoundingSet=~CAP_SYS_ADMIN']) {
    t.match(r.output, new RegExp(`✓ ${setting.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${setting} is set`);
  }
});

t.test('without NOTIFY_SOCKET the notifier does nothing', async (t) => {
  const n = createSystemdNotifier({ env: {} });
  t.equal(n.enabled, false);
  await n.ready('x');
  const stop = n.startWatchdog(() => true);
  stop();
});

t.test('ready and watchdog pings reach the notify socket', async (t) => {
  if (!requireTool(t, PYTHON, SYSTEM_DEPS_HINT)) return;
  // Unix socket paths are limited to about 100 bytes: a short temp dir.
  const dir = mkdtempSync(join(tmpdir(), 'ls-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const socket = join(dir, 'notify.sock');
  const listener = spawn(PYTHON, [join(ROOT, 'test', 'fixtures', 'notify_listener.py'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => listener.kill('SIGKILL'));
  const lines: string[] = [];
  let buffered = '';
  listener.stdout!.on('data', (d) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const until = async (check: () => boolean, what: string) => {
    const end = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await until(() => lines.includes('listening'), 'the listener');
  const env = { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid) };
  const n = createSystemdNotifier({ env });
  t.equal(n.enabled, true);
  await n.ready('scoring 2 camera(s)');
  await until(() => lines.some((l) => l.includes('READY=1')), 'READY=1');
  t.match(lines.find((l) => l.includes('READY=1')), /STATUS=scoring 2 camera\(s\)/);
  let healthy = true;
  const stop = n.startWatchdog(() => healthy);
  await until(() => lines.filter((l) => l.includes('WATCHDOG=1')).length >= 2, 'two watchdog pings');
  healthy = false;
  const pings = lines.filter((l) => l.includes('WATCHDOG=1')).length;
  await new Promise((r) => setTimeout(r, 1200));
  t.ok(lines.filter((l) => l.includes('WATCHDOG=1')).length <= pings + 1, 'no pings while unhealthy');
  stop();
  await n.stopping();
  await until(() => lines.some((l) => l.includes('STOPPING=1')), 'STOPPING=1');
});
