/**
 * `linesight run` as a process, as systemd runs it: a bad config fails before
 * anything starts; SIGTERM stops gracefully; a broker outage and a SIGKILL
 * lose no reject signal. Real mosquitto, real ffmpeg, real ONNX Runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';
import { freePort, startMosquitto } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { until } from '../helpers/until.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);
// Defective parts every other second: rejects keep coming.
const video = await fixture.video('gdgd', 'gdgd');
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'linesight.js');

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function runCli(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LINESIGHT_LOG_LEVEL: 'info' } });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exited };
}

async function writeConfig(name: string, config: unknown): Promise<string> {
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, stringify(config));
  return path;
}

async function health(port: number): Promise<{ mqtt: { pendingRejects: number; state: string }; cameras: { rejects: number; state: string }[] } | undefined> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as never;
  } catch {
    return undefined;
  }
}

t.test('a bad config is refused with the key named, before anything starts', async (t) => {
  const brokerPort = await freePort();
  const bad = await writeConfig('bad', {
    dataDir: fixture.dataDir,
    mqtt: { embeddedBroker: { port: brokerPort } },
    cameras: [{ id: 'cam1', url: video, product: fixture.product, fsp: 15 }],
  });
  const run = runCli(['run', '--config', bad]);
  t.equal(await run.exited, 1);
  t.match(run.output(), /unknown key "cameras\[0\]\.fsp"/);
  t.notMatch(run.output(), /listening|connecting/i, 'no broker was started, no camera opened');

  // A product whose only version is damaged (a product not enrolled at all streams and waits, see empty-device.test.ts).
  await mkdir(join(fixture.dataDir, 'products', 'damaged', 'v1'), { recursive: true });
  await writeFile(join(fixture.dataDir, 'products', 'damaged', 'v1', 'manifest.json'), '{"schemaVersion":');
  await writeFile(join(fixture.dataDir, 'products', 'damaged', 'active'), 'v1\n');
  const damaged = await writeConfig('damaged-product', {
    dataDir: fixture.dataDir,
    mqtt: { embeddedBroker: { port: brokerPort } },
    cameras: [{ id: 'cam1', url: video, product: 'damaged' }],
  });
  const run2 = runCli(['run', '--config', damaged]);
  t.equal(await run2.exited, 1);
  t.match(run2.output(), /product "damaged" version v1: manifest\.json is not valid JSON/);
  t.notMatch(run2.output(), /Error: .*\n\s+at /, 'no stack trace');

  const noCameras = await writeConfig('no-cameras', { dataDir: fixture.dataDir });
  const run3 = runCli(['run', '--config', noCameras]);
  t.equal(await run3.exited, 1);
  t.match(run3.output(), /no cameras/);
});

t.test('rejects survive a broker outage and a SIGKILL, and arrive in order', async (t) => {
  const broker = await startMosquitto({ persistence: true });
  t.teardown(() => broker.dispose());
  const collector = await MqttCollector.connect(broker.url, ['linesight/line9/+/reject', 'linesight/line9/status'], { clean: false, clientId: 'plc-line9' });
  t.teardown(() => collector.client.endAsync(true));
  const httpPort = await freePort();
  const config = await writeConfig('durable', {
    dataDir: fixture.dataDir,
    mqtt: { url: broker.url, deviceId: 'line9', outboxDir: join(dir, 'outbox-durable'), reconnect: { initialMs: 100, maxMs: 500 } },
    http: { port: httpPort },
    decision: { debounceFrames: 2, cooldownMs: 500 },
    cameras: [{ id: 'cam1', url: video, product: fixture.product }],
  });

  // 1. Running normally: rejects arrive.
  let run = runCli(['run', '--config', config]);
  await collector.waitForCount('linesight/line9/cam1/reject', 1, 30_000);

  // 2. Broker down: rejects pile up in the outbox.
  await broker.stop();
  await until(async () => ((await health(httpPort))?.mqtt.pendingRejects ?? 0) >= 2 || undefined, 20_000, 'two rejects stored while the broker is down');

  // 3. The runtime is killed with rejects unsent.
  const pending = (await health(httpPort))!.mqtt.pendingRejects;
  run.child.kill('SIGKILL');
  await run.exited;
  t.ok(pending >= 2, `${pending} rejects were unsent at the kill`);

  // 4. Broker back, runtime restarted: everything arrives, in order, none lost.
  await broker.start();
  run = runCli(['run', '--config', config]);
  const acked = await until(async () => {
    const h = await health(httpPort);
    return h && h.mqtt.state === 'online' && h.mqtt.pendingRejects === 0 && h.cameras[0]!.rejects >= 1 ? h : undefined;
  }, 40_000, 'the outbox drained after the restart');
  t.ok(acked);
  run.child.kill('SIGTERM');
  t.equal(await run.exited, 0, 'SIGTERM exits cleanly');
  const seqs = collector.json<{ seq: number }>('linesight/line9/cam1/reject').map((r) => r.seq);
  const unique = [...new Set(seqs)];
  t.same(unique, unique.map((_, i) => i + 1), `reject seqs 1..${unique.length} arrive with no gap, in order (got ${seqs.join(',')})`);
  t.ok(unique.length >= pending + 2, 'rejects before, during and after the outage all arrived');
  await collector.waitUntil(() => (collector.json<{ state: string }>('linesight/line9/status').at(-1)?.state === 'offline' ? true : undefined), 5000, 'the offline status');
  t.pass('the graceful stop left the retained status offline');
  t.match(run.output(), /SIGTERM, stopping/);
});
