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

/** The values of a unit's `name=` lines, in order (systemd: a later line adds to or overrides an earlier one). */
export function unitDirective(unitText: string, name: string): string[] {
  return unitText
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith(`${name}=`))
    .map((line) => line.slice(name.length + 1).trim());
}

/** The unit's `Environment=` assignments that configure the C library (malloc), in order; later ones win. */
export function libcEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const value of unitDirective(unitText, 'Environment')) {
    // One line may hold several assignments, each optionally in double quotes.
    for (const item of value.match(/"[^"]*"|\S+/g) ?? []) {
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
  const values = unitDirective(unitText, 'Nice').filter((value) => /^-?\d+$/.test(value));
  return values.length > 0 ? Number(values.at(-1)) : 0;
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
