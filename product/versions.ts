/**
 * The versions of enrolled products as a technician sees them (CLI
 * `products` / `versions` / `activate` / `rollback` and the web UI): what each
 * version was enrolled from, how it is expected to perform, whether its files
 * are intact, and switching the active one. Activation verifies the artifact
 * first (product/artifact.ts), so a damaged version is never made
 * active and a running device keeps its current model.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ArtifactError,
  MANIFEST_FILE,
  activateVersion,
  listProducts,
  listVersions,
  loadProductArtifact,
  productDir,
  readActiveVersion,
} from './artifact.ts';
import { SIGNATURE_FILE } from './signing.ts';
import { productIdSchema } from '../config/names.ts';
import { syncDir } from '../models/durable-file.ts';
import { currentBootId, tempEntryName } from './artifact-temp.ts';

export interface VersionSummary {
  product: string;
  version: string;
  active: boolean;
  createdAt: string;
  goldenSamples: number;
  imageThreshold: number;
  calibration: { method: string | null; expectedFrr: number | null; expectedMiss: number | null };
  /** From manifest.alignment (validation values). */
  alignment: { ssim: number; msSsim: number; trainSeconds: number } | null;
  scorer: string;
  backbone: string;
  /** Attachment file names next to the manifest (contact sheets). */
  attachments: string[];
  /** Set when the version's artifact is damaged (other fields best effort). */
  error?: string;
}

export class ProductVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProductVersionError';
  }
}

function checkProductId(productId: string): void {
  const r = productIdSchema.safeParse(productId);
  if (!r.success) throw new ProductVersionError(`product id "${productId}": ${r.error.issues.map((i) => i.message).join('; ')}`);
}

type Loose = Record<string, unknown> | undefined;
const obj = (v: unknown): Loose => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A summary from a manifest, verified or not (pure; missing fields become null / NaN / ''). */
export function summarizeManifest(product: string, version: string, active: boolean, manifest: unknown, attachments: string[]): VersionSummary {
  const m = obj(manifest) ?? {};
  const calibration = obj(m.calibration);
  const method = str(calibration?.method);
  const choice = method ? obj(obj(calibration?.choices)?.[method]) : undefined;
  const alignment = obj(m.alignment);
  return {
    product,
    version,
    active,
    createdAt: str(m.createdAt) ?? '',
    goldenSamples: num(obj(m.goldenSamples)?.count) ?? 0,
    imageThreshold: num(obj(m.thresholds)?.image) ?? NaN,
    calibration: { method, expectedFrr: num(choice?.expectedFrr), expectedMiss: num(choice?.expectedMiss) },
    alignment: alignment
      ? { ssim: num(obj(alignment.ssim)?.validation) ?? NaN, msSsim: num(obj(alignment.msSsim)?.validation) ?? NaN, trainSeconds: num(alignment.trainSeconds) ?? NaN }
      : null,
    scorer: str(m.scorer) ?? 'patchcore',
    backbone: str(obj(m.backbone)?.id) ?? '',
    attachments,
  };
}

/** Files for people next to the manifest: everything but the manifest, tensor files, the fleet signature and temporaries. */
async function attachmentsOf(dir: string, manifest: Loose): Promise<string[]> {
  const tensors = new Set(Object.keys(obj(manifest?.files) ?? {}));
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries.filter((e) => e !== MANIFEST_FILE && e !== SIGNATURE_FILE && !tensors.has(e) && !e.endsWith('.safetensors') && !e.startsWith('.')).sort();
}

/** The manifest as written, unverified; undefined when it cannot be read or parsed. */
async function readRawManifest(dir: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

async function summarizeVersion(dataDir: string, productId: string, version: string, active: boolean): Promise<VersionSummary> {
  const dir = join(productDir(dataDir, productId), version);
  try {
    const { manifest } = await loadProductArtifact(dataDir, productId, version);
    return summarizeManifest(productId, version, active, manifest, await attachmentsOf(dir, manifest as unknown as Loose));
  } catch (err) {
    if (!(err instanceof ArtifactError)) throw err;
    const raw = await readRawManifest(dir);
    return { ...summarizeManifest(productId, version, active, raw, await attachmentsOf(dir, obj(raw))), error: err.message };
  }
}

/**
 * The attachment file names of one version (contact sheets), read from its
 * folder without verifying the artifact — serving a picture needs no
 * checksums of the memory bank. Undefined when there is no such version.
 */
export async function versionAttachments(dataDir: string, productId: string, version: string): Promise<string[] | undefined> {
  checkProductId(productId);
  if (!(await listVersions(dataDir, productId)).includes(version)) return undefined;
  const dir = join(productDir(dataDir, productId), version);
  return attachmentsOf(dir, obj(await readRawManifest(dir)));
}

/** Every version of a product, oldest first, each verified (checksums, tensor shapes). */
export async function listProductVersions(dataDir: string, productId: string): Promise<VersionSummary[]> {
  checkProductId(productId);
  const versions = await listVersions(dataDir, productId);
  const active = await readActiveVersion(dataDir, productId);
  const out: VersionSummary[] = [];
  for (const v of versions) out.push(await summarizeVersion(dataDir, productId, v, v === active));
  return out;
}

export async function listProductSummaries(dataDir: string): Promise<{ product: string; active: string | null; versions: number }[]> {
  const out: { product: string; active: string | null; versions: number }[] = [];
  for (const product of await listProducts(dataDir)) {
    out.push({ product, active: (await readActiveVersion(dataDir, product)) ?? null, versions: (await listVersions(dataDir, product)).length });
  }
  return out;
}

/** `v3` from `v3` or `3`; null for anything else. */
export function normalizeVersion(value: string): string | null {
  const m = /^v?(\d+)$/i.exec(value.trim());
  return m ? `v${Number(m[1])}` : null;
}

/** Versions a rollback may go to, best first: those older than `active`, newest first (pure). */
export function rollbackCandidates(versions: string[], active: string | undefined): string[] {
  if (!active) return [];
  const n = (v: string) => Number(v.slice(1));
  return versions.filter((v) => n(v) < n(active)).sort((a, b) => n(b) - n(a));
}

/** Makes `version` active after verifying it. Unknown or damaged versions throw; the active pointer is then unchanged. */
export async function activateProductVersion(dataDir: string, productId: string, version: string): Promise<{ from: string | null; to: string }> {
  checkProductId(productId);
  const versions = await listVersions(dataDir, productId);
  if (versions.length === 0) throw new ProductVersionError(`product "${productId}" is not enrolled in ${dataDir} (no versions); run: linesight enroll --product ${productId} --images <folder>`);
  const v = normalizeVersion(version);
  if (!v || !versions.includes(v)) throw new ProductVersionError(`product "${productId}" has no version "${version}"; its versions are ${versions.join(', ')}`);
  const from = (await readActiveVersion(dataDir, productId)) ?? null;
  await activateVersion(dataDir, productId, v);
  return { from, to: v };
}

export interface RollbackResult {
  from: string;
  to: string;
  /** Newer candidates passed over because they do not load. */
  skipped: { version: string; reason: string }[];
}

/** Activates the newest version older than the active one that loads. */
export async function rollbackProduct(dataDir: string, productId: string): Promise<RollbackResult> {
  checkProductId(productId);
  const versions = await listVersions(dataDir, productId);
  if (versions.length === 0) throw new ProductVersionError(`product "${productId}" is not enrolled in ${dataDir} (no versions); run: linesight enroll --product ${productId} --images <folder>`);
  const active = await readActiveVersion(dataDir, productId);
  if (!active) throw new ProductVersionError(`product "${productId}" has no active version to roll back from; activate one with: linesight activate --product ${productId} --version <v> (versions: ${versions.join(', ')})`);
  const candidates = rollbackCandidates(versions, active);
  if (candidates.length === 0) throw new ProductVersionError(`product "${productId}" has no version older than the active ${active} to roll back to`);
  const skipped: { version: string; reason: string }[] = [];
  for (const v of candidates) {
    try {
      await activateVersion(dataDir, productId, v);
      return { from: active, to: v, skipped };
    } catch (err) {
      if (!(err instanceof ArtifactError)) throw err;
      skipped.push({ version: v, reason: err.message });
    }
  }
  throw new ProductVersionError(
    `product "${productId}": no version older than the active ${active} loads, ${active} stays active (${skipped.map((s) => s.reason).join('; ')})`,
  );
}


/**
 * Versions a retention of `keep` deletes (pure): all but the newest `keep`,
 * never the active one nor the one a rollback would pick. `keep` 0 keeps all.
 */
export function versionsToPrune(versions: string[], active: string | undefined, keep: number): string[] {
  if (!(keep > 0)) return [];
  const n = (v: string) => Number(v.slice(1));
  const newestFirst = [...versions].sort((a, b) => n(b) - n(a));
  const kept = new Set(newestFirst.slice(0, keep));
  if (active) kept.add(active);
  const rollbackTarget = rollbackCandidates(versions, active)[0];
  if (rollbackTarget) kept.add(rollbackTarget);
  return versions.filter((v) => !kept.has(v));
}

/**
 * Deletes the versions `versionsToPrune` names. Each folder is first renamed
 * to a temporary name (one atomic step), so a power cut mid-delete leaves no
 * half version under a version name; the leftover is removed by the next write.
 */
export async function pruneProductVersions(dataDir: string, productId: string, keep: number): Promise<string[]> {
  checkProductId(productId);
  const doomed = versionsToPrune(await listVersions(dataDir, productId), await readActiveVersion(dataDir, productId), keep);
  for (const v of doomed) await deleteVersionFolder(dataDir, productId, v, 'prune');
  return doomed;
}

/** Deletes a version's folder: renamed to a temporary name first (one atomic step), then removed. */
async function deleteVersionFolder(dataDir: string, productId: string, version: string, why: string): Promise<void> {
  const dir = productDir(dataDir, productId);
  const tmp = join(dir, tempEntryName('tmp', { pid: process.pid, bootId: currentBootId() }, `${why}-${version}`, randomBytes(4).toString('hex')));
  await rename(join(dir, version), tmp);
  await syncDir(dir);
  await rm(tmp, { recursive: true, force: true });
}

/**
 * Deletes one version the technician decided against (a candidate built by
 * a product update and not wanted). The active version is never deleted.
 */
export async function discardProductVersion(dataDir: string, productId: string, version: string): Promise<void> {
  checkProductId(productId);
  const v = normalizeVersion(version);
  const versions = await listVersions(dataDir, productId);
  if (!v || !versions.includes(v)) throw new ProductVersionError(`product "${productId}" has no version "${version}"${versions.length ? `; its versions are ${versions.join(', ')}` : ''}`);
  if ((await readActiveVersion(dataDir, productId)) === v) throw new ProductVersionError(`${v} is the active version of ${productId}; it is kept (activate or roll back to another version first)`);
  await deleteVersionFolder(dataDir, productId, v, 'discard');
}
