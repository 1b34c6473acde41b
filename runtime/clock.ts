/**
 * The runtime's clock for frames, triggers and part deadlines: milliseconds
 * since the epoch at start-up, then advancing with the process's monotonic
 * clock. A wall-clock step (NTP, a technician setting the time, a dead RTC
 * battery corrected after boot) neither holds a part past its deadline nor
 * times one out early; published timestamps stay close to wall time and
 * never go backwards.
 */
import { performance } from 'node:perf_hooks';

export function monotonicNow(): number {
  return performance.timeOrigin + performance.now();
}
