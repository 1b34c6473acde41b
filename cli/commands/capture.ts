/**
 * `linesight capture`: save golden samples from a configured camera while
 * good parts pass it, spaced in time and skipping near-identical frames;
 * Ctrl-C stops and keeps what was saved (exit status 130).
 */
import type { Command } from 'commander';
import type { DeviceConfig, StationConfig } from '../../config/device.ts';
import { ConfigError } from '../../config/errors.ts';
import { loadDeviceConfig } from '../../config/load.ts';
import { CAPTURE_DEFAULTS, CaptureError, captureGoldenSamples } from '../../runtime/capture/golden-capture.ts';
import { FfmpegCamera } from '../../runtime/ingest/ffmpeg-camera.ts';
import { redactUrl } from '../../runtime/ingest/ffmpeg-command.ts';
import { fmt } from '../format.ts';
import { numberFlag } from '../number-flag.ts';

interface CaptureFlags {
  camera: string;
  count: string;
  out: string;
  config?: string;
  interval?: string;
  minChange?: string;
  timeout?: string;
}

export function addCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description('save golden samples from a running camera while good parts pass (spaced in time, near-identical frames skipped)')
    .requiredOption('--camera <id>', 'camera id from the config file (cameras[].id)')
    .requiredOption('--count <n>', 'golden samples to save')
    .requiredOption('--out <dir>', 'folder for the samples (000.png, 001.png, ...; existing files are kept, numbering continues)')
    .option('--config <file>', 'device config file (YAML or JSON) naming the camera')
    .option('--interval <ms>', `least time between two saved frames, ms (default ${CAPTURE_DEFAULTS.minIntervalMs})`)
    .option('--min-change <x>', `least difference from every saved frame, 0-1 (default ${CAPTURE_DEFAULTS.minChange}); below it a frame is skipped as near-identical`)
    .option('--timeout <s>', `give up when no new sample was saved for this many seconds (default ${CAPTURE_DEFAULTS.timeoutMs / 1000})`)
    .action(capture);
}

/** The configured camera `--camera` names, or a ConfigError listing the ones there are. */
function station(config: DeviceConfig, flags: CaptureFlags): StationConfig {
  const found = config.cameras.find((c) => c.id === flags.camera);
  if (found) return found;
  const where = flags.config ? `in ${flags.config}` : '(no --config given)';
  throw new ConfigError(
    config.cameras.length > 0
      ? `--camera "${flags.camera}": no such camera ${where}; configured cameras: ${config.cameras.map((c) => c.id).join(', ')}`
      : `--camera "${flags.camera}": no cameras are configured ${where}; add the camera under "cameras" (id, url, product)`,
  );
}

async function capture(flags: CaptureFlags): Promise<void> {
  const config = await loadDeviceConfig(flags.config);
  const count = numberFlag('--count', flags.count, { integer: true, min: 1 });
  const minIntervalMs = flags.interval === undefined ? undefined : numberFlag('--interval', flags.interval, { min: 0 });
  const minChange = flags.minChange === undefined ? undefined : numberFlag('--min-change', flags.minChange, { min: 0, max: 1 });
  const timeoutMs = flags.timeout === undefined ? undefined : numberFlag('--timeout', flags.timeout, { min: 0, exclusiveMin: true }) * 1000;
  const cam = station(config, flags);
  const camera = new FfmpegCamera(cam);
  let failure: string | undefined;
  camera.on('state', (c) => {
    if (c.state === 'streaming') console.error(`camera ${c.camera}: ${c.reason}`);
    if (c.state === 'exited' || c.state === 'stalled') {
      failure = c.reason;
      console.error(`camera ${c.camera}: ${c.reason}`);
    }
  });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  console.error(`capturing ${count} golden samples of ${cam.product} from camera ${cam.id} (${redactUrl(cam.url)}) into ${flags.out}: let good parts pass the camera (Ctrl-C stops and keeps what was saved)`);
  let result;
  try {
    camera.start();
    result = await captureGoldenSamples(camera, {
      count,
      outDir: flags.out,
      minIntervalMs,
      minChange,
      timeoutMs,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.file) console.log(`saved ${p.saved}/${p.count} (skipped ${p.skippedSimilar} near-identical)  ${p.file}`);
      },
    });
  } catch (err) {
    if (err instanceof CaptureError && err.frames === 0 && failure) {
      throw new CaptureError(`camera ${cam.id} sent no frame: ${failure}; ${err.message}`);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await camera.stop();
  }
  const skipped = `skipped ${result.skippedSimilar} near-identical and ${result.skippedTooSoon} too-soon frames`;
  if (result.aborted) {
    console.log(`stopped: saved ${result.files.length} of ${count} golden samples into ${flags.out} in ${fmt(result.seconds, 1)} s (${skipped}); run capture again to add more`);
    process.exitCode = 130;
    return;
  }
  console.log(`captured ${result.files.length} golden samples into ${flags.out} in ${fmt(result.seconds, 1)} s (${skipped})`);
  console.log(`next: look through them, delete any bad part, then: linesight enroll --product ${cam.product} --images ${flags.out}`);
}
