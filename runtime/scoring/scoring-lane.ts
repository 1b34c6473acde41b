/**
 * A scoring lane: the cameras of a device take turns on it (with several
 * scoring threads, `inference.scoringThreads`, each thread has a lane and
 * its share of the cameras). ONNX Runtime already spreads one frame over the
 * cores it is given, so running two frames at once on one copy of a model
 * only makes both late; work takes turns, first come first served. With
 * `inference.maxBatch` above 1, frames of several cameras that wait for the
 * same product version when the lane becomes free are scored as one batch
 * (one backbone run over all of them, as video-analytics servers batch
 * streams, for hardware that runs a batch cheaper than its frames one by
 * one); no frame waits for more frames to arrive. Each camera still gets its
 * own outcome, and a camera's frames keep their order.
 */

/** What scores a batch of frames: one product version. */
export interface BatchScorer<Input, Outcome> {
  /** Frames one run may take. */
  readonly maxBatch: number;
  /** One outcome per input, in order. */
  scoreBatch(inputs: Input[]): Promise<Outcome[]>;
}

/** What the grouping looks at of a queued entry: a frame has a scorer (and the camera it came from); other jobs have none. */
export interface QueuedWork {
  scorer?: object;
  source?: string;
}

/**
 * Positions of the queued entries the next run takes: always the head; when
 * the head is a frame, also later frames for the same scorer, up to
 * `maxBatch`, in queue order. A frame never passes an earlier entry of its
 * own camera that stays behind, so each camera's order holds; the head is
 * always served, so nothing starves.
 */
export function nextBatch(queue: readonly QueuedWork[], maxBatch: number): number[] {
  if (queue.length === 0) return [];
  const head = queue[0]!;
  const picked = [0];
  if (!head.scorer) return picked;
  const heldBack = new Set<string>();
  for (let i = 1; i < queue.length && picked.length < maxBatch; i++) {
    const entry = queue[i]!;
    const blocked = entry.source !== undefined && heldBack.has(entry.source);
    if (entry.scorer === head.scorer && !blocked) picked.push(i);
    else if (entry.source !== undefined) heldBack.add(entry.source);
  }
  return picked;
}

interface FrameEntry {
  scorer: BatchScorer<unknown, unknown>;
  source?: string;
  input: unknown;
  resolve(outcome: unknown): void;
  reject(err: unknown): void;
}

interface JobEntry {
  scorer?: undefined;
  source?: undefined;
  job(): Promise<unknown>;
  resolve(result: unknown): void;
  reject(err: unknown): void;
}

type Entry = FrameEntry | JobEntry;

export class ScoringLane {
  private readonly queue: Entry[] = [];
  private busy = false;
  private waiting = 0;

  /**
   * `maxBatch` caps every batch (a scorer's own `maxBatch` may cap it lower);
   * `index` is the scoring thread the lane feeds, with several (which of a
   * served product's lane scorers its cameras use; 0 with one).
   */
  constructor(private readonly opts: { maxBatch?: number; index?: number } = {}) {}

  /** The scoring thread this lane feeds (see the constructor). */
  get index(): number {
    return this.opts.index ?? 0;
  }

  /** Runs `job` alone, after everything queued before it has settled. */
  run<T>(job: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ job, resolve: (r) => resolve(r as T), reject });
    });
  }

  /**
   * Scores `input` with `scorer`, batched with the frames of other cameras
   * (`source`) waiting for the same scorer when the lane becomes free.
   */
  score<Input, Outcome>(scorer: BatchScorer<Input, Outcome>, input: Input, source?: string): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.enqueue({ scorer: scorer as BatchScorer<unknown, unknown>, source, input, resolve: (o) => resolve(o as Outcome), reject });
    });
  }

  /** Jobs and frames queued or running. */
  get depth(): number {
    return this.waiting;
  }

  private enqueue(entry: Entry): void {
    this.waiting++;
    this.queue.push(entry);
    // Started on a microtask: work queued in the same turn joins the first batch, without waiting for a timer.
    if (!this.busy) {
      this.busy = true;
      queueMicrotask(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const cap = Math.max(1, Math.min(head.scorer?.maxBatch ?? 1, this.opts.maxBatch ?? Infinity));
      const picked = nextBatch(this.queue, cap);
      const entries = picked.map((i) => this.queue[i]!);
      for (const i of [...picked].reverse()) this.queue.splice(i, 1);
      if (head.scorer) await this.scoreFrames(head.scorer, entries as FrameEntry[]);
      else await this.runJob(head as JobEntry);
    }
    this.busy = false;
  }

  /** Runs a plain job; its caller hears of it once the lane no longer counts it. */
  private async runJob(entry: JobEntry): Promise<void> {
    let settle: () => void;
    try {
      const result = await entry.job();
      settle = () => entry.resolve(result);
    } catch (err) {
      settle = () => entry.reject(err);
    }
    this.waiting--;
    settle();
  }

  /** Scores a batch of frames; each caller hears of its own outcome once the lane no longer counts the batch. */
  private async scoreFrames(scorer: BatchScorer<unknown, unknown>, frames: FrameEntry[]): Promise<void> {
    let settle: () => void;
    try {
      const outcomes = await scorer.scoreBatch(frames.map((f) => f.input));
      if (outcomes.length !== frames.length) throw new Error(`a batch of ${frames.length} frames came back with ${outcomes.length} outcomes`);
      settle = () => frames.forEach((f, i) => f.resolve(outcomes[i]));
    } catch (err) {
      settle = () => frames.forEach((f) => f.reject(err));
    }
    this.waiting -= frames.length;
    settle();
  }
}
