/**
 * The reject decision of `frames` mode (continuous webs and material, no
 * discrete parts): a reject when `debounceFrames` consecutive frames score
 * over the threshold, once per streak.
 *
 * Unlike runtime/decision.ts there is no time-based cooldown: a streak ends
 * with the first good frame, and the next streak over the threshold is a new
 * reject however soon it starts. A cooldown there hid a real defect right
 * behind a false reject (the pusher kicked the good part and the bad one
 * passed). A defect that never leaves the view still makes one reject.
 */

export interface FrameDecisionState {
  /** Consecutive frames over the threshold so far. */
  streak: number;
  /** The current streak has already produced its reject. */
  fired: boolean;
}

export const initialFrameDecisionState: FrameDecisionState = { streak: 0, fired: false };

/** Feeds one frame; `reject` is true exactly when this frame triggers a reject signal. */
export function decideFrame(state: FrameDecisionState, overThreshold: boolean, debounceFrames: number): { state: FrameDecisionState; reject: boolean } {
  if (!overThreshold) return { state: initialFrameDecisionState, reject: false };
  const streak = state.streak + 1;
  if (streak >= debounceFrames && !state.fired) return { state: { streak, fired: true }, reject: true };
  return { state: { streak, fired: state.fired }, reject: false };
}
