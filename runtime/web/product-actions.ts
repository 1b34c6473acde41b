/**
 * What the Products page does with versions: which version a roll back
 * returns to, and which attachment files of a version may be served.
 */
import type { VersionSummary } from '../product-versions.ts';

/**
 * The version a roll back activates: the newest usable version older than
 * the active one. Undefined (with the reason) when there is none.
 */
export function rollbackTarget(versions: VersionSummary[]): { version: string } | { reason: string } {
  const activeAt = versions.findIndex((v) => v.active);
  if (activeAt < 0) return { reason: 'no version is active, so there is nothing to roll back from' };
  for (let i = activeAt - 1; i >= 0; i--) {
    if (!versions[i]!.error) return { version: versions[i]!.version };
  }
  return { reason: `${versions[activeAt]!.version} is the oldest usable version; there is nothing older to roll back to` };
}

/** The attachment may be served: the version lists it and the name stays inside the version folder. */
export function servableAttachment(version: VersionSummary | undefined, name: string): boolean {
  return version !== undefined && !name.includes('/') && !name.includes('\\') && !name.includes('..') && version.attachments.includes(name);
}
