/**
 * A bounded queue of slow jobs run one after another, off the path that
 * decides and signals rejects: `push` returns at once; when `capacity` jobs
 * are already waiting, the new one is dropped and counted instead of
 * growing memory or delaying anything.
 */
export class WriteQueue {
  private readonly jobs: (() => Promise<void>)[] = [];
  private running: Promise<void> | undefined;
  dropped = 0;
  failed = 0;

  constructor(
    private readonly capacity: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  get waiting(): number {
    return this.jobs.length;
  }

  /** Queues a job; false when the queue was full and the job was dropped. */
  push(job: () => Promise<void>): boolean {
    if (this.jobs.length >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.jobs.push(job);
    this.running ??= this.drain();
    return true;
  }

  private async drain(): Promise<void> {
    // Start on a later turn, so whoever pushed finishes what it was doing first.
    await new Promise((r) => setImmediate(r));
    for (let job = this.jobs.shift(); job; job = this.jobs.shift()) {
      try {
        await job();
      } catch (err) {
        this.failed++;
        this.onError(err);
      }
    }
    this.running = undefined;
  }

  /** Resolves when every queued job has run. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}
