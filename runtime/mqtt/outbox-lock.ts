/**
 * The lock that keeps a second runtime off a device's reject outbox, and that
 * must not keep the only runtime off it after a power cut.
 *
 * A lock naming only a PID is not enough: after a reboot the PID written by
 * the runtime that lost power often belongs to another live process, and a
 * runtime that took that as "in use" would fail at every start (systemd's
 * Restart=always then loops for ever). So the lock records who wrote it:
 *
 *   <pid>
 *   start <start time of that process, /proc/<pid>/stat field 22>
 *   boot <the kernel's boot id, /proc/sys/kernel/random/boot_id>
 *
 * A lock is held only when its PID is alive AND, where the lock says so, that
 * process started at the recorded time during the recorded boot. A lock from
 * an older version (PID only) or a platform without /proc falls back to the
 * PID check.
 */
import { readFileSync } from 'node:fs';

export interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTime?: string;
  /** The kernel boot id of the boot the process ran in. */
  bootId?: string;
}

/** What the machine says about processes (injected so the decision is testable). */
export interface ProcessProbe {
  alive(pid: number): boolean;
  startTime(pid: number): string | undefined;
  bootId(): string | undefined;
}

/** Reads a lock file's text; undefined when it names no process. */
export function parseLock(text: string): LockOwner | undefined {
  const [first, ...rest] = text.split('\n');
  const pid = Number(first?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const owner: LockOwner = { pid };
  for (const line of rest) {
    const m = /^(start|boot) (\S+)$/.exec(line.trim());
    if (m?.[1] === 'start') owner.startTime = m[2];
    if (m?.[1] === 'boot') owner.bootId = m[2];
  }
  return owner;
}

export function formatLock(owner: LockOwner): string {
  return [String(owner.pid), ...(owner.startTime ? [`start ${owner.startTime}`] : []), ...(owner.bootId ? [`boot ${owner.bootId}`] : [])].join('\n') + '\n';
}

/** True when the process that wrote the lock still runs (so the outbox is in use). */
export function lockHeld(owner: LockOwner, probe: ProcessProbe): boolean {
  if (!probe.alive(owner.pid)) return false;
  if (owner.bootId !== undefined) {
    const boot = probe.bootId();
    if (boot !== undefined && boot !== owner.bootId) return false;
  }
  if (owner.startTime !== undefined) {
    const start = probe.startTime(owner.pid);
    if (start !== undefined && start !== owner.startTime) return false;
  }
  return true;
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
export function startTimeFromStat(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // The fields after the name start at field 3.
  const value = fields[22 - 3];
  return value && /^\d+$/.test(value) ? value : undefined;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export const systemProbe: ProcessProbe = {
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  startTime(pid) {
    const stat = readProc(`/proc/${pid}/stat`);
    return stat === undefined ? undefined : startTimeFromStat(stat);
  },
  bootId() {
    return readProc('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
  },
};

/** This process, as a lock records it. */
export function currentOwner(probe: ProcessProbe = systemProbe): LockOwner {
  const owner: LockOwner = { pid: process.pid };
  const startTime = probe.startTime(process.pid);
  const bootId = probe.bootId();
  if (startTime !== undefined) owner.startTime = startTime;
  if (bootId !== undefined) owner.bootId = bootId;
  return owner;
}
