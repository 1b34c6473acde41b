/**
 * Where a device keeps the golden samples its technicians capture or upload
 * from the web UI: `<dataDir>/golden/<product>/<set>/`, one folder per
 * session, named by its start time (20261123-130512). The runtime fills
 * them, enrollment trains on them, and a product update finds the held-out
 * samples of the active version there to recalibrate its threshold.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A set folder's name: its start time in UTC, with a counter when two sets start in the same second. */
export const GOLDEN_SET_NAME = /^\d{8}-\d{6}(-\d+)?$/;

export function goldenRoot(dataDir: string, product: string): string {
  return join(dataDir, 'golden', product);
}

/** The product's set folders, oldest first (none when the device has no golden samples of it). */
export async function goldenSetNames(dataDir: string, product: string): Promise<string[]> {
  try {
    return (await readdir(goldenRoot(dataDir, product))).filter((s) => GOLDEN_SET_NAME.test(s)).sort();
  } catch {
    return [];
  }
}
