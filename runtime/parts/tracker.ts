/**
 * One camera's parts: frames and triggers in, one verdict per part out, in
 * part order, each by its deadline. Pure and clock-injected: the caller passes
 * the current time to every call and calls `tick` regularly (e.g. every 20 ms
 * and after every frame); nothing here reads a clock or starts a timer.
 *
 * - `trigger` mode: each trigger opens a window (runtime/parts/trigger-window.ts);
 *   the part is decided when its window is complete.
 * - `presence` mode: parts are passages found by runtime/parts/presence.ts;
 *   a part is decided when it leaves the view. Its id is `<camera>-<firstTs>`.
 * - `frames` mode: no parts; `onFrame` says whether the frame fires a reject
 *   (runtime/parts/frame-decision.ts).
 *
 * A part is judged on its fully-in-view frames (runtime/parts/presence.ts):
 * in presence mode always; in trigger mode when thumbnails are given and the
 * empty-belt reference has been learned, otherwise on every frame of the
 * window. Their scores are aggregated (runtime/parts/aggregate.ts) and compared
 * with the threshold once.
 *
 * A part not decided by its deadline (trigger + `deadlineMs`; in presence
 * mode, the part's last frame + `deadlineMs` while it is still in view) gets
 * `no_verdict` with a reason, and its `action` is the configured fail-safe.
 * Verdicts are emitted in part order: a decided part waits for the parts ahead
 * of it. `seq` counts the camera's verdicts from 1.
 */
import type { PartsSettings } from '../../config/parts.ts';
import { aggregateScores, partVerdict } from './aggregate.ts';
import { PartCounters, type PartCountersSnapshot } from './counters.ts';
import { decideFrame, initialFrameDecisionState, type FrameDecisionState } from './frame-decision.ts';
import { PresenceDetector, fullyInView, type PresenceObservation, type Thumbnail } from './presence.ts';
import { admitAfter, offerFrame, openWindow, type PartTrigger, type PartWindow } from './trigger-window.ts';

/** Why a part got no verdict, or why its window was cut short. */
export type PartReason =
  | 'no_frames'
  | 'no_usable_frame'
  | 'camera_down'
  | 'scoring_too_slow'
  | 'product_not_enrolled'
  | 'scoring_failed'
  | 'overlapping_trigger'
  | 'out_of_order_trigger';

/** The verdict of one part; field names are the `part` topic's contract (runtime/parts/payloads.ts). */
export interface PartVerdict {
  partId: string;
  seq: number;
  camera: string;
  product: string;
  modelVersion: string | null;
  verdict: 'ok' | 'reject' | 'no_verdict';
  score: number | null;
  threshold: number | null;
  /** Frames the score was made of (fully in view, scored). */
  frames: number;
  firstTs: number | null;
  lastTs: number | null;
  decidedTs: number;
  latencyMs: number;
  reason: PartReason | null;
  /** What the PLC should do: `reject` for a reject, `pass` for ok, the fail-safe for no_verdict. */
  action: 'pass' | 'reject';
}

/** One frame as the tracker sees it, after scoring. */
export interface TrackedFrame {
  frameId: string;
  /** Arrival time of the frame. */
  ts: number;
  /** The frame's score; null when it was not scored. */
  score: number | null;
  threshold?: number;
  modelVersion?: string;
  /**
   * Why `score` is null (`not_needed`: no part wanted the frame, see
   * `needsScore`; `too_late`: the frame waited for scoring past the deadline).
   */
  unscored?: 'not_enrolled' | 'error' | 'not_needed' | 'too_late';
  /** Grey thumbnail (runtime/parts/presence.ts `makeThumbnail`); required in presence mode. */
  thumbnail?: Thumbnail;
}

export interface TrackerOptions {
  camera: string;
  product: string;
  settings: PartsSettings;
  /**
   * No frame for this long means the camera is down (for the reason of a late
   * part). Default: four times the usual interval between frames, at least 100 ms.
   */
  silenceMs?: number;
}

export interface FrameRecord {
  frame: TrackedFrame;
  obs: PresenceObservation | null;
}

interface PendingPart {
  partId: string;
  window: PartWindow | null;
  records: FrameRecord[];
  /** Time the part's latency counts from: its trigger, or the frame it left on. */
  refTs: number;
  deadlineTs: number;
  /** Set once decided; emitted when every part ahead is emitted too. */
  decided: Omit<PartVerdict, 'seq'> | null;
}

export interface TriggerOutcome {
  accepted: boolean;
  /** The trigger error this trigger caused, if any. */
  error: 'overlapping_trigger' | 'out_of_order_trigger' | 'duplicate_part_id' | null;
}

/** Shortest silence taken for a camera down, and how many usual frame intervals make one. */
const MIN_SILENCE_MS = 100;
const SILENT_INTERVALS = 4;

export class PartTracker {
  private readonly settings: PartsSettings;
  private readonly detector: PresenceDetector;
  private readonly counters = new PartCounters();
  private pending: PendingPart[] = [];
  private ready: PartVerdict[] = [];
  private seq = 0;
  private frameState: FrameDecisionState = initialFrameDecisionState;
  private lastFrameAt: number | null = null;
  /** Running average of the time between frames. */
  private frameIntervalMs: number | null = null;
  private cameraUp = true;

  constructor(private readonly options: TrackerOptions) {
    this.settings = options.settings;
    this.detector = new PresenceDetector(options.settings.presence);
  }

  get mode(): PartsSettings['mode'] {
    return this.settings.mode;
  }

  /** Tells the tracker the camera source is down or back (a late part's reason becomes `camera_down`). */
  setCameraUp(up: boolean): void {
    this.cameraUp = up;
  }

  /**
   * A trigger received at `now` (trigger mode). A refused trigger is answered
   * at once with `no_verdict` (collect it with `tick`/`onFrame`'s return or `drain`).
   */
  onTrigger(trigger: PartTrigger, now: number): TriggerOutcome {
    if (this.settings.mode !== 'trigger') throw new Error(`camera ${this.options.camera} is in ${this.settings.mode} mode and takes no triggers`);
    if (this.pending.some((p) => p.partId === trigger.partId && !p.decided)) {
      this.counters.recordTriggerError();
      return { accepted: false, error: 'duplicate_part_id' };
    }
    const window = openWindow(trigger, now, this.settings.window);
    const previous = [...this.pending].reverse().find((p) => p.window && !p.decided)?.window ?? undefined;
    const admitted = admitAfter(previous, window);
    const part: PendingPart = { partId: trigger.partId, window, records: [], refTs: now, deadlineTs: now + this.settings.deadlineMs, decided: null };
    this.pending.push(part);
    if (admitted === 'refuse') {
      this.counters.recordTriggerError();
      part.window = null;
      part.decided = this.noVerdict(part, now, 'out_of_order_trigger');
      this.flush();
      return { accepted: false, error: 'out_of_order_trigger' };
    }
    if (admitted === 'overlap') this.counters.recordTriggerError();
    return { accepted: true, error: admitted === 'overlap' ? 'overlapping_trigger' : null };
  }

  /** A scored (or unscored) frame, at `now`. Returns the verdicts now ready and, in frames mode, whether this frame fires a reject. */
  onFrame(frame: TrackedFrame, now: number): { verdicts: PartVerdict[]; frameReject: boolean } {
    if (this.lastFrameAt !== null) {
      const gap = now - this.lastFrameAt;
      this.frameIntervalMs = this.frameIntervalMs === null ? gap : 0.9 * this.frameIntervalMs + 0.1 * gap;
    }
    this.lastFrameAt = now;
    if (this.settings.mode === 'frames') return { verdicts: this.drain(), frameReject: this.decideFrameMode(frame) };
    const obs = frame.thumbnail ? this.detector.observe(frame.thumbnail) : null;
    if (this.settings.mode === 'presence') this.presenceFrame(frame, obs, now);
    else this.triggerFrame(frame, obs, now);
    return { verdicts: this.tick(now), frameReject: false };
  }

  /** Applies deadlines at `now`; returns the verdicts ready to publish, in order. */
  tick(now: number): PartVerdict[] {
    for (const part of this.pending) {
      if (part.decided || now < part.deadlineTs) continue;
      part.decided = this.noVerdict(part, now, this.lateReason(part, now));
    }
    this.flush();
    return this.drain();
  }

  /** Verdicts ready to publish, oldest first (each returned once). */
  drain(): PartVerdict[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /**
   * Whether a frame arriving at `ts` is worth scoring. In trigger mode only
   * frames inside a waiting part's window are: the others are still passed to
   * `onFrame` (unscored, `not_needed`), since they close windows and keep the
   * empty-belt reference fresh, but cost no CPU. Given the frame's
   * thumbnail, a frame that cannot be fully in view (empty, or cut by the
   * ROI border: see presence.ts) is not worth scoring either, in presence
   * mode nor in trigger mode once the empty belt is learned: it would never
   * count. Which frames are scored thus depends only on the frames and the
   * triggers, never on timing. Frames mode scores every frame.
   */
  needsScore(ts: number, thumbnail?: Thumbnail): boolean {
    if (this.settings.mode === 'presence' && thumbnail) return this.detector.mayShowPart(thumbnail);
    if (this.settings.mode !== 'trigger') return true;
    if (thumbnail && !this.detector.mayBeWhole(thumbnail)) return false;
    for (const part of this.pending) {
      const w = part.window;
      if (part.decided || !w || w.complete) continue;
      if (ts < w.startTs) return false;
      const pastEnd = (w.endTs !== null && ts >= w.endTs) || (w.cutTs !== null && ts >= w.cutTs);
      if (!pastEnd) return true;
    }
    return false;
  }

  /** Parts waiting for their verdict. */
  get waiting(): number {
    return this.pending.length;
  }

  counts(): PartCountersSnapshot {
    return this.counters.snapshot();
  }

  resetCounters(): void {
    this.counters.reset();
  }

  /** Counts a trigger error found outside the tracker (e.g. a trigger that could not be parsed). */
  recordTriggerError(): void {
    this.counters.recordTriggerError();
  }

  private decideFrameMode(frame: TrackedFrame): boolean {
    const over = frame.score !== null && frame.threshold !== undefined && frame.score >= frame.threshold;
    const out = decideFrame(this.frameState, over, this.settings.debounceFrames);
    this.frameState = out.state;
    return out.reject;
  }

  private triggerFrame(frame: TrackedFrame, obs: PresenceObservation | null, now: number): void {
    for (const part of this.pending) {
      if (part.decided || !part.window) continue;
      const wasOverlapped = part.window.overlapped;
      const offer = offerFrame(part.window, frame.ts);
      if (offer === 'take') part.records.push({ frame, obs });
      if (part.window.overlapped && !wasOverlapped) this.counters.recordTriggerError();
      if (part.window.complete) part.decided = this.judge(part, now, part.window.overlapped ? 'overlapping_trigger' : null);
      if (offer === 'take' || offer === 'before') break;
    }
    this.flush();
  }

  private presenceFrame(frame: TrackedFrame, obs: PresenceObservation | null, now: number): void {
    if (!obs) throw new Error(`camera ${this.options.camera} is in presence mode: every frame needs a thumbnail`);
    const open = this.pending.find((p) => !p.decided && !p.window);
    if (obs.event === 'enter') {
      this.pending.push({ partId: `${this.options.camera}-${frame.ts}`, window: null, records: [{ frame, obs }], refTs: frame.ts, deadlineTs: now + this.settings.deadlineMs, decided: null });
    } else if (open && obs.event === 'leave') {
      open.refTs = frame.ts;
      open.decided = this.judge(open, now, null);
    } else if (open) {
      open.records.push({ frame, obs });
      open.deadlineTs = now + this.settings.deadlineMs;
    }
    this.flush();
  }

  /** The part's verdict from its frames (its window or passage is complete). */
  private judge(part: PendingPart, now: number, cutReason: PartReason | null): Omit<PartVerdict, 'seq'> {
    const usable = usableFrames(part.records, this.settings.presence.inViewBand);
    const scored = usable.filter((r) => r.frame.score !== null && r.frame.threshold !== undefined);
    const score = aggregateScores(scored.map((r) => r.frame.score!), this.settings.aggregation);
    if (score === null) return this.noVerdict(part, now, cutReason ?? emptyReason(part.records));
    const last = scored.at(-1)!.frame;
    const verdict = partVerdict(score, last.threshold!);
    return {
      ...this.base(part, now),
      modelVersion: last.modelVersion ?? null,
      verdict,
      score,
      threshold: last.threshold!,
      frames: scored.length,
      reason: cutReason,
      action: verdict === 'reject' ? 'reject' : 'pass',
    };
  }

  private noVerdict(part: PendingPart, now: number, reason: PartReason): Omit<PartVerdict, 'seq'> {
    const modelVersion = part.records.find((r) => r.frame.modelVersion)?.frame.modelVersion ?? null;
    return { ...this.base(part, now), modelVersion, verdict: 'no_verdict', score: null, threshold: null, frames: 0, reason, action: this.settings.failSafe };
  }

  private base(part: PendingPart, now: number): Pick<PartVerdict, 'partId' | 'camera' | 'product' | 'firstTs' | 'lastTs' | 'decidedTs' | 'latencyMs'> {
    return {
      partId: part.partId,
      camera: this.options.camera,
      product: this.options.product,
      firstTs: part.records[0]?.frame.ts ?? null,
      lastTs: part.records.at(-1)?.frame.ts ?? null,
      decidedTs: now,
      latencyMs: Math.max(0, now - part.refTs),
    };
  }

  private lateReason(part: PendingPart, now: number): PartReason {
    const silenceMs = this.options.silenceMs ?? Math.max(MIN_SILENCE_MS, SILENT_INTERVALS * (this.frameIntervalMs ?? 0));
    const silent = this.lastFrameAt === null || now - this.lastFrameAt >= silenceMs;
    if (!this.cameraUp || silent) return 'camera_down';
    return part.records.length === 0 ? 'no_frames' : 'scoring_too_slow';
  }

  /** Moves decided parts at the head of the queue to the ready list, numbering them. */
  private flush(): void {
    while (this.pending[0]?.decided) {
      const part = this.pending.shift()!;
      const verdict: PartVerdict = { ...part.decided!, seq: ++this.seq };
      this.counters.recordPart(verdict.verdict, verdict.action, verdict.latencyMs);
      this.ready.push(verdict);
    }
  }
}

/**
 * The frames a part is judged on: the fully-in-view ones when the presence
 * signal is known for the part's frames, otherwise all of them.
 */
export function usableFrames(records: readonly FrameRecord[], inViewBand: number): FrameRecord[] {
  const observed = records.filter((r) => r.obs && !r.obs.learning);
  if (observed.length === 0) return [...records];
  const maxOccupancy = Math.max(...observed.map((r) => r.obs!.occupancy));
  return observed.filter((r) => fullyInView(r.obs!, maxOccupancy, inViewBand));
}

/** Why a complete part had no score to aggregate. */
function emptyReason(records: readonly FrameRecord[]): PartReason {
  if (records.length === 0) return 'no_frames';
  if (records.every((r) => r.frame.unscored === 'not_enrolled')) return 'product_not_enrolled';
  if (records.some((r) => r.frame.unscored === 'too_late')) return 'scoring_too_slow';
  if (records.every((r) => r.frame.score === null)) return 'scoring_failed';
  return 'no_usable_frame';
}
