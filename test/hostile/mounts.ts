/**
 * Small file systems for fault tests: a tmpfs of a given size (to fill up)
 * and remounting it read-only. Needs root (the device's test machines run the
 * suite as root); anything else fails the test with the reason, never skips.
 */
import { execFile } from 'node:child_process';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SmallDisk {
  dir: string;
  /** Writes filler until the disk is full; returns the filler's path. */
  fill(): Promise<string>;
  readOnly(): Promise<void>;
  writable(): Promise<void>;
  unmount(): Promise<void>;
}

export async function mountSmallDisk(dir: string, size = '2m'): Promise<SmallDisk> {
  await mkdir(dir, { recursive: true });
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (err) {
    throw new Error(`cannot mount a ${size} tmpfs at ${dir} (the disk-full and read-only faults need root and mount): ${(err as Error).message}`);
  }
  return {
    dir,
    async fill() {
      const path = join(dir, `filler-${Date.now()}`);
      const fh = await open(path, 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) await fh.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last partial blocks as well.
      try {
        for (;;) await fh.write(Buffer.alloc(512, 1));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await fh.close();
      }
      return path;
    },
    readOnly: async () => void (await run('mount', ['-o', 'remount,ro', dir])),
    writable: async () => void (await run('mount', ['-o', 'remount,rw', dir])),
    unmount: async () => void (await run('umount', ['-l', dir])),
  };
}
