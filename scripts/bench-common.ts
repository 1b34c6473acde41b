/**
 * Shared by the `npm run bench:*` scripts: medians, peak memory, and the one
 * JSON line every benchmark ends with (also written to `.bench/<name>.json`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

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
