/**
 * The camera's frame clock: when a frame was on the camera, independent of
 * how busy the device is when it reads it.
 *
 * A part's trigger window takes the frames whose time falls in it
 * (runtime/parts/trigger-window.ts), so that time must not depend on load.
 * A frame's arrival does: ffmpeg and the runtime share the CPU with whatever
 * else runs (an enrollment training a product while the line runs), and
 * frames come out of the pipe late and in bursts. The stream itself is
 * regular: the ffmpeg command (ingest/ffmpeg-command.ts) ends in an `fps=`
 * filter, so its output is constant-frame-rate, frame n being stream time
 * n / fps after the stream started (a frame the camera lost is replaced by a
 * copy of the previous one, so the count stays in step with stream time).
 *
 * So frame n is stamped `anchor + n * interval`, where the anchor is the
 * least-delayed arrival seen: `min over frames k of (arrival_k - k * interval)`.
 * Delays only ever make frames later, never earlier, so the minimum drops
 * the jitter and keeps the pipeline's fixed latency (network, decoder), the
 * same for every frame. Details:
 *
 * - The anchor may rise slowly (`riseMsPerSecond`, 0.2 ms per second of
 *   stream = 200 ppm) between new minima, so a camera whose clock runs slower than the
 *   device's (crystals differ by tens of ppm) does not pile up an ever
 *   larger error; a faster one lowers the minimum on its own. The rise is too
 *   slow to follow load: a minute of heavy load moves stamps by 12 ms.
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
  /** How fast the anchor may rise without a new minimum, ms per second of stream. */
  riseMsPerSecond?: number;
  /** A frame this much later than its stamp counts as lagging, ms. */
  maxLagMs?: number;
  /** Every frame lagging for this long re-anchors the clock, ms. */
  lagWindowMs?: number;
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
}

export const DEFAULT_RISE_MS_PER_SECOND = 0.2;
export const DEFAULT_MAX_LAG_MS = 1000;
export const DEFAULT_LAG_WINDOW_MS = 2000;

export function initialFrameClock(): FrameClockState {
  return { anchor: null, lastIndex: -1, lastTs: -Infinity, lagSince: null, lagAnchor: Infinity };
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
  if (state.anchor === null || index <= state.lastIndex) {
    const fresh = initialFrameClock();
    return finish({ ...fresh, anchor: candidate }, index, arrival, interval);
  }
  // Rise by stream time (not arrival time, which load stretches).
  const rise = ((settings.riseMsPerSecond ?? DEFAULT_RISE_MS_PER_SECOND) * (index - state.lastIndex) * interval) / 1000;
  let anchor = Math.min(state.anchor + rise, candidate);
  let lagSince = state.lagSince;
  let lagAnchor = state.lagAnchor;
  if (arrival - (anchor + index * interval) > (settings.maxLagMs ?? DEFAULT_MAX_LAG_MS)) {
    lagSince ??= arrival;
    lagAnchor = Math.min(lagAnchor, candidate);
    if (arrival - lagSince >= (settings.lagWindowMs ?? DEFAULT_LAG_WINDOW_MS)) {
      anchor = lagAnchor;
      lagSince = null;
      lagAnchor = Infinity;
    }
  } else {
    lagSince = null;
    lagAnchor = Infinity;
  }
  return finish({ ...state, anchor, lagSince, lagAnchor }, index, arrival, interval);
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
