/**
 * A product update's stages and how it reports them, for the programs that
 * run one: `linesight update --progress json` prints one JSON object per line
 * on stdout — `{"event":"progress","stage","done","total"}` per update, then
 * `{"event":"result",...}` (the new version and the replay of every reviewed
 * record on the active version and the new one) or `{"event":"error","message"}`.
 * The device's web UI runs the command as a child process and shows the
 * stages with the labels below and the replay as a table beside the records.
 */

/** Every stage of an update, in order, with what people see: the one list the trainer runs and the pages show. */
export const UPDATE_STAGES = [
  { id: 'features', label: 'Extracting features of the parts marked good' },
  { id: 'model', label: 'Topping up the memory bank' },
  { id: 'calibrate', label: 'Recalibrating the reject threshold' },
  { id: 'write', label: 'Saving the new version' },
  { id: 'replay', label: 'Replaying the reviewed parts' },
] as const;

export type UpdateStage = (typeof UPDATE_STAGES)[number]['id'];

export interface UpdateProgress {
  stage: UpdateStage;
  done: number;
  total: number;
}

export type ReplayGroup = 'good' | 'defects' | 'missed';
export type ReplayVerdict = 'ok' | 'reject';

export interface ReplayCountsLine {
  goodPass: number;
  defectReject: number;
  missedReject: number;
}

/** One reviewed record as both versions judge it. */
export interface ReplayRecordLine {
  group: ReplayGroup;
  /** The kept record the image came from (absent for image files given by path). */
  recordId: number | null;
  partId: string | null;
  path: string;
  type: string | null;
  active: { score: number; threshold: number; verdict: ReplayVerdict };
  candidate: { score: number; threshold: number; verdict: ReplayVerdict };
}

export interface UpdateResultLine {
  event: 'result';
  product: string;
  /** The new version (written, not active). */
  version: string;
  /** The active version it was built from. */
  updatedFrom: string;
  /** Wall time from the verdicts to the replayed candidate. */
  seconds: number;
  bankRowsAdded: number;
  thresholds: { before: number; after: number; how: 'recalibrated' | 'kept' };
  replay: { totals: Record<ReplayGroup, number>; active: ReplayCountsLine; candidate: ReplayCountsLine; records: ReplayRecordLine[] };
  notes: string[];
}

export interface UpdateProgressLine extends UpdateProgress {
  event: 'progress';
}

export interface UpdateErrorLine {
  event: 'error';
  message: string;
}

export type UpdateLine = UpdateProgressLine | UpdateResultLine | UpdateErrorLine;

export function updateProgressLine(p: UpdateProgress): string {
  return JSON.stringify({ event: 'progress', stage: p.stage, done: p.done, total: p.total } satisfies UpdateProgressLine);
}

export function updateErrorLine(message: string): string {
  return JSON.stringify({ event: 'error', message } satisfies UpdateErrorLine);
}

/** One line of the output, or undefined for anything that is not a line of this format. */
export function parseUpdateLine(text: string): UpdateLine | undefined {
  if (!text.startsWith('{')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const event = (value as { event?: unknown })?.event;
  return event === 'progress' || event === 'result' || event === 'error' ? (value as UpdateLine) : undefined;
}
