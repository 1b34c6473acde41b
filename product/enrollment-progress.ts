/**
 * An enrollment's stages and how it reports them. ENROLL_STAGES is the one
 * stage list: the trainer runs it, the web UI shows its labels.
 * `linesight enroll --progress json`: one JSON object per line on stdout, for
 * programs that run an enrollment (the web UI runs it as a child process):
 * `{"event":"progress","stage","done","total"}` per update, then
 * `{"event":"result",...}` or `{"event":"error","message"}`.
 */
import type { ManifestDraft } from './artifact.ts';

/** The settings that decide which stages an enrollment goes through. */
export interface StagePlanSettings {
  align: string;
  adapt: string;
}

/** One stage of an enrollment: its id in progress lines, what people see, whether these settings run it. */
export interface EnrollStageInfo {
  id: string;
  label: string;
  runs: (settings: StagePlanSettings) => boolean;
}

const always = () => true;
const adapting = (s: StagePlanSettings) => s.adapt !== 'none';

/** Every stage an enrollment can go through, in order: the one list the trainer runs and the pages show. */
export const ENROLL_STAGES = [
  { id: 'load', label: 'Reading golden samples', runs: always },
  { id: 'align', label: 'Training pose alignment', runs: (s) => s.align !== 'none' },
  { id: 'features', label: 'Extracting features', runs: always },
  { id: 'negatives', label: 'Making synthetic defects', runs: adapting },
  { id: 'adapt', label: 'Adapting features', runs: adapting },
  { id: 'coreset', label: 'Building the memory bank', runs: always },
  { id: 'calibrate', label: 'Calibrating the reject threshold', runs: always },
  { id: 'write', label: 'Saving the new version', runs: always },
] as const satisfies readonly EnrollStageInfo[];

export type EnrollStage = (typeof ENROLL_STAGES)[number]['id'];

/** A stage an enrollment will go through, as the pages list it. */
export interface PlannedStage {
  id: EnrollStage;
  label: string;
}

/** The stages an enrollment goes through with these settings, in order. */
export function plannedStages(settings: StagePlanSettings): PlannedStage[] {
  return ENROLL_STAGES.filter((stage) => stage.runs(settings)).map(({ id, label }) => ({ id, label }));
}

/** The ids of the stages an enrollment goes through with these settings, in order. */
export function enrollmentStages(settings: StagePlanSettings): EnrollStage[] {
  return plannedStages(settings).map((stage) => stage.id);
}

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
