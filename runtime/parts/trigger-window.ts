/**
 * Which frames belong to a triggered part. A trigger `{partId, delayMs}`
 * received at time t opens the part's window at t + delay: either the next
 * `frames` frames from then on, or the frames whose arrival time falls in
 * [t + delay, t + delay + windowMs). Frames arrive in order, so a window is
 * complete once it holds its N frames, or once a frame arrives after its end.
 *
 * Trigger errors (each counted; the rules a PLC programmer can rely on):
 * - overlapping triggers: a window that starts before the previous part's
 *   window has ended cuts the previous window at its own start; the earlier
 *   part is judged on the frames it has (its verdict carries reason
 *   `overlapping_trigger`, and is `no_verdict` if none were usable). For a
 *   time window the overlap is known at trigger time; for a frame-count window
 *   it is known when a frame reaches the new window while the earlier one still
 *   lacks frames.
 * - out-of-order trigger: a window starting before the previous part's window
 *   (a shorter delay than the part ahead) is refused; the part is answered at
 *   once with `no_verdict` and reason `out_of_order_trigger`.
 * - duplicate part id: a trigger repeating the id of a part still waiting for
 *   its verdict is ignored (that part is answered once).
 * - unknown camera: see PartLine (runtime/parts/part-line.ts).
 */
import type { PartWindowSettings } from '../../config/parts.ts';

export interface PartTrigger {
  partId: string;
  /** Time from the trigger to the part being under the camera. */
  delayMs?: number;
}

export interface PartWindow {
  partId: string;
  /** When the trigger was received. */
  triggerTs: number;
  startTs: number;
  /** Exclusive end of a time window (possibly cut by the next trigger); null for a frame-count window. */
  endTs: number | null;
  /** Frames a frame-count window needs; null for a time window. */
  maxFrames: number | null;
  /** Start of the next part's window, which cuts a frame-count window. */
  cutTs: number | null;
  frames: number;
  complete: boolean;
  /** The window was cut short by the next trigger. */
  overlapped: boolean;
}

export function openWindow(trigger: PartTrigger, now: number, settings: PartWindowSettings): PartWindow {
  const startTs = now + (trigger.delayMs ?? 0);
  return {
    partId: trigger.partId,
    triggerTs: now,
    startTs,
    endTs: settings.kind === 'time' ? startTs + settings.windowMs : null,
    maxFrames: settings.kind === 'frames' ? settings.frames : null,
    cutTs: null,
    frames: 0,
    complete: false,
    overlapped: false,
  };
}

/**
 * Applies a new window to the one before it (see the module comment). Returns
 * `refuse` for an out-of-order trigger, `overlap` when the previous window was
 * cut now (a trigger error), `ok` otherwise. Mutates `previous`.
 */
export function admitAfter(previous: PartWindow | undefined, next: PartWindow): 'ok' | 'overlap' | 'refuse' {
  if (!previous || previous.complete) return 'ok';
  if (next.startTs < previous.startTs) return 'refuse';
  if (previous.endTs !== null) {
    if (next.startTs >= previous.endTs) return 'ok';
    previous.endTs = next.startTs;
    previous.overlapped = true;
    return 'overlap';
  }
  previous.cutTs = next.startTs;
  return 'ok';
}

/**
 * Offers a frame (arrival time `ts`) to a window. `take`: the frame belongs to
 * the part; `before`: not yet; `done`: the window is complete (it may have just
 * completed, see `complete` and `overlapped`). Mutates `w`.
 */
export function offerFrame(w: PartWindow, ts: number): 'before' | 'take' | 'done' {
  if (w.complete) return 'done';
  if (ts < w.startTs) return 'before';
  const cut = w.cutTs !== null && ts >= w.cutTs;
  const pastEnd = w.endTs !== null && ts >= w.endTs;
  if (cut || pastEnd) {
    if (cut && !pastEnd && w.maxFrames !== null) w.overlapped = true;
    w.complete = true;
    return 'done';
  }
  w.frames++;
  if (w.maxFrames !== null && w.frames >= w.maxFrames) w.complete = true;
  return 'take';
}
