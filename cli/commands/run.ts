/**
 * `linesight run`: the device's service — score the configured cameras and
 * publish results and reject signals over MQTT until SIGTERM or Ctrl-C, then
 * finish the current frames and flush the reject signals.
 */
import { redactUrl } from '../../config/secrets.ts';
import type { Command } from 'commander';
import { DeviceRuntime } from '../../runtime/device-runtime.ts';
import { deviceConfig, type DeviceFlags } from '../device-flags.ts';

export function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('score live cameras and publish results and reject signals over MQTT (stops on SIGTERM / Ctrl-C)')
    .requiredOption('--config <file>', 'device config file (YAML or JSON) with mqtt, cameras, ...')
    .option('--data-dir <dir>', 'device data folder (overrides the config)')
    .action(run);
}

async function run(flags: DeviceFlags): Promise<void> {
  const config = await deviceConfig(flags);
  const runtime = await DeviceRuntime.start(config);
  console.error(
    `linesight: scoring ${config.cameras.map((c) => `${c.id} (${c.product})`).join(', ')}; ` +
      `MQTT ${redactUrl(runtime.brokerUrl)} topics ${config.mqtt.prefix}/${config.mqtt.deviceId}/#` +
      (runtime.healthUrl ? `; ${config.http.ui ? `web UI ${runtime.healthUrl}/, ` : ''}health ${runtime.healthUrl}/health` : ''),
  );
  await stopOnSignal(() => runtime.stop());
}

/** Resolves after `stop` has run on the first SIGTERM or SIGINT; a second signal exits at once. */
function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      console.error(`linesight: ${signal}, stopping (finishing the current frames, flushing reject signals)`);
      stop().then(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve();
      }, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
