/**
 * The systemd units pass `systemd-analyze verify` and `security`, bound their
 * memory and tasks, let training lower its priority, and the runtime's
 * notifier speaks the notify protocol systemd-notify implements (checked
 * against a real unix datagram socket).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SYSTEM_DEPS_HINT } from '../../fixtures/required-tool.ts';
import { createSystemdNotifier } from '../../runtime/systemd-notify.ts';
import { requireTool } from '../helpers/require-tool.ts';
import { unitDirective as directive } from '../../scripts/unit-environment.ts';

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

/** System calls of a `@group` as systemd lists them (nested groups expanded). */
function syscallGroup(name: string, dir: string): string[] {
  const r = analyze(['syscall-filter', name], dir);
  const calls: string[] = [];
  for (const line of r.output.split('\n').slice(1)) {
    const call = line.trim();
    if (!call || call.startsWith('#')) continue;
    calls.push(...(call.startsWith('@') ? syscallGroup(call, dir) : [call]));
  }
  return calls;
}

/** The system calls a unit's SystemCallFilter lines allow, evaluated in order as systemd does (allow-list form). */
function allowedSyscalls(lines: string[], dir: string): Set<string> {
  const allowed = new Set<string>();
  for (const line of lines) {
    const deny = line.startsWith('~');
    for (const item of (deny ? line.slice(1) : line).split(/\s+/).filter(Boolean)) {
      for (const call of item.startsWith('@') ? syscallGroup(item, dir) : [item]) {
        if (deny) allowed.delete(call);
        else allowed.add(call);
      }
    }
  }
  return allowed;
}

for (const unit of ['linesight@.service', 'linesight-enroll@.service']) {
  const text = readFileSync(join(ROOT, 'systemd', unit), 'utf8');

  t.test(`${unit} bounds memory and tasks and keeps its files private`, async (t) => {
    t.same(directive(text, 'MemoryHigh'), ['3G']);
    t.same(directive(text, 'MemoryMax'), ['4G']);
    t.equal(directive(text, 'TasksMax').length, 1, 'TasksMax is set');
    t.ok(Number(directive(text, 'TasksMax')[0]) >= 64, 'room for Node, ONNX Runtime and ffmpeg threads');
    t.same(directive(text, 'UMask'), ['0077']);
    t.same(directive(text, 'StateDirectoryMode'), ['0750']);
    t.same(directive(text, 'ProtectProc'), ['invisible']);
    t.same(directive(text, 'SystemCallErrorNumber'), ['EPERM']);
  });

  t.test(`${unit} filters system calls but lets a process lower its priority`, async (t) => {
    if (!requireTool(t, ANALYZE, SYSTEM_DEPS_HINT)) return;
    const lines = directive(text, 'SystemCallFilter');
    t.equal(lines[0], '@system-service', 'an allow list');
    const allowed = allowedSyscalls(lines, ROOT);
    t.ok(allowed.has('setpriority'), 'setpriority is allowed (training runs at nice 10)');
    t.ok(allowed.has('read') && allowed.has('openat'), 'ordinary calls are allowed');
    for (const call of ['reboot', 'setrlimit', 'sched_setscheduler', 'mount', 'swapon']) t.notOk(allowed.has(call), `${call} is blocked`);
  });
}

t.test('the install steps keep the config (token, broker password) from other users', async (t) => {
  const readme = readFileSync(join(ROOT, 'systemd', 'README.md'), 'utf8');
  const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('## Lifecycle'));
  const create = install.indexOf('install -m 0640 -o root -g linesight');
  t.ok(create >= 0, 'the config file is created 0640 root:linesight');
  t.ok(create < install.indexOf('sudoedit'), 'before it is edited (sudoedit keeps the mode of an existing file)');
  t.match(install, /install -d -m 0750 -o root -g linesight \/etc\/linesight/, 'the config directory is closed to others');
});

for (const [unit, instance] of [
  ['linesight@.service', 'linesight@line1.service'],
  ['linesight-enroll@.service', 'linesight-enroll@bracket-a.service'],
] as const) {
  t.test(`${unit} is hardened (systemd-analyze security)`, async (t) => {
    if (!requireTool(t, ANALYZE, SYSTEM_DEPS_HINT)) return;
    const dir = t.testdir();
    copyFileSync(join(ROOT, 'systemd', unit), join(dir, unit));
    const r = analyze(['security', '--offline=true', `./${instance}`], dir);
    const m = new RegExp(`Overall exposure level for ${instance.replace('.', '\\.')}: ([\\d.]+) (\\w+)`).exec(r.output);
    t.ok(m, 'an exposure score is reported', { output: r.output.slice(-800) });
    const score = Number(m![1]);
    t.comment(`exposure score ${score} ${m![2]}`);
    t.ok(score <= 2.0, `exposure ${score} stays at or below 2.0`);
    for (const setting of ['NoNewPrivileges=', 'ProtectSystem=', 'PrivateTmp=', 'PrivateDevices=', 'CapabilityBoundingSet=~CAP_SYS_ADMIN']) {
      t.match(r.output, new RegExp(`✓ ${setting.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${setting} is set`);
    }
  });
}

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
