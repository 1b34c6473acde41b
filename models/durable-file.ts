/**
 * Files that survive a power cut: contents flushed to the disk before they
 * are put in place, and the folder flushed after a rename or link, so a
 * device that loses power mid-write finds the old file or the new one,
 * never half of one. Used by product artifacts and captured golden samples.
 */
import { open } from 'node:fs/promises';

/** Writes `bytes` to `path` and waits until they are on the disk. */
export async function writeDurable(path: string, bytes: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (names created, renamed or linked in it). */
export async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
