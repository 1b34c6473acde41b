/**
 * One scoring lane for all cameras of a device. ONNX Runtime already spreads
 * one frame over every core, so running two frames at once only makes both
 * late; frames from several cameras take turns, first come first served.
 */
export class ScoringLane {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  /** Runs `job` after every job queued before it has settled. */
  run<T>(job: () => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(job).finally(() => this.waiting--);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Jobs queued or running. */
  get depth(): number {
    return this.waiting;
  }
}
