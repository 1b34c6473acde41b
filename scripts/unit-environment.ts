/**
 * What the systemd unit gives the runtime process, for benchmarks that run
 * it as the unit does: the C library settings (its `Environment=MALLOC_*`
 * and `GLIBC_TUNABLES` lines) and its `Nice=`. glibc reads its settings once,
 * when the process starts, so a benchmark started without them re-runs
 * itself with them: it then measures the runtime as the unit runs it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUNTIME_UNIT = join(import.meta.dirname, '..', 'systemd', 'linesight@.service');

/** The unit's `Environment=` assignments that configure the C library (malloc), in order; later ones win. */
export function libcEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    const m = /^Environment=(.*)$/.exec(line.trim());
    if (!m) continue;
    // One line may hold several assignments, each optionally in double quotes.
    for (const item of m[1]!.match(/"[^"]*"|\S+/g) ?? []) {
      const assignment = item.startsWith('"') ? item.slice(1, -1) : item;
      const eq = assignment.indexOf('=');
      const name = assignment.slice(0, eq);
      if (eq > 0 && (name.startsWith('MALLOC_') || name === 'GLIBC_TUNABLES')) env[name] = assignment.slice(eq + 1);
    }
  }
  return env;
}

/** The unit's `Nice=` (the last one wins; 0 without one), for benchmarks that start the runtime as the unit does. */
export function unitNice(unitText: string): number {
  const values = unitText.split('\n').map((line) => /^Nice=\s*(-?\d+)\s*$/.exec(line.trim())).filter((m) => m !== null);
  return values.length > 0 ? Number(values.at(-1)![1]) : 0;
}

/**
 * Makes sure this process runs with the runtime unit's C library settings:
 * returns them when they are already in effect, else runs this same script
 * again with them (same Node flags and arguments, output passed through) and
 * exits with its status.
 */
export function runWithUnitLibcEnvironment(unitPath = RUNTIME_UNIT): Record<string, string> {
  const wanted = libcEnvironment(readFileSync(unitPath, 'utf8'));
  if (Object.entries(wanted).every(([k, v]) => process.env[k] === v)) return wanted;
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...wanted } });
  process.exit(r.status ?? 1);
}
