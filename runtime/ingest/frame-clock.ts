/**
 * The camera's frame clock: when a frame was on the camera, independent of
 * how busy the device is when it reads it.
 *
 * A part's trigger window takes the frames whose time falls in it
 * (runtime/parts/trigger-window.ts), so that time must not depend on load.
 * A frame's arrival does: ffmpeg and the runtime share the CPU with whatever
 * else runs (an enrollment training a product while the line runs), and
 * frames come out of the pipe late and in bursts. The stream itself is
 * regular: the ffmpeg command (ingest/ffmpeg-command.ts) asks for a constant
 * output frame rate (`-fps_mode cfr -r <fps>`), frame n being stream time
 * n / fps after the stream started (a frame the camera lost is replaced by a
 * copy of the previous one, so the count stays in step with stream time).
 *
 * So frame n is stamped `anchor + n * interval`, where the anchor is the
 * least-delayed arrival seen: `min over frames k of (arrival_k - k * interval)`.
 * Delays only ever make frames later, never earlier, so the minimum drops
 * the jitter and keeps the pipeline's fixed latency (network, decoder), the
 * same for every frame. Details:
 *
 * - The anchor follows the camera's clock drift (crystals differ by tens of
 *   ppm, so a camera slower than the device delivers every frame a little
 *   later than the last): every 10 s of stream (a block) the least delay of
 *   the block is kept for the last 10 minutes, and a straight line is fitted
 *   through those block minima. When every block minimum lies within
 *   `driftToleranceMs` of the line, its slope (at most `riseMsPerSecond`,
 *   0.2 ms per second of stream = 200 ppm; never negative, a faster camera
 *   lowers the minimum on its own) is the drift; otherwise the drift stays
 *   what it was. The anchor rises at the drift and is set at each block's
 *   end to the lowest block minimum carried forward by it. Arrivals that
 *   step later and stay there (a busy device, a camera pipeline that fell a
 *   frame behind) do not fit a line, so they are not taken for drift: the
 *   frames' place in the stream has not changed, so neither may their time,
 *   until the blocks from before the step have left the window (10 minutes).
 *   A fixed rise followed such a step at 12 ms per minute, and a PLC timing
 *   its parts by the stream saw the window open on the previous part after
 *   a minute.
 * - A new reader (a reconnect: the stream index starts again) starts a new
 *   anchor.
 * - If every frame for `lagWindowMs` came more than `maxLagMs` after its
 *   stamp, the stream's time base has moved (a camera that restarted its
 *   timestamps without a reconnect): the clock re-anchors to the least
 *   delayed frame of that stretch. Load does not hold every frame a second
 *   late for two seconds without the camera dropping out.
 * - Stamps never go backwards (a new minimum lowers the anchor, the stamps
 *   after it are held at the last one until they pass it) and never lie
 *   after the frame's arrival.
 *
 * Pure: the state goes in and comes out; the camera pipeline
 * (runtime/camera-pipeline.ts) keeps one per camera.
 */

export interface FrameClockSettings {
  /** Time between two frames of the stream, ms (1000 / the camera's fps). */
  intervalMs: number;
  /** The fastest drift the anchor follows, ms per second of stream. */
  riseMsPerSecond?: number;
  /** A frame this much later than its stamp counts as lagging, ms. */
  maxLagMs?: number;
  /** Every frame lagging for this long re-anchors the clock, ms. */
  lagWindowMs?: number;
  /** Stream time per block of the drift estimate, ms. */
  blockMs?: number;
  /** Blocks the drift is estimated over (the oldest is forgotten). */
  driftBlocks?: number;
  /** Blocks needed before any drift is followed. */
  minDriftBlocks?: number;
  /** Largest distance of a block minimum from the fitted line for its slope to count as drift, ms. */
  driftToleranceMs?: number;
}

/** The least `arrival - index * interval` of one block of the stream, and the index where it was seen. */
export interface BlockMinimum {
  index: number;
  candidate: number;
}

export interface FrameClockState {
  /** Time of stream frame 0 at the least delay seen; null before the first frame. */
  anchor: number | null;
  /** Stream index of the last frame stamped. */
  lastIndex: number;
  /** Last stamp given (stamps never go backwards). */
  lastTs: number;
  /** Arrival of the first frame of the current lagging stretch; null when not lagging. */
  lagSince: number | null;
  /** Least `arrival - index * interval` seen during the lagging stretch. */
  lagAnchor: number;
  /** The block being filled: its first index and its minimum so far (null before its first frame). */
  block: { start: number; least: BlockMinimum | null };
  /** Minima of the last closed blocks, oldest first. */
  blocks: BlockMinimum[];
  /** Estimated drift, ms per ms of stream (0 until enough blocks). */
  drift: number;
}

export const DEFAULT_RISE_MS_PER_SECOND = 0.2;
export const DEFAULT_MAX_LAG_MS = 1000;
export const DEFAULT_LAG_WINDOW_MS = 2000;
export const DEFAULT_BLOCK_MS = 10_000;
export const DEFAULT_DRIFT_BLOCKS = 60;
export const DEFAULT_MIN_DRIFT_BLOCKS = 6;
export const DEFAULT_DRIFT_TOLERANCE_MS = 4;

export function initialFrameClock(): FrameClockState {
  return { anchor: null, lastIndex: -1, lastTs: -Infinity, lagSince: null, lagAnchor: Infinity, block: { start: 0, least: null }, blocks: [], drift: 0 };
}

export interface Stamp {
  state: FrameClockState;
  /** The frame's time on the clock, whole ms (never after `arrival`, never before the previous stamp). */
  ts: number;
  /** How much later than its stamp the frame arrived, ms. */
  lagMs: number;
}

/**
 * Stamps frame `index` of the stream (0 for the first frame a reader
 * delivers; counting on with every frame, including frames the consumer
 * skipped) that arrived at `arrival` (ms).
 */
export function stampFrame(state: FrameClockState, index: number, arrival: number, settings: FrameClockSettings): Stamp {
  const interval = settings.intervalMs;
  if (!(interval > 0)) throw new Error(`frame clock: the interval between frames must be positive, got ${interval}`);
  const candidate = arrival - index * interval;
  // A new reader starts counting again: a new stream, a new anchor.
  if (state.anchor === null || index <= state.lastIndex) return finish(freshAnchor(index, candidate), index, arrival, interval);
  // Drift by stream time (not arrival time, which load stretches).
  const anchor = Math.min(state.anchor + state.drift * (index - state.lastIndex) * interval, candidate);
  let lagSince = state.lagSince;
  let lagAnchor = state.lagAnchor;
  if (arrival - (anchor + index * interval) > (settings.maxLagMs ?? DEFAULT_MAX_LAG_MS)) {
    lagSince ??= arrival;
    lagAnchor = Math.min(lagAnchor, candidate);
    if (arrival - lagSince >= (settings.lagWindowMs ?? DEFAULT_LAG_WINDOW_MS)) {
      // The stream's time base moved: what was learnt of the old one does not apply.
      return finish({ ...state, ...freshAnchor(index, lagAnchor), lastIndex: state.lastIndex, lastTs: state.lastTs }, index, arrival, interval);
    }
  } else {
    lagSince = null;
    lagAnchor = Infinity;
  }
  const blocked = trackDrift({ ...state, anchor, lagSince, lagAnchor }, index, candidate, settings);
  return finish(blocked, index, arrival, interval);
}

function freshAnchor(index: number, candidate: number): FrameClockState {
  return { ...initialFrameClock(), anchor: candidate, block: { start: index, least: { index, candidate } } };
}

/**
 * Adds the frame to its block; when a block ends, keeps its minimum,
 * re-estimates the drift and sets the anchor on the drift line through the
 * lowest block minimum (never above this frame's candidate).
 */
function trackDrift(state: FrameClockState, index: number, candidate: number, settings: FrameClockSettings): FrameClockState {
  const interval = settings.intervalMs;
  const blockFrames = Math.max(1, Math.round((settings.blockMs ?? DEFAULT_BLOCK_MS) / interval));
  const least = state.block.least;
  if (index < state.block.start + blockFrames) {
    const block = least && least.candidate <= candidate ? state.block : { start: state.block.start, least: { index, candidate } };
    return { ...state, block };
  }
  const blocks = least ? [...state.blocks, least].slice(-(settings.driftBlocks ?? DEFAULT_DRIFT_BLOCKS)) : state.blocks;
  const maxDrift = (settings.riseMsPerSecond ?? DEFAULT_RISE_MS_PER_SECOND) / 1000;
  const fit = blocks.length >= (settings.minDriftBlocks ?? DEFAULT_MIN_DRIFT_BLOCKS) ? fitLine(blocks, interval) : null;
  const drift = fit && fit.maxResidual <= (settings.driftToleranceMs ?? DEFAULT_DRIFT_TOLERANCE_MS) ? Math.min(maxDrift, Math.max(0, fit.slope)) : state.drift;
  const line = Math.min(...blocks.map((b) => b.candidate + drift * (index - b.index) * interval));
  return { ...state, anchor: Math.min(line, candidate), blocks, drift, block: { start: index, least: { index, candidate } } };
}

/**
 * Least-squares line through the block minima: its slope (ms per ms of
 * stream) and the largest distance of a minimum from it (ms).
 */
export function fitLine(points: readonly BlockMinimum[], intervalMs: number): { slope: number; maxResidual: number } {
  const n = points.length;
  const xs = points.map((p) => p.index * intervalMs);
  const meanX = xs.reduce((a, b) => a + b, 0) / n;
  const meanY = points.reduce((a, p) => a + p.candidate, 0) / n;
  let sxx = 0;
  let sxy = 0;
  points.forEach((p, i) => {
    sxx += (xs[i]! - meanX) ** 2;
    sxy += (xs[i]! - meanX) * (p.candidate - meanY);
  });
  const slope = sxx > 0 ? sxy / sxx : 0;
  const maxResidual = Math.max(...points.map((p, i) => Math.abs(p.candidate - (meanY + slope * (xs[i]! - meanX)))));
  return { slope, maxResidual };
}

function finish(state: FrameClockState, index: number, arrival: number, interval: number): Stamp {
  const ts = Math.min(arrival, Math.max(state.lastTs, Math.round(state.anchor! + index * interval)));
  return { state: { ...state, lastIndex: index, lastTs: ts }, ts, lagMs: arrival - ts };
}

/** A frame clock for one camera (the pure `stampFrame` with its state kept). */
export class FrameClock {
  private state = initialFrameClock();

  constructor(private readonly settings: FrameClockSettings) {}

  /** The time of stream frame `index`, which arrived at `arrival`. */
  stamp(index: number, arrival: number): number {
    const out = stampFrame(this.state, index, arrival, this.settings);
    this.state = out.state;
    return out.ts;
  }

  /** Forgets the stream (the next frame starts a new anchor). */
  reset(): void {
    this.state = initialFrameClock();
  }
}
