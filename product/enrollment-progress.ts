/**
 * `linesight enroll --progress json`: one JSON object per line on stdout, for
 * programs that run an enrollment (the web UI runs it as a child process):
 * `{"event":"progress","stage","done","total"}` per update, then
 * `{"event":"result",...}` or `{"event":"error","message"}`.
 */
import type { ManifestDraft } from './artifact.ts';

export type EnrollStage = 'load' | 'align' | 'features' | 'negatives' | 'adapt' | 'coreset' | 'calibrate' | 'write';

export interface EnrollProgress {
  stage: EnrollStage;
  done: number;
  total: number;
}

/** What an enrollment wrote. */
export interface EnrollResult {
  version: string;
  dir: string;
  manifest: ManifestDraft;
}

export interface EnrollProgressLine extends EnrollProgress {
  event: 'progress';
}

export interface EnrollResultLine {
  event: 'result';
  product: string;
  version: string;
  dir: string;
  activated: boolean;
  goldenSamples: number;
  skipped: { name: string; reason: string }[];
  imageThreshold: number;
  calibration: { method: string | null; targetFrr: number | null; expectedFrr: number | null; expectedMiss: number | null; negatives: number };
  alignment: { ssim: number; msSsim: number; trainSeconds: number } | null;
  attachments: string[];
  notes: string[];
}

export interface EnrollErrorLine {
  event: 'error';
  message: string;
}

export type EnrollLine = EnrollProgressLine | EnrollResultLine | EnrollErrorLine;

export function progressLine(p: EnrollProgress): string {
  return JSON.stringify({ event: 'progress', stage: p.stage, done: p.done, total: p.total } satisfies EnrollProgressLine);
}

export function resultLine(productId: string, result: EnrollResult, activated: boolean): string {
  const m = result.manifest;
  const c = m.calibration;
  const chosen = c.method ? c.choices?.[c.method] : undefined;
  const line: EnrollResultLine = {
    event: 'result',
    product: productId,
    version: result.version,
    dir: result.dir,
    activated,
    goldenSamples: m.goldenSamples.count,
    skipped: m.goldenSamples.skipped,
    imageThreshold: m.thresholds.image,
    calibration: {
      method: c.method ?? null,
      targetFrr: c.targetFrr ?? null,
      expectedFrr: chosen?.expectedFrr ?? null,
      expectedMiss: chosen?.expectedMiss ?? null,
      negatives: c.negatives?.count ?? 0,
    },
    alignment: m.alignment ? { ssim: m.alignment.ssim.validation, msSsim: m.alignment.msSsim.validation, trainSeconds: m.alignment.trainSeconds } : null,
    attachments: m.attachments ?? [],
    notes: m.notes ?? [],
  };
  return JSON.stringify(line);
}

export function errorLine(message: string): string {
  return JSON.stringify({ event: 'error', message } satisfies EnrollErrorLine);
}

/** One line of the output, or undefined for anything that is not a line of this format. */
export function parseEnrollLine(text: string): EnrollLine | undefined {
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const event = (value as { event?: unknown })?.event;
  return event === 'progress' || event === 'result' || event === 'error' ? (value as EnrollLine) : undefined;
}
