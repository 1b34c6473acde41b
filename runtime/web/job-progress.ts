/**
 * Progress of a long job (an enrollment) as the pages show it: one entry per
 * stage, in order, with its own ETA from the pace of the stage so far.
 */
export interface StageProgress {
  stage: string;
  done: number;
  total: number;
  startedAt: number;
  updatedAt: number;
  finished: boolean;
  /** Seconds left in this stage at its pace so far; null before the first step. */
  etaSeconds: number | null;
}

/** Seconds left at the pace so far, or null when there is no pace yet. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | null {
  if (done <= 0 || elapsedMs <= 0) return null;
  if (done >= total) return 0;
  return Math.round(((elapsedMs / done) * (total - done)) / 100) / 10;
}

/** The stage list after one progress update: a new stage finishes the ones before it. */
export function advanceStages(stages: StageProgress[], update: { stage: string; done: number; total: number }, now: number): StageProgress[] {
  const last = stages.at(-1);
  if (last && last.stage === update.stage) {
    const finished = update.done >= update.total;
    const updated: StageProgress = { ...last, done: update.done, total: update.total, updatedAt: now, finished, etaSeconds: etaSeconds(update.done, update.total, now - last.startedAt) };
    return [...stages.slice(0, -1), updated];
  }
  const closed = stages.map((s) => (s.finished ? s : { ...s, done: s.total, finished: true, etaSeconds: 0 }));
  return [...closed, { stage: update.stage, done: update.done, total: update.total, startedAt: now, updatedAt: now, finished: update.done >= update.total, etaSeconds: null }];
}
