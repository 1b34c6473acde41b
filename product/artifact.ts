/**
 * Product artifacts on disk: `<dataDir>/products/<productId>/<version>/`
 * holds `manifest.json` and `memory-bank.safetensors`; `<productId>/active`
 * names the version the runtime uses.
 *
 * Writes are crash-safe: a version is assembled in a temporary directory,
 * fsynced and renamed into place, and only then is `active` swapped (write a
 * temp file, rename over). A crash at any point leaves either the old or the
 * new model active, never half of one. Loading verifies every checksum and
 * the tensor shapes, so a truncated or tampered file is refused by name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { currentBootId, isStaleTempEntry, processExists, tempEntryName } from './artifact-temp.ts';
import { MANIFEST_SCHEMA_VERSION, manifestSchema, type Manifest } from './manifest.ts';
import { formatIssues } from '../config/errors.ts';
import { syncDir, writeDurable } from '../models/durable-file.ts';
import { decodeSafetensors, encodeSafetensors } from '../models/safetensors.ts';
import type { FeatureReduction } from '../models/features/reduction.ts';
import type { RefineModel } from '../models/refine/f2pad-model.ts';
import type { PositionGaussians } from '../models/padim/gaussian.ts';
import { localisationFromTensors, localisationShape, localisationTensors, type LocalisationWeights } from '../models/stn/localisation-net.ts';

export const BANK_FILE = 'memory-bank.safetensors';
export const MANIFEST_FILE = 'manifest.json';
const ACTIVE_FILE = 'active';

export class ArtifactError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactError';
  }
}

export interface ProductArtifact {
  dir: string;
  manifest: Manifest;
  /** Memory bank, [coreset.size, featureDim] row-major. */
  bank: Float32Array;
  /** PCA reduction applied to patch features before the search, when the manifest has one. */
  reduction?: FeatureReduction;
  /** F2PAD's pixel prior and golden references, when the product was enrolled with them. */
  refine?: RefineModel;
  /** The spatial transformer's localisation net, when the product aligns frames. */
  stn?: LocalisationWeights;
  /** PaDiM's Gaussians, when the product is scored by them. */
  padim?: PositionGaussians;
}

export type ManifestDraft = Omit<Manifest, 'version' | 'files' | 'schemaVersion'>;

export function productDir(dataDir: string, productId: string): string {
  return join(dataDir, 'products', productId);
}

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Versions present for a product, oldest first. */
export async function listVersions(dataDir: string, productId: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(productDir(dataDir, productId));
  } catch {
    return [];
  }
  return entries.filter((e) => /^v\d+$/.test(e)).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

export async function listProducts(dataDir: string): Promise<string[]> {
  try {
    return (await readdir(join(dataDir, 'products'))).filter((e) => !e.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Whether `name` is a version folder's name (`v` and a number), the only thing `active` may hold. */
export const isVersionName = (name: string): boolean => /^v\d{1,9}$/.test(name);

/** Whether `name` names a file directly inside a version folder (no separators, no `.`/`..`). */
export const isPlainFileName = (name: string): boolean =>
  name.length > 0 && name.length <= 255 && name === basename(name) && !name.includes('\\') && !name.includes('\0') && name !== '.' && name !== '..';

/**
 * The version `active` points at; undefined when there is none. A pointer
 * holding anything but a version name (`../../etc`) is refused: it is never
 * joined to a path.
 */
export async function readActiveVersion(dataDir: string, productId: string): Promise<string | undefined> {
  const file = join(productDir(dataDir, productId), ACTIVE_FILE);
  let version: string;
  try {
    version = (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (!version) return undefined;
  if (!isVersionName(version)) {
    throw new ArtifactError(`product "${productId}": ${file} holds ${JSON.stringify(version.slice(0, 64))}, not a version name like v3; activate a version again`);
  }
  return version;
}

/** Name for a temporary entry of this process (see artifact-temp.ts). */
const ownTempName = (kind: 'tmp' | 'active', label: string) =>
  tempEntryName(kind, { pid: process.pid, bootId: currentBootId() }, label, randomBytes(4).toString('hex'));

/** Removes temporaries whose writer is gone (a crashed enrollment); those of running writers stay. */
async function removeStaleTemporaries(dir: string): Promise<void> {
  const bootId = currentBootId();
  for (const entry of await readdir(dir)) {
    if (isStaleTempEntry(entry, bootId, processExists)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

/** Atomically points `active` at an existing, verified version. */
export async function activateVersion(dataDir: string, productId: string, version: string): Promise<void> {
  await loadProductArtifact(dataDir, productId, version);
  const dir = productDir(dataDir, productId);
  const tmp = join(dir, ownTempName('active', version));
  await writeDurable(tmp, `${version}\n`);
  await rename(tmp, join(dir, ACTIVE_FILE));
  await syncDir(dir);
}

type WriteOptions = {
  activate?: boolean;
  reduction?: FeatureReduction;
  refine?: RefineModel;
  stn?: LocalisationWeights;
  padim?: PositionGaussians;
  /** Files for people, written next to the manifest (e.g. contact sheets); the runtime never reads them. */
  attachments?: Record<string, Uint8Array>;
};

/** Writes the tensor file, attachments and manifest of `version` into the folder `tmp`. */
async function assembleVersion(tmp: string, version: string, draft: ManifestDraft, bank: Float32Array, opts: WriteOptions): Promise<void> {
  if (!!opts.reduction !== !!draft.reduction) throw new Error('the manifest and the reduction tensors disagree');
  if (!!opts.refine !== !!draft.refine) throw new Error('the manifest and the refinement tensors disagree');
  const tensors: Parameters<typeof encodeSafetensors>[0] = { bank: { shape: [draft.coreset.size, draft.featureDim], data: bank } };
  if (opts.reduction && draft.reduction) {
    tensors.reduction_mean = { shape: [draft.reduction.from], data: opts.reduction.mean };
    tensors.reduction_axes = { shape: [draft.reduction.from, draft.reduction.to], data: opts.reduction.axes };
  }
  if (opts.refine && draft.refine) {
    const { width, height } = draft.inputSize;
    const k = draft.refine.priorComponents;
    tensors.prior_means = { shape: [k, 3], data: opts.refine.prior.means };
    tensors.prior_precisions = { shape: [k, 3, 3], data: opts.refine.prior.precisions };
    const refs = new Uint8Array(opts.refine.references.length * width * height * 3);
    opts.refine.references.forEach((r, i) => refs.set(r, i * width * height * 3));
    tensors.references = { shape: [opts.refine.references.length, height, width, 3], data: refs };
  }
  if (!!opts.stn !== !!draft.alignment) throw new Error('the manifest and the spatial transformer tensors disagree');
  if (opts.stn && draft.alignment) Object.assign(tensors, localisationTensors(localisationShape(draft.inputSize, draft.alignment.hidden), opts.stn));
  if (!!opts.padim !== !!draft.padim) throw new Error('the manifest and the PaDiM tensors disagree');
  if (opts.padim) {
    const { positions, dim } = opts.padim;
    tensors.padim_mean = { shape: [positions, dim], data: opts.padim.mean };
    tensors.padim_precision = { shape: [positions, dim, dim], data: opts.padim.precision };
  }
  const bankBytes = encodeSafetensors(
    tensors,
    { productId: draft.productId, version },
  );
  await writeDurable(join(tmp, BANK_FILE), bankBytes);
  for (const [name, bytes] of Object.entries(opts.attachments ?? {})) {
    if (name !== basename(name) || name === BANK_FILE || name === MANIFEST_FILE) throw new Error(`attachment name ${name} is not a plain file name of its own`);
    await writeDurable(join(tmp, name), bytes);
  }
  const manifest: Manifest = { schemaVersion: MANIFEST_SCHEMA_VERSION, ...draft, version, files: { [BANK_FILE]: sha256Of(bankBytes) } };
  manifestSchema.parse(manifest);
  await writeDurable(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** A full or read-only disk as an ArtifactError saying so (nothing was changed); other errors as they are. */
function storageError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new ArtifactError(`${what}: the disk is full; nothing was changed, the active version stays`);
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return new ArtifactError(`${what}: the data folder is not writable (${code}); nothing was changed, the active version stays`);
  return err;
}

/** Writes a new version of a product and (by default) makes it active. Returns its version. */
export async function writeProductArtifact(
  dataDir: string,
  draft: ManifestDraft,
  bank: Float32Array,
  opts: WriteOptions = {},
): Promise<{ version: string; dir: string }> {
  const dir = productDir(dataDir, draft.productId);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw storageError(err, `product "${draft.productId}": cannot create ${dir}`);
  }
  // Leftovers of an enrollment that crashed half-way are never active: remove them.
  await removeStaleTemporaries(dir);
  let version = '';
  // Two enrollments of one product may pick the same next number: the second rename fails and it takes the next one.
  for (let attempt = 0; ; attempt++) {
    const versions = await listVersions(dataDir, draft.productId);
    version = `v${versions.length === 0 ? 1 : Number(versions.at(-1)!.slice(1)) + 1}`;
    const tmp = join(dir, ownTempName('tmp', version));
    try {
      await mkdir(tmp);
      await assembleVersion(tmp, version, draft, bank, opts);
      await syncDir(tmp);
      await rename(tmp, join(dir, version));
      await syncDir(dir);
      break;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && attempt < 100) continue;
      throw storageError(err, `product "${draft.productId}": cannot write version ${version} into ${dir}`);
    }
  }
  if (opts.activate !== false) await activateVersion(dataDir, draft.productId, version);
  return { version, dir: join(dir, version) };
}

/** Loads and verifies a version (default: the active one). Throws ArtifactError with a clear reason. */
export async function loadProductArtifact(dataDir: string, productId: string, version?: string): Promise<ProductArtifact> {
  const pdir = productDir(dataDir, productId);
  const v = version ?? (await readActiveVersion(dataDir, productId));
  if (!v) {
    const exists = await stat(pdir).then(() => true, () => false);
    throw new ArtifactError(
      exists
        ? `product "${productId}" has no active version in ${pdir} (enroll it again or activate a version)`
        : `product "${productId}" is not enrolled (no ${pdir}); run: linesight enroll --product ${productId} --images <folder>`,
    );
  }
  if (!isVersionName(v)) throw new ArtifactError(`product "${productId}": "${v.slice(0, 64)}" is not a version name like v3`);
  return loadArtifactDir(join(pdir, v), productId, v);
}

/**
 * Loads and verifies the version stored in `dir` (checksums, tensor shapes).
 * Used for a version before it is moved into place, e.g. one received from
 * another device, so it is verified by the same rules as an enrolled one.
 */
export async function loadArtifactDir(dir: string, productId: string, v: string): Promise<ProductArtifact> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new ArtifactError(`product "${productId}" version ${v}: ${join(dir, MANIFEST_FILE)} is missing`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ArtifactError(`product "${productId}" version ${v}: manifest.json is not valid JSON (truncated or edited?)`);
  }
  const schemaVersion = (raw as { schemaVersion?: unknown })?.schemaVersion;
  if (schemaVersion !== MANIFEST_SCHEMA_VERSION) {
    throw new ArtifactError(
      `product "${productId}" version ${v} was written with artifact format ${String(schemaVersion)}; this linesight reads format ${MANIFEST_SCHEMA_VERSION}. Enroll the product again.`,
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new ArtifactError(formatIssues(parsed.error, `product "${productId}" version ${v} manifest.json`));
  const manifest = parsed.data;
  const contents = new Map<string, Uint8Array>();
  for (const [file, expected] of Object.entries(manifest.files)) {
    if (!isPlainFileName(file)) {
      throw new ArtifactError(`product "${productId}" version ${v}: manifest.json lists the file ${JSON.stringify(file.slice(0, 64))}, which is not a plain file name inside the version folder`);
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(dir, file));
    } catch {
      throw new ArtifactError(`product "${productId}" version ${v}: ${file} is missing`);
    }
    if (sha256Of(bytes) !== expected) {
      throw new ArtifactError(`product "${productId}" version ${v}: ${file} is corrupt or was modified (checksum mismatch); enroll again or activate another version`);
    }
    contents.set(file, bytes);
  }
  const bankBytes = contents.get(BANK_FILE);
  if (!bankBytes) throw new ArtifactError(`product "${productId}" version ${v}: the manifest lists no ${BANK_FILE}`);
  const { tensors } = decodeSafetensors(bankBytes, join(dir, BANK_FILE));
  const bank = tensors.get('bank');
  const want = [manifest.coreset.size, manifest.featureDim];
  if (!bank || !(bank.data instanceof Float32Array) || bank.shape.join() !== want.join()) {
    throw new ArtifactError(`product "${productId}" version ${v}: memory bank shape [${bank?.shape ?? '?'}] does not match the manifest [${want}]`);
  }
  let reduction: FeatureReduction | undefined;
  if (manifest.reduction) {
    const mean = tensors.get('reduction_mean');
    const axes = tensors.get('reduction_axes');
    const { from, to } = manifest.reduction;
    if (!(mean?.data instanceof Float32Array) || !(axes?.data instanceof Float32Array) || mean.shape.join() !== `${from}` || axes.shape.join() !== `${from},${to}` || to !== manifest.featureDim) {
      throw new ArtifactError(`product "${productId}" version ${v}: the feature reduction tensors do not match the manifest (${from} -> ${to})`);
    }
    reduction = { mean: mean.data, axes: axes.data };
  }
  let refine: RefineModel | undefined;
  if (manifest.refine) {
    const { priorComponents: k, references: count } = manifest.refine;
    const { width, height } = manifest.inputSize;
    const means = tensors.get('prior_means');
    const precisions = tensors.get('prior_precisions');
    const refs = tensors.get('references');
    if (
      !(means?.data instanceof Float32Array) ||
      !(precisions?.data instanceof Float32Array) ||
      !(refs?.data instanceof Uint8Array) ||
      means.shape.join() !== `${k},3` ||
      precisions.shape.join() !== `${k},3,3` ||
      refs.shape.join() !== `${count},${height},${width},3`
    ) {
      throw new ArtifactError(`product "${productId}" version ${v}: the mask refinement tensors do not match the manifest`);
    }
    const size = width * height * 3;
    const pixels = refs.data;
    refine = {
      prior: { means: means.data, precisions: precisions.data },
      references: Array.from({ length: count }, (_, i) => pixels.subarray(i * size, (i + 1) * size)),
    };
  }
  let stn: LocalisationWeights | undefined;
  if (manifest.alignment) {
    try {
      stn = localisationFromTensors(localisationShape(manifest.inputSize, manifest.alignment.hidden), tensors);
    } catch (err) {
      throw new ArtifactError(`product "${productId}" version ${v}: ${(err as Error).message}`);
    }
  }
  let padim: PositionGaussians | undefined;
  if (manifest.padim) {
    const positions = manifest.grid.width * manifest.grid.height;
    const { dim } = manifest.padim;
    const mean = tensors.get('padim_mean');
    const precision = tensors.get('padim_precision');
    if (!(mean?.data instanceof Float32Array) || !(precision?.data instanceof Float32Array) || mean.shape.join() !== `${positions},${dim}` || precision.shape.join() !== `${positions},${dim},${dim}`) {
      throw new ArtifactError(`product "${productId}" version ${v}: the PaDiM tensors do not match the manifest (${positions} positions x ${dim})`);
    }
    padim = { positions, dim, mean: mean.data, precision: precision.data };
  }
  return { dir, manifest, bank: bank.data, reduction, refine, stn, padim };
}
