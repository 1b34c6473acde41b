/**
 * Waiting for something with a deadline. The publisher answers several
 * "tell me when ... or give up after N ms" questions (a reject acknowledged,
 * the outbox drained, a connection state reached, a goodbye message sent);
 * they all come down to these two functions, so each one cleans up its
 * listener and its timer the same way.
 */

/** Starts listening; calls `deliver` with the awaited value when it happens; returns how to stop listening. */
export type Subscribe<T> = (deliver: (value: T) => void) => () => void;

/**
 * Resolves with the first value delivered through `subscribe`, or with
 * undefined after `timeoutMs`. Stops listening either way.
 */
export function waitFor<T>(subscribe: Subscribe<T>, timeoutMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let unsubscribe: (() => void) | undefined;
    const finish = (value: T | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe?.();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), Math.max(0, timeoutMs));
    unsubscribe = subscribe((value) => finish(value));
    // Delivered while subscribing: the listener is not needed any more.
    if (done) unsubscribe();
  });
}

/** Resolves with what `promise` resolves to, or with undefined after `timeoutMs`; a rejection is passed on. */
export function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, timeoutMs));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
