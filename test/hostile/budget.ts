/**
 * How hard the hostile suite pushes: `npm test` runs a short pass of every
 * fuzz target and fault, `npm run test:hostile` (LINESIGHT_HOSTILE=full) the
 * full counts. Each test prints what it tried, so a run reports its coverage.
 */
export const FULL = process.env.LINESIGHT_HOSTILE === 'full';

/** Number of runs: `fast` in npm test, `full` in test:hostile. */
export function runs(fast: number, full: number): number {
  return FULL ? full : fast;
}

/** Text that only a stack trace or a source path would put into a reply or message. */
export const STACK_TRACE = /\n\s+at .+\(|\bat [\w.<>]+ \(\/|node:internal|\.ts:\d+:\d+/;
