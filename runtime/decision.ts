/**
 * The reject decision of one camera: a part is rejected when `debounceFrames`
 * consecutive frames score over the threshold, once per streak of bad frames,
 * and never twice within `cooldownMs` (a bad part whose score flickers around
 * the threshold while it passes the camera still makes one reject).
 *
 * A streak ends with the first good frame. A defect that never leaves the view
 * (a part stuck under the camera, dirt on the lens) therefore makes one reject,
 * not one per frame; the result topic keeps reporting every frame.
 */
import type { Verdict } from '../product/scorer.ts';

export interface DecisionSettings {
  /** Consecutive over-threshold frames needed before a reject. */
  debounceFrames: number;
  /** Least time between two rejects of one camera. */
  cooldownMs: number;
}

export interface DecisionState {
  /** Consecutive frames over the threshold so far. */
  streak: number;
  /** The current streak has already produced its reject. */
  fired: boolean;
  /** Frame time of the last reject. */
  lastRejectTs: number | null;
}

export const initialDecisionState: DecisionState = { streak: 0, fired: false, lastRejectTs: null };

/** Feeds one frame's verdict; `reject` is true exactly when this frame triggers a reject signal. */
export function decide(state: DecisionState, verdict: Verdict, ts: number, settings: DecisionSettings): { state: DecisionState; reject: boolean } {
  if (verdict === 'ok') return { state: { ...state, streak: 0, fired: false }, reject: false };
  const streak = state.streak + 1;
  const coolingDown = state.lastRejectTs !== null && ts - state.lastRejectTs < settings.cooldownMs;
  if (streak >= settings.debounceFrames && !state.fired && !coolingDown) {
    return { state: { streak, fired: true, lastRejectTs: ts }, reject: true };
  }
  return { state: { ...state, streak }, reject: false };
}
