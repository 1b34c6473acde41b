/**
 * scripts/stop-packaged-mosquitto.sh (run by install-system-deps.sh) stops
 * the mosquitto the Debian package started, found through its pid file and
 * its config, and never another mosquitto (the tests' own brokers), even
 * when a stale pid file names one of them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { freePort, MOSQUITTO } from '../../fixtures/mosquitto.ts';

const run = promisify(execFile);
const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'stop-packaged-mosquitto.sh');

async function startMosquitto(dir: string, name: string): Promise<{ process: ChildProcess; conf: string }> {
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, `listener ${await freePort()} 127.0.0.1\nallow_anonymous true\n`);
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`mosquitto ${name} did not start`);
  return { process: child, conf };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && existsSync(`/proc/${child.pid}`);
}

async function stopPackaged(conf: string, pidfile: string): Promise<string> {
  const env = { ...process.env, LINESIGHT_SYSTEMD_DIR: '/nonexistent-systemd', LINESIGHT_MOSQUITTO_CONF: conf, LINESIGHT_MOSQUITTO_PIDFILE: pidfile };
  const { stdout } = await run('bash', [SCRIPT], { env });
  return stdout;
}

t.test('stops the packaged mosquitto and nothing else', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ls-pkg-mosquitto-'));
  const packaged = await startMosquitto(dir, 'packaged');
  const tests = await startMosquitto(dir, 'tests');
  t.teardown(async () => {
    for (const m of [packaged, tests]) if (alive(m.process)) m.process.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  const pidfile = join(dir, 'mosquitto.pid');

  t.match(await stopPackaged(packaged.conf, pidfile), /not running/, 'no pid file: nothing to stop');

  await writeFile(pidfile, `${tests.process.pid}\n`);
  t.match(await stopPackaged(packaged.conf, pidfile), /another process/, 'a stale pid file naming the tests broker');
  t.ok(alive(tests.process), "the tests' broker keeps running");
  t.ok(alive(packaged.process), 'not found through the pid file: left alone');

  await writeFile(pidfile, `${packaged.process.pid}\n`);
  t.match(await stopPackaged(packaged.conf, pidfile), /stopped \(pid \d+\)/);
  const deadline = Date.now() + 5000;
  while (alive(packaged.process) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.notOk(alive(packaged.process), 'the packaged broker is gone');
  t.ok(alive(tests.process), "the tests' broker still runs");
});
