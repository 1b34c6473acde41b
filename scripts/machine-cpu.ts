/**
 * How busy the whole machine was during a benchmark, from the kernel's CPU
 * counters (the `cpu` line of /proc/stat): the share of all cores that ran
 * anything (this process, ffmpeg, the camera server, other jobs) and the
 * share the hypervisor took for other guests (steal). A process's own CPU
 * time cannot tell a device that is slow from one that is starved.
 */
import { readFileSync } from 'node:fs';

/** Cumulative CPU time of all cores since boot, in clock ticks. */
export interface MachineCpuTimes {
  busy: number;
  idle: number;
  steal: number;
}

/** The `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal ...). */
export function parseProcStat(text: string): MachineCpuTimes {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat has no "cpu " line');
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

/** The machine's CPU counters now; undefined where there is no /proc/stat (not Linux). */
export function readMachineCpu(): MachineCpuTimes | undefined {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Between two readings: % of all cores busy and % stolen by the hypervisor (one decimal). */
export function machineCpuShare(from: MachineCpuTimes, to: MachineCpuTimes): { busyPct: number; stealPct: number } {
  const busy = to.busy - from.busy;
  const steal = to.steal - from.steal;
  const total = busy + (to.idle - from.idle) + steal;
  if (total <= 0) return { busyPct: Number.NaN, stealPct: Number.NaN };
  const pct = (v: number) => Math.round((1000 * v) / total) / 10;
  return { busyPct: pct(busy), stealPct: pct(steal) };
}

/**
 * Starts measuring: the function returned gives the machine's share since
 * this call (NaN where there is no /proc/stat), for a benchmark's window.
 */
export function startMachineCpu(): () => { busyPct: number; stealPct: number } {
  const from = readMachineCpu();
  return () => {
    const to = readMachineCpu();
    return from && to ? machineCpuShare(from, to) : { busyPct: Number.NaN, stealPct: Number.NaN };
  };
}
