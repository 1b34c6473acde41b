/**
 * A fixed number of places for costly work that clients start at will (open
 * event streams, image uploads being checked): a request that finds no free
 * place is refused at once instead of queueing memory or listeners.
 */
export class Slots {
  private taken = 0;

  constructor(readonly size: number) {}

  get inUse(): number {
    return this.taken;
  }

  /** Takes a place; returns the function that gives it back (once), or undefined when all are taken. */
  take(): (() => void) | undefined {
    if (this.taken >= this.size) return undefined;
    this.taken++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.taken--;
    };
  }
}
