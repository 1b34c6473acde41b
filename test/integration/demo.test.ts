/**
 * `npm run demo -- --seconds N` from a fresh folder: generates and enrolls the
 * sample product, plays the conveyor video through the camera ingest, and
 * ends with one JSON line in which every defective part was rejected.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { MqttCollector } from '../helpers/mqtt-collector.ts';
import { freePort } from '../../fixtures/mosquitto.ts';

const ROOT = join(import.meta.dirname, '..', '..');

t.test('the demo runs end to end and rejects exactly the defective parts', async (t) => {
  const dir = t.testdir();
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'demo.ts'), '--seconds', '25', '--dir', dir, '--port', String(port), '--http-port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' },
  });
  t.teardown(() => child.exitCode === null && child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  let collector: MqttCollector | undefined;
  const subscribed = new Promise<void>((resolve) => {
    child.stderr.on('data', (d) => {
      stderr += d;
      // A second MQTT client, as a technician's terminal, once the broker is up.
      if (!collector && stderr.includes('watch the reject signals')) {
        // No reconnects: the demo's broker goes away with the demo, and a reconnect timer would hold this process open.
        void MqttCollector.connect(`mqtt://127.0.0.1:${port}`, ['linesight/demo/+/reject'], { reconnectPeriod: 0 }).then((c) => {
          collector = c;
          resolve();
        });
      }
    });
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 0, stderr.slice(-3000));
  await subscribed;
  // The demo's broker has gone with it, so the collector is reconnecting; a
  // plain end() can leave the attempt in flight holding the process open
  // (mqttjs/MQTT.js#1033): force closes the socket as well.
  await collector!.client.endAsync(true);
  const lines = stdout.trim().split('\n');
  const summary = JSON.parse(lines.at(-1)!) as { parts: number; rejects: number; expectedRejects: number; fps: number; falseRejects: number; missedRejects: number };
  t.ok(summary.parts >= 15, `parts passed the camera (${summary.parts})`);
  t.ok(summary.expectedRejects >= 5, `defective parts among them (${summary.expectedRejects})`);
  t.equal(summary.rejects, summary.expectedRejects, 'every defective part was rejected');
  t.equal(summary.falseRejects, 0);
  t.equal(summary.missedRejects, 0);
  t.ok(summary.fps > 10, `frames were scored at about camera rate (${summary.fps} fps)`);
  t.match(stderr, /part +\d+ +defective \(\w+\) .* REJECT +ok/, 'a live line per part');
  const seen = collector!.messages('linesight/demo/cam1/reject').length;
  t.ok(seen >= summary.rejects - 1, `the second client saw the rejects (${seen})`);
});
