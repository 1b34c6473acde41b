/**
 * Shared by the `npm run bench:*` scripts: medians, peak memory, and the one
 * JSON line every benchmark ends with (also written to `.bench/<name>.json`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';

export { median } from '../models/components/median.ts';

export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function writeBenchResult(name: string, result: unknown): void {
  mkdirSync('.bench', { recursive: true });
  const line = JSON.stringify(result);
  writeFileSync(`.bench/${name}.json`, `${line}\n`);
  console.log(line);
}

/** `--scoring-thread on|off`: whether the device scores frames on its scoring thread (`inference.scoringThread`). */
export function scoringThreadFlag(value: string | undefined): boolean {
  if (value === undefined || value === 'on') return true;
  if (value === 'off') return false;
  throw new Error(`--scoring-thread is on or off, got "${value}"`);
}
