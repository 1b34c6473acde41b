/**
 * `linesight enroll`: learn a product from a folder of golden samples and
 * write a new version of it, with progress bars for people or JSON lines
 * for a program (the web UI runs enrollments this way).
 */
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { errorLine, progressLine, resultLine, type EnrollResult } from '../../product/enrollment-progress.ts';
import { CONTACT_SHEET_FILE, enrollProduct } from '../../trainer/enroll.ts';
import { deviceConfig, productId, type DeviceFlags } from '../device-flags.ts';
import { fmt } from '../format.ts';
import { createProgress } from '../progress.ts';
import { addEnrollSettingFlags, enrollSettingsFromFlags } from '../setting-flags.ts';

interface EnrollFlags extends DeviceFlags, Record<string, unknown> {
  product: string;
  images: string;
  activate: boolean;
  progress: 'bar' | 'json';
}

export function addEnrollCommand(program: Command): void {
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
  ).action(enroll);
}

async function enroll(flags: EnrollFlags): Promise<void> {
  const json = flags.progress === 'json';
  let result: EnrollResult;
  let id: string;
  try {
    const config = await deviceConfig(flags);
    const settings = enrollSettingsFromFlags(config.enroll, flags);
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
  if (json) console.log(resultLine(id, result, flags.activate !== false));
  else printEnrollment(id, result, flags.activate !== false);
}

/** What the reject threshold was fitted to: held-out good scores, as captured and under camera jitter. */
export function calibrationLine(c: EnrollResult['manifest']['calibration']): string {
  const j = c.jitter;
  if (!j) return `calibration: ${c.heldOut} held-out golden samples as captured (no camera jitter)`;
  const r = j.ranges;
  return (
    `calibration: ${j.scores} good scores from ${c.heldOut} held-out golden samples x (1 + ${j.views} camera-jittered views: ` +
    `+-${fmt(r.rotation, 1)} deg, +-${fmt(r.zoom * 100, 1)} % zoom, +-${fmt(r.shift * 100, 1)} % shift, +-${fmt(r.gain * 100, 1)} % gain, +-${fmt(r.offset, 1)} offset, noise <= ${fmt(r.noise, 1)})`
  );
}

/** What a technician wants to know about a finished enrollment. */
function printEnrollment(id: string, result: EnrollResult, activated: boolean): void {
  const m = result.manifest;
  for (const s of m.goldenSamples.skipped) console.error(`skipped ${s.name}: ${s.reason}`);
  console.log(
    `enrolled ${id} ${result.version}${activated ? ' (active)' : ''}: ${m.goldenSamples.count} golden samples, ` +
      `memory bank ${m.coreset.size} x ${m.featureDim}, image threshold ${fmt(m.thresholds.image)} ` +
      `(held-out good scores ${fmt(m.calibration.imageScores?.min ?? NaN)}..${fmt(m.calibration.imageScores?.max ?? NaN)}) in ${result.dir}`,
  );
  const c = m.calibration;
  const chosen = c.method ? c.choices?.[c.method] : undefined;
  const target = c.method === 'cutswap' ? `, target ${fmt((c.targetFrr ?? NaN) * 100, 2)} %` : '';
  const missed = chosen?.expectedMiss == null ? 'no synthetic negatives were made' : `misses ${fmt(chosen.expectedMiss * 100, 1)} % of ${c.negatives?.count} synthetic ${c.negatives?.method} negatives`;
  console.log(`reject threshold (${c.method}${target}): expected false rejects ${fmt((chosen?.expectedFrr ?? NaN) * 100, 2)} % of good parts; ${missed}`);
  console.log(calibrationLine(c));
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
}
