/**
 * Names of the temporary entries an artifact write leaves in a product folder
 * while it works (`.tmp-…` version folders, `.active-…` pointer files), and
 * which of them are leftovers of a writer that is gone.
 *
 * Each name carries the writer's process id and the machine's boot id, so a
 * write never removes the work of another enrollment that is still running:
 * an entry is stale only when it was made before the last boot, or its
 * process no longer exists. Names without a writer (older releases) are stale.
 */
import { readFileSync } from 'node:fs';

const TEMP_PREFIXES = ['.tmp-', '.active-'] as const;
export type TempKind = 'tmp' | 'active';

export interface TempOwner {
  pid: number;
  bootId: string;
}

let cachedBootId: string | undefined;

/** The kernel's id of the current boot (short form); `noboot` where the kernel does not say. */
export function currentBootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '').slice(0, 12) || 'noboot';
    } catch {
      cachedBootId = 'noboot';
    }
  }
  return cachedBootId;
}

/** `.tmp-<pid>-<boot>-<label>-<random>` (pure). */
export function tempEntryName(kind: TempKind, owner: TempOwner, label: string, random: string): string {
  return `.${kind}-${owner.pid}-${owner.bootId}-${label}-${random}`;
}

/** The writer named in a temporary entry; null for other entries or names without a writer (pure). */
export function parseTempEntry(entry: string): { kind: TempKind; owner: TempOwner | null } | null {
  const prefix = TEMP_PREFIXES.find((p) => entry.startsWith(p));
  if (!prefix) return null;
  const kind: TempKind = prefix === '.tmp-' ? 'tmp' : 'active';
  const m = /^(\d+)-([0-9a-z]+)-/.exec(entry.slice(prefix.length));
  return { kind, owner: m ? { pid: Number(m[1]), bootId: m[2]! } : null };
}

/** Whether a temporary entry was left by a writer that is gone (pure given `isAlive`). */
export function isStaleTempEntry(entry: string, bootId: string, isAlive: (pid: number) => boolean): boolean {
  const parsed = parseTempEntry(entry);
  if (!parsed) return false;
  if (!parsed.owner) return true;
  return parsed.owner.bootId !== bootId || !isAlive(parsed.owner.pid);
}

/** Whether a process with this id exists (a process of another user counts). */
export function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
