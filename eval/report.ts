/**
 * Printable tables of an evaluation report for the terminal, kept next to the
 * report they print so every command that shows one prints the same thing.
 */
import type { EvalReport } from './evaluate.ts';

const num = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** Lines with columns padded to their widest cell (two spaces apart; the first column left-aligned, the rest right-aligned). */
export function alignColumns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd());
}

/**
 * Image AUROC and recall (at the calibrated threshold, in %) per defect type:
 * one row per category and one for the mean, one column per defect type
 * ("0.912 / 58.3"); a type a category lacks shows "-".
 */
export function defectTypeTable(report: Pick<EvalReport, 'categories' | 'mean'>): string[] {
  const types = [...new Set(Object.values(report.categories).flatMap((m) => Object.keys(m.byType ?? {})))].sort();
  if (types.length === 0) return [];
  const cells = (byType: EvalReport['mean']['byType'] | undefined) =>
    types.map((t) => {
      const m = byType?.[t];
      return m ? `${num(m.imageAUROC, 3)} / ${num(m.recall * 100, 1)}` : '-';
    });
  const rows = [
    ['category', ...types],
    ...Object.entries(report.categories).map(([name, m]) => [name, ...cells(m.byType)]),
    ['mean', ...cells(report.mean.byType)],
  ];
  return ['image AUROC / recall % at the calibrated threshold, by defect type', ...alignColumns(rows)];
}

/**
 * Whether calibration keeps its promise on the unseen good test parts: per
 * category the target false-reject rate, the one measured at the calibrated
 * threshold, their ratio, whether it is within 2x, and recall at that threshold.
 */
export function frrPromiseTable(report: Pick<EvalReport, 'categories' | 'mean'>): string[] {
  const cells = (m: EvalReport['mean']) => [
    num(m.targetFrr * 100, 2),
    num(m.frr * 100, 2),
    num(m.frrRatio, 1),
    Number.isFinite(m.frrWithin2x) ? (m.frrWithin2x === 1 ? 'yes' : m.frrWithin2x === 0 ? 'no' : `${num(m.frrWithin2x * 100, 0)} %`) : '-',
    num(m.recall * 100, 1),
    `${num(m.calibrationScores, 0)} (${num(m.calibrationViews, 0)} views)`,
  ];
  const rows = [
    ['category', 'targetFrr%', 'frr%', 'ratio', 'within 2x', 'recall%', 'held-out scores'],
    ...Object.entries(report.categories).map(([name, m]) => [name, ...cells(m)]),
    ['mean', ...cells(report.mean)],
  ];
  return ['false rejects of unseen good parts against the calibration target', ...alignColumns(rows)];
}
