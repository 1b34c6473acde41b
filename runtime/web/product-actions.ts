/**
 * What the Products page shows of versions: which version a roll back
 * returns to, and which attachment files of a version may be served.
 */
import { rollbackCandidates, type VersionSummary } from '../../product/versions.ts';

/** The version a roll back would activate (the newest older usable one), or why there is none. */
export function rollbackHint(versions: VersionSummary[]): { version: string } | { reason: string } {
  const active = versions.find((v) => v.active);
  if (!active) return { reason: 'no version is active, so there is nothing to roll back from' };
  const usable = new Set(versions.filter((v) => !v.error).map((v) => v.version));
  const target = rollbackCandidates(versions.map((v) => v.version), active.version).find((v) => usable.has(v));
  return target ? { version: target } : { reason: `${active.version} is the oldest usable version; there is nothing older to roll back to` };
}


/** The attachment may be served: the version lists it and the name stays inside the version folder. */
export function servableAttachment(version: Pick<VersionSummary, 'attachments'> | undefined, name: string): boolean {
  return version !== undefined && !name.includes('/') && !name.includes('\\') && !name.includes('..') && version.attachments.includes(name);
}
