/**
 * The same runtime under Deno 2 (the `deno` npm package, installed by `npm run test:all`):
 * `deno run -A cli/main.ts run --config <file>` scores a short stream and
 * publishes to a real mosquitto broker.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { resultPayloadSchema } from '../../runtime/mqtt/payloads.ts';
import { DENO, DENO_HINT } from '../../fixtures/required-tool.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';
import { freePort, startMosquitto } from '../../fixtures/mosquitto.ts';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { requireTool } from '../helpers/require-tool.ts';

const ROOT = join(import.meta.dirname, '..', '..');

t.test('linesight run under Deno publishes results', async (t) => {
  if (!requireTool(t, DENO, DENO_HINT)) return;
  const dir = t.testdir();
  const fixture = await conveyorFixture(dir);
  const video = await fixture.video('gdg', 'gdg');
  const broker = await startMosquitto();
  t.teardown(() => broker.dispose());
  const collector = await MqttCollector.connect(broker.url, ['linesight/denodev/#']);
  t.teardown(() => collector.client.endAsync());
  const config = join(dir, 'deno.yaml');
  await writeFile(
    config,
    stringify({
      dataDir: fixture.dataDir,
      mqtt: { url: broker.url, deviceId: 'denodev' },
      http: { port: await freePort() },
      cameras: [{ id: 'cam1', url: video, product: fixture.product }],
    }),
  );
  const child = spawn(DENO, ['run', '-A', join(ROOT, 'cli', 'main.ts'), 'run', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  try {
    await collector.waitForCount('linesight/denodev/cam1/result', 10, 90_000);
  } catch (err) {
    t.fail(`no results from the Deno runtime: ${(err as Error).message}\n${output}`);
    return;
  }
  const result = collector.json('linesight/denodev/cam1/result')[0];
  t.ok(resultPayloadSchema.safeParse(result).success, 'results are valid payloads');
  await collector.waitForCount('linesight/denodev/cam1/reject', 1, 10_000);
  t.pass('the defective part was rejected under Deno');
  child.kill('SIGTERM');
  const code = await exited;
  t.equal(code, 0, `Deno runtime stops cleanly on SIGTERM (exit ${code})\n${output.slice(-2000)}`);
  await collector.waitForJson<{ state: string }>('linesight/denodev/status', (s) => s.state === 'offline', 5000);
  t.pass('the retained status turned offline');
});
