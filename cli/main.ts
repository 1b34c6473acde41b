/**
 * The `linesight` command: enroll, score, eval (and, on a device, run).
 * Flags and config files are validated up front; a known failure prints one
 * clear line and exits with status 1, without a stack trace.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, parseOrThrow } from '../config/errors.ts';
import { loadDeviceConfig } from '../config/load.ts';
import { productIdSchema } from '../config/names.ts';
import type { DeviceConfig } from '../config/device.ts';
import type { EnrollSettings } from '../config/enroll.ts';
import { ArtifactError } from '../product/artifact.ts';
import { maskPng, overlayPng } from '../product/heatmap.ts';
import { ImageReadError, readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { CONTACT_SHEET_FILE, enrollProduct } from '../trainer/enroll.ts';
import { errorLine, progressLine, resultLine } from '../product/enrollment-progress.ts';
import { EnrollError } from '../trainer/golden-samples.ts';
import { EVAL_STAGES, evaluateDataset, type CategoryMetrics, type EvalReport, type EvalStage } from '../eval/evaluate.ts';
import { createProgress } from './progress.ts';
import { DeviceRuntime } from '../runtime/device-runtime.ts';
import { HealthServerError } from '../runtime/health-server.ts';
import { EmbeddedBrokerError } from '../runtime/mqtt/embedded-broker.ts';
import { OutboxError } from '../runtime/mqtt/outbox.ts';
import { PublisherError } from '../runtime/mqtt/publisher.ts';
import { CAPTURE_DEFAULTS, CaptureError, captureGoldenSamples } from '../runtime/capture/golden-capture.ts';
import { FfmpegCamera } from '../runtime/ingest/ffmpeg-camera.ts';
import { redactUrl } from '../runtime/ingest/ffmpeg-command.ts';
import { numberFlag } from './number-flag.ts';
import { addEnrollSettingFlags, enrollSettingsFromFlags } from './setting-flags.ts';
import { printTable } from './table.ts';
import { ProductVersionError, activateProductVersion, listProductSummaries, listProductVersions, rollbackProduct } from '../product/versions.ts';

interface CommonFlags {
  config?: string;
  dataDir?: string;
}

function enrollSettings(config: DeviceConfig, flags: Record<string, unknown>): EnrollSettings {
  return enrollSettingsFromFlags(config.enroll, flags);
}

async function deviceConfig(flags: CommonFlags): Promise<DeviceConfig> {
  const config = await loadDeviceConfig(flags.config);
  return flags.dataDir ? { ...config, dataDir: flags.dataDir } : config;
}

function productId(value: string): string {
  return parseOrThrow(productIdSchema, value, `--product "${value}"`);
}

const fmt = (v: number, digits = 3) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

export function buildCli(): Command {
  const program = new Command('linesight')
    .description('Edge runtime for smart cameras on conveyor lines')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: false });

  addEnrollSettingFlags(
    program
      .command('enroll')
      .description('learn a product from a folder of golden (good) sample images')
      .requiredOption('--product <id>', 'product id, e.g. bracket-a')
      .requiredOption('--images <dir>', 'folder of golden sample images')
      .option('--data-dir <dir>', 'device data folder (default from config, else ./.linesight)')
      .option('--config <file>', 'device config file (YAML or JSON)')
      .option('--no-activate', 'write the new version without making it active')
      .addOption(new Option('--progress <format>', 'bar: progress bars for people; json: one JSON object per line on stdout (progress, then the result)').choices(['bar', 'json']).default('bar')),
  ).action(async (flags) => {
    const json = flags.progress === 'json';
    let result;
    let id: string;
    try {
      const config = await deviceConfig(flags);
      const settings = enrollSettings(config, flags);
      id = productId(flags.product);
      const progress = json ? undefined : createProgress();
      result = await enrollProduct({
        productId: id,
        imagesDir: flags.images,
        dataDir: config.dataDir,
        settings,
        inference: config.inference,
        activate: flags.activate,
        onProgress: (p) => (progress ? progress.update(p.stage, p.done, p.total) : console.log(progressLine(p))),
      }).finally(() => progress?.stop());
    } catch (err) {
      if (json) console.log(errorLine((err as Error).message));
      throw err;
    }
    if (json) {
      console.log(resultLine(id, result, flags.activate !== false));
      return;
    }
    const m = result.manifest;
    for (const s of m.goldenSamples.skipped) console.error(`skipped ${s.name}: ${s.reason}`);
    console.log(
      `enrolled ${id} ${result.version}${flags.activate === false ? '' : ' (active)'}: ${m.goldenSamples.count} golden samples, ` +
        `memory bank ${m.coreset.size} x ${m.featureDim}, image threshold ${fmt(m.thresholds.image)} ` +
        `(held-out good scores ${fmt(m.calibration.imageScores?.min ?? NaN)}..${fmt(m.calibration.imageScores?.max ?? NaN)}) in ${result.dir}`,
    );
    const c = m.calibration;
    const chosen = c.method ? c.choices?.[c.method] : undefined;
    const target = c.method === 'cutswap' ? `, target ${fmt((c.targetFrr ?? NaN) * 100, 2)} %` : '';
    const missed = chosen?.expectedMiss == null ? 'no synthetic negatives were made' : `misses ${fmt(chosen.expectedMiss * 100, 1)} % of ${c.negatives?.count} synthetic ${c.negatives?.method} negatives`;
    console.log(`reject threshold (${c.method}${target}): expected false rejects ${fmt((chosen?.expectedFrr ?? NaN) * 100, 2)} % of good parts; ${missed}`);
    for (const note of m.notes ?? []) console.log(`note: ${note}`);
    if (m.alignment) {
      const a = m.alignment;
      console.log(
        `alignment (stn, ${a.loss} loss): ${a.steps} steps in ${fmt(a.trainSeconds, 1)} s (${a.backend}), reference ${a.reference}; ` +
          `SSIM restored vs canonical ${fmt(a.ssim.train, 3)} train / ${fmt(a.ssim.validation, 3)} held-out (ms-SSIM ${fmt(a.msSsim.train, 3)} / ${fmt(a.msSsim.validation, 3)})` +
          (a.posedViews ? `; ${a.posedViews} posed view${a.posedViews === 1 ? '' : 's'} of each golden sample in the Gaussians` : ''),
      );
    }
    if (m.adaptation) {
      const a = m.adaptation;
      console.log(`feature adaptation (${a.method}): ${a.samples} samples, ${a.epochs} epochs in ${fmt(a.trainSeconds, 1)} s (${a.backend}), training accuracy ${fmt(a.accuracy * 100, 1)} %`);
    }
    if (m.attachments?.includes(CONTACT_SHEET_FILE)) console.log(`synthetic negatives and saliency maps: ${join(result.dir, CONTACT_SHEET_FILE)}`);
  });

  program
    .command('score')
    .description('score images against an enrolled product')
    .requiredOption('--product <id>', 'product id')
    .argument('<images...>', 'image files')
    .option('--version <v>', 'product version (default: the active one)')
    .option('--json', 'print one JSON object per image')
    .option('--heatmap <dir>', 'write heatmap overlays and masks as PNG into this folder')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(async (images: string[], flags) => {
      const config = await deviceConfig(flags);
      const scorer = await ProductScorer.load(config.dataDir, productId(flags.product), config.inference, flags.version);
      if (flags.heatmap) await mkdir(flags.heatmap, { recursive: true });
      let failed = 0;
      for (const path of images) {
        let image;
        try {
          image = await readImage(path, scorer.inputSize);
        } catch (err) {
          if (!(err instanceof ImageReadError)) throw err;
          failed++;
          console.error(`cannot score ${err.message}`);
          continue;
        }
        const r = await scorer.score(image);
        if (flags.heatmap) {
          const { width, height } = scorer.inputSize;
          const stem = basename(path, extname(path));
          await writeFile(join(flags.heatmap, `${stem}_heatmap.png`), await overlayPng(r.image, r.map, r.mask, width, height, scorer.manifest.thresholds.pixel));
          await writeFile(join(flags.heatmap, `${stem}_mask.png`), await maskPng(r.mask, width, height));
        }
        if (flags.json) {
          const { timings, score, threshold, verdict, regions } = r;
          console.log(JSON.stringify({ file: path, product: scorer.manifest.productId, modelVersion: scorer.manifest.version, score, threshold, verdict, regions, ...(r.pose ? { pose: r.pose } : {}), timings: { ...timings, alignMs: r.alignMs } }));
        } else {
          console.log(`${path}  score ${fmt(r.score)}  threshold ${fmt(r.threshold)}  ${r.verdict.toUpperCase()}  regions ${r.regions.length}  ${fmt(r.timings.totalMs, 1)} ms`);
        }
      }
      if (failed > 0) process.exitCode = 1;
    });

  addEnrollSettingFlags(
    program
      .command('eval')
      .description('enroll and evaluate every category of an MVTec-layout dataset')
      .requiredOption('--dataset <root>', 'dataset root (<category>/train/good, <category>/test/<type>, <category>/ground_truth/<type>)')
      .option('--categories <a,b>', 'only these categories')
      .option('--refine <modes>', `mask stage(s) to measure, comma separated: ${EVAL_STAGES.join(', ')} (the first fills the main table)`, 'none')
      .option('--json <file>', 'write the report as JSON')
      .option('--data-dir <dir>', 'keep the enrolled products here (default: a temporary folder)')
      .option('--config <file>', 'device config file'),
  ).action(async (flags) => {
    const config = await loadDeviceConfig(flags.config);
    // --align stn,none evaluates the same data with each; the first fills the main table.
    const aligns: string[] = flags.align ? String(flags.align).split(',').map((s: string) => s.trim()).filter(Boolean) : [];
    const settings = enrollSettings(config, { ...flags, align: aligns[0] });
    const variants = aligns.slice(1).map((align) => enrollSettings(config, { ...flags, align }));
    const refine = String(flags.refine).split(',').map((s) => s.trim()).filter(Boolean);
    for (const mode of refine) {
      if (!(EVAL_STAGES as readonly string[]).includes(mode)) throw new ConfigError(`--refine "${mode}": use ${EVAL_STAGES.join(', ')}`);
    }
    const progress = createProgress();
    const categories = flags.categories ? String(flags.categories).split(',').map((s: string) => s.trim()).filter(Boolean) : undefined;
    const columns = ['imageAUROC', 'pixelAUROC', 'aupro', 'f1max', 'iou', 'dice', 'frr', 'recall', 'msPerImage'] as const;
    const row = (name: string, m: CategoryMetrics) =>
      [name.padEnd(14), ...columns.map((c) => (c === 'msPerImage' ? fmt(m[c], 1) : fmt(m[c]))).map((s) => s.padStart(10))].join(' ');
    const evaluate = (s: EnrollSettings) =>
      evaluateDataset(flags.dataset, categories, {
        settings: s,
        inference: config.inference,
        refine: refine as EvalStage[],
        refineSettings: config.refine,
        dataDir: flags.dataDir,
        onProgress: (cat, stage, done, total) => progress.update(`${cat} ${stage}${aligns.length > 1 ? ` (align ${s.align})` : ''}`, done, total),
      });
    let report: EvalReport & { alignments?: Record<string, { categories: Record<string, CategoryMetrics>; mean: CategoryMetrics }> };
    try {
      report = await evaluate(settings);
      if (variants.length > 0) {
        report.alignments = { [settings.align]: { categories: report.categories, mean: report.mean } };
        for (const v of variants) {
          const r = await evaluate(v);
          report.alignments[v.align] = { categories: r.categories, mean: r.mean };
        }
      }
    } finally {
      progress.stop();
    }
    console.log(['category'.padEnd(14), ...columns.map((c) => c.padStart(10))].join(' '));
    for (const [name, m] of Object.entries(report.categories)) console.log(row(name, m));
    console.log(row('mean', report.mean));
    if (refine.length > 1 || refine[0] !== 'none') {
      console.log(`\nmasks by refinement (mean over categories)`);
      console.log(['refine'.padEnd(14), 'iou', 'dice', 'fpPixels%', 'msPerRefine'].map((c, i) => (i ? c.padStart(12) : c)).join(' '));
      for (const [mode, stage] of Object.entries(report.stages)) {
        const m = stage!.mean;
        console.log([mode.padEnd(14), fmt(m.iou), fmt(m.dice), fmt(m.fpPixelRate * 100, 3), fmt(m.msPerRefine, 1)].map((c, i) => (i ? c.padStart(12) : c)).join(' '));
      }
    }
    const methods = Object.entries(report.calibrations);
    if (methods.length > 0) {
      console.log(`\nreject threshold by calibration (mean over categories; ${settings.calibrate} is the product's)`);
      console.log(['calibrate'.padEnd(14), 'frr%', 'recall%', 'expectedFrr%', 'expectedMiss%'].map((c, i) => (i ? c.padStart(13) : c)).join(' '));
      for (const [method, c] of methods) {
        const m = c!.mean;
        console.log([method.padEnd(14), fmt(m.frr * 100, 2), fmt(m.recall * 100, 1), fmt(m.expectedFrr * 100, 2), fmt(m.expectedMiss * 100, 1)].map((v, i) => (i ? v.padStart(13) : v)).join(' '));
      }
    }
    if (report.alignments) {
      const names = Object.keys(report.categories);
      console.log(`\nimage AUROC by alignment (scorer ${settings.scorer})`);
      console.log(['align'.padEnd(8), ...names.map((n) => n.padStart(14)), 'mean'.padStart(8)].join(' '));
      for (const [align, r] of Object.entries(report.alignments)) console.log([align.padEnd(8), ...names.map((n) => fmt(r.categories[n]!.imageAUROC).padStart(14)), fmt(r.mean.imageAUROC).padStart(8)].join(' '));
    }
    if (flags.json) await writeFile(flags.json, `${JSON.stringify(report, null, 2)}\n`);
  });

  program
    .command('run')
    .description('score live cameras and publish results and reject signals over MQTT (stops on SIGTERM / Ctrl-C)')
    .requiredOption('--config <file>', 'device config file (YAML or JSON) with mqtt, cameras, ...')
    .option('--data-dir <dir>', 'device data folder (overrides the config)')
    .action(async (flags) => {
      const config = await deviceConfig(flags);
      const runtime = await DeviceRuntime.start(config);
      console.error(
        `linesight: scoring ${config.cameras.map((c) => `${c.id} (${c.product})`).join(', ')}; ` +
          `MQTT ${runtime.brokerUrl} topics ${config.mqtt.prefix}/${config.mqtt.deviceId}/#` +
          (runtime.healthUrl ? `; ${config.http.ui ? `web UI ${runtime.healthUrl}/, ` : ''}health ${runtime.healthUrl}/health` : ''),
      );
      await stopOnSignal(() => runtime.stop());
    });

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
    .action(async (flags) => {
      const config = await loadDeviceConfig(flags.config);
      const count = numberFlag('--count', flags.count, { integer: true, min: 1 });
      const minIntervalMs = flags.interval === undefined ? undefined : numberFlag('--interval', flags.interval, { min: 0 });
      const minChange = flags.minChange === undefined ? undefined : numberFlag('--min-change', flags.minChange, { min: 0, max: 1 });
      const timeoutMs = flags.timeout === undefined ? undefined : numberFlag('--timeout', flags.timeout, { min: 0, exclusiveMin: true }) * 1000;
      const station = config.cameras.find((c) => c.id === flags.camera);
      if (!station) {
        const where = flags.config ? `in ${flags.config}` : '(no --config given)';
        throw new ConfigError(
          config.cameras.length > 0
            ? `--camera "${flags.camera}": no such camera ${where}; configured cameras: ${config.cameras.map((c) => c.id).join(', ')}`
            : `--camera "${flags.camera}": no cameras are configured ${where}; add the camera under "cameras" (id, url, product)`,
        );
      }
      const camera = new FfmpegCamera(station);
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
      console.error(`capturing ${count} golden samples of ${station.product} from camera ${station.id} (${redactUrl(station.url)}) into ${flags.out}: let good parts pass the camera (Ctrl-C stops and keeps what was saved)`);
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
          throw new CaptureError(`camera ${station.id} sent no frame: ${failure}; ${err.message}`);
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
      console.log(`next: look through them, delete any bad part, then: linesight enroll --product ${station.product} --images ${flags.out}`);
    });

  program
    .command('products')
    .description('list the enrolled products with their active version')
    .option('--data-dir <dir>', 'device data folder (default from config, else ./.linesight)')
    .option('--config <file>', 'device config file')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const config = await deviceConfig(flags);
      const products = await listProductSummaries(config.dataDir);
      if (flags.json) {
        console.log(JSON.stringify(products));
        return;
      }
      if (products.length === 0) {
        console.log(`no products enrolled in ${config.dataDir}; enroll one with: linesight enroll --product <id> --images <folder>`);
        return;
      }
      printTable(['product', 'active', 'versions'], products.map((p) => [p.product, p.active ?? '(none)', String(p.versions)]));
    });

  program
    .command('versions')
    .description('list the versions of a product: golden samples, threshold, expected false rejects, alignment, contact sheets')
    .requiredOption('--product <id>', 'product id')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .option('--json', 'print JSON')
    .action(async (flags) => {
      const config = await deviceConfig(flags);
      const id = productId(flags.product);
      const versions = await listProductVersions(config.dataDir, id);
      if (versions.length === 0) throw new ProductVersionError(`product "${id}" is not enrolled in ${config.dataDir}; run: linesight enroll --product ${id} --images <folder>`);
      if (flags.json) {
        console.log(JSON.stringify(versions));
        return;
      }
      printTable(
        ['version', 'active', 'created', 'golden', 'threshold', 'exp.FRR%', 'STN SSIM', 'attachments'],
        versions.map((v) => [
          v.version,
          v.active ? '*' : '',
          v.createdAt ? v.createdAt.slice(0, 16).replace('T', ' ') : '-',
          String(v.goldenSamples),
          fmt(v.imageThreshold),
          v.calibration.expectedFrr === null ? '-' : fmt(v.calibration.expectedFrr * 100, 2),
          v.alignment ? fmt(v.alignment.ssim) : '-',
          v.error ? `DAMAGED: ${v.error}` : v.attachments.join(', ') || '-',
        ]),
      );
    });

  program
    .command('activate')
    .description('make a version of a product active (verified first; a running linesight swaps to it between two frames)')
    .requiredOption('--product <id>', 'product id')
    .requiredOption('--version <v>', 'version, e.g. v3')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(async (flags) => {
      const config = await deviceConfig(flags);
      const id = productId(flags.product);
      const r = await activateProductVersion(config.dataDir, id, flags.version);
      console.log(r.from === r.to ? `${id} ${r.to} is already active (verified)` : `${id}: ${r.to} is active (was ${r.from ?? 'none'}); a running linesight switches to it within ${config.productPollMs / 1000} s`);
    });

  program
    .command('rollback')
    .description('activate the newest version older than the active one that loads')
    .requiredOption('--product <id>', 'product id')
    .option('--data-dir <dir>', 'device data folder')
    .option('--config <file>', 'device config file')
    .action(async (flags) => {
      const config = await deviceConfig(flags);
      const id = productId(flags.product);
      const r = await rollbackProduct(config.dataDir, id);
      for (const s of r.skipped) console.error(`passed over ${s.version}: ${s.reason}`);
      console.log(`${id}: rolled back from ${r.from} to ${r.to}; a running linesight switches to it within ${config.productPollMs / 1000} s`);
    });

  return program;
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

const knownErrors = [ConfigError, EnrollError, ArtifactError, ImageReadError, EmbeddedBrokerError, HealthServerError, PublisherError, OutboxError, CaptureError, ProductVersionError];

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (knownErrors.some((E) => err instanceof E)) {
      console.error(`linesight: ${(err as Error).message}`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

await main();
