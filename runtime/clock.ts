/**
 * The runtime's clock for frames, triggers and part deadlines: milliseconds
 * since the epoch at start-up, then advancing with the process's monotonic
 * clock. A wall-clock step (NTP, a technician setting the time, a dead RTC
 * battery corrected after boot) neither holds a part past its deadline nor
 * times one out early; published timestamps stay close to wall time and
 * never go backwards.
 */
import { performance } from 'node:perf_hooks';

/** Whole milliseconds (timestamps in payloads are integers), never less than the last value returned. */
export function monotonicNow(): number {
  return Math.floor(performance.timeOrigin + performance.now());
}

/** The process's monotonic clock (`process.hrtime`, the same in every thread), ms. */
export function hrtimeMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** How far `monotonicNow` is ahead of `hrtimeMs` in this thread (a worker's `performance` counts from its own start). */
const HRTIME_TO_MONOTONIC = performance.timeOrigin + performance.now() - hrtimeMs();

/** A time taken with `hrtimeMs` (in any thread of the process) on the runtime's clock, whole ms. */
export function monotonicFromHrtime(ms: number): number {
  return Math.floor(ms + HRTIME_TO_MONOTONIC);
}
