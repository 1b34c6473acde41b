/**
 * `linesight eval`: enroll and evaluate every category of an MVTec-layout
 * dataset, then print the metrics by category, by mask refinement, by
 * calibration method and (with `--align stn,none`) by alignment.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EnrollSettings } from '../../config/enroll.ts';
import { ConfigError } from '../../config/errors.ts';
import { loadDeviceConfig } from '../../config/load.ts';
import { defectTypeTable, frrPromiseTable } from '../../eval/report.ts';
import { EVAL_STAGES, evaluateDataset, type CategoryMetrics, type EvalReport, type EvalStage } from '../../eval/evaluate.ts';
import { fmt } from '../format.ts';
import { createProgress } from '../progress.ts';
import { addEnrollSettingFlags, enrollSettingsFromFlags } from '../setting-flags.ts';

interface EvalFlags extends Record<string, unknown> {
  dataset: string;
  categories?: string;
  refine: string;
  json?: string;
  dataDir?: string;
  config?: string;
  align?: string;
}

type AlignmentReport = Record<string, { categories: Record<string, CategoryMetrics>; mean: CategoryMetrics }>;
type EvalReportWithAlignments = EvalReport & { alignments?: AlignmentReport };

export function addEvalCommand(program: Command): void {
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
  ).action(evaluate);
}

const commaList = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);

function refineStages(value: string): EvalStage[] {
  const stages = commaList(value);
  for (const mode of stages) {
    if (!(EVAL_STAGES as readonly string[]).includes(mode)) throw new ConfigError(`--refine "${mode}": use ${EVAL_STAGES.join(', ')}`);
  }
  return stages as EvalStage[];
}

async function evaluate(flags: EvalFlags): Promise<void> {
  const config = await loadDeviceConfig(flags.config);
  // --align stn,none evaluates the same data with each; the first fills the main table.
  const aligns = flags.align ? commaList(String(flags.align)) : [];
  const settings = enrollSettingsFromFlags(config.enroll, { ...flags, align: aligns[0] });
  const variants = aligns.slice(1).map((align) => enrollSettingsFromFlags(config.enroll, { ...flags, align }));
  const refine = refineStages(String(flags.refine));
  const progress = createProgress();
  const categories = flags.categories ? commaList(String(flags.categories)) : undefined;
  const run = (s: EnrollSettings) =>
    evaluateDataset(flags.dataset, categories, {
      settings: s,
      inference: config.inference,
      refine,
      refineSettings: config.refine,
      dataDir: flags.dataDir,
      backboneDir: config.dataDir,
      onProgress: (cat, stage, done, total) => progress.update(`${cat} ${stage}${aligns.length > 1 ? ` (align ${s.align})` : ''}`, done, total),
    });
  let report: EvalReportWithAlignments;
  try {
    report = await run(settings);
    if (variants.length > 0) {
      report.alignments = { [settings.align]: { categories: report.categories, mean: report.mean } };
      for (const v of variants) {
        const r = await run(v);
        report.alignments[v.align] = { categories: r.categories, mean: r.mean };
      }
    }
  } finally {
    progress.stop();
  }
  printReport(report, refine, settings);
  if (flags.json) await writeFile(flags.json, `${JSON.stringify(report, null, 2)}\n`);
}

function printReport(report: EvalReportWithAlignments, refine: EvalStage[], settings: EnrollSettings): void {
  printCategories(report);
  const byType = defectTypeTable(report);
  if (byType.length > 0) console.log(['', ...byType].join('\n'));
  console.log(['', ...frrPromiseTable(report)].join('\n'));
  if (refine.length > 1 || refine[0] !== 'none') printRefinements(report);
  if (Object.keys(report.calibrations).length > 0) printCalibrations(report, settings);
  if (report.alignments) printAlignments(report.alignments, Object.keys(report.categories), settings);
}

function printCategories(report: EvalReport): void {
  const columns = ['imageAUROC', 'pixelAUROC', 'aupro', 'f1max', 'iou', 'dice', 'frr', 'recall', 'msPerImage'] as const;
  const row = (name: string, m: CategoryMetrics) =>
    [name.padEnd(14), ...columns.map((c) => (c === 'msPerImage' ? fmt(m[c], 1) : fmt(m[c]))).map((s) => s.padStart(10))].join(' ');
  console.log(['category'.padEnd(14), ...columns.map((c) => c.padStart(10))].join(' '));
  for (const [name, m] of Object.entries(report.categories)) console.log(row(name, m));
  console.log(row('mean', report.mean));
}

function printRefinements(report: EvalReport): void {
  console.log(`\nmasks by refinement (mean over categories)`);
  console.log(['refine'.padEnd(14), 'iou', 'dice', 'fpPixels%', 'msPerRefine'].map((c, i) => (i ? c.padStart(12) : c)).join(' '));
  for (const [mode, stage] of Object.entries(report.stages)) {
    const m = stage!.mean;
    console.log([mode.padEnd(14), fmt(m.iou), fmt(m.dice), fmt(m.fpPixelRate * 100, 3), fmt(m.msPerRefine, 1)].map((c, i) => (i ? c.padStart(12) : c)).join(' '));
  }
}

function printCalibrations(report: EvalReport, settings: EnrollSettings): void {
  console.log(`\nreject threshold by calibration (mean over categories; ${settings.calibrate} is the product's)`);
  console.log(['calibrate'.padEnd(14), 'frr%', 'recall%', 'expectedFrr%', 'expectedMiss%'].map((c, i) => (i ? c.padStart(13) : c)).join(' '));
  for (const [method, c] of Object.entries(report.calibrations)) {
    const m = c!.mean;
    console.log([method.padEnd(14), fmt(m.frr * 100, 2), fmt(m.recall * 100, 1), fmt(m.expectedFrr * 100, 2), fmt(m.expectedMiss * 100, 1)].map((v, i) => (i ? v.padStart(13) : v)).join(' '));
  }
}

function printAlignments(alignments: AlignmentReport, names: string[], settings: EnrollSettings): void {
  console.log(`\nimage AUROC by alignment (scorer ${settings.scorer})`);
  console.log(['align'.padEnd(8), ...names.map((n) => n.padStart(14)), 'mean'.padStart(8)].join(' '));
  for (const [align, r] of Object.entries(alignments)) console.log([align.padEnd(8), ...names.map((n) => fmt(r.categories[n]!.imageAUROC).padStart(14)), fmt(r.mean.imageAUROC).padStart(8)].join(' '));
}
