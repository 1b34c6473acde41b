import t from 'tap';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactError, listVersions, loadProductArtifact, readActiveVersion, writeProductArtifact, type ManifestDraft } from '../../product/artifact.ts';
import {
  ProductVersionError,
  activateProductVersion,
  discardProductVersion,
  listProductSummaries,
  listProductVersions,
  normalizeVersion,
  pruneProductVersions,
  rollbackCandidates,
  rollbackProduct,
  versionAttachments,
  versionsToPrune,
} from '../../product/versions.ts';
import { tinyManifestDraft, TINY_BANK } from '../helpers/manifest-draft.ts';

const sha = 'a'.repeat(64);
function draft(productId: string, threshold: number): ManifestDraft {
  return tinyManifestDraft(productId, {
    createdAt: `2024-05-0${Math.round(threshold)}T10:00:00.000Z`,
    thresholds: { image: threshold, pixel: 1.2 },
    calibration: { heldOut: 1, margin: 0.1, method: 'cutswap', choices: { cutswap: { threshold, expectedFrr: 0.005, expectedMiss: 0.25 }, maxnormal: { threshold: threshold * 2, expectedFrr: 0.001, expectedMiss: 0.5 }, f1synthetic: { threshold: threshold / 2, expectedFrr: 0.2, expectedMiss: 0.1 } } },
    goldenSamples: { count: 12, files: [{ name: 'a.png', sha256: sha, role: 'bank' }], skipped: [] },
  });
}
const bank = TINY_BANK;

/** Three versions of `bracket` (v3 active, v2 with a truncated memory bank) and one of `washer`. */
async function library(dataDir: string) {
  await writeProductArtifact(dataDir, draft('bracket', 1), bank, { attachments: { 'synthetic-negatives.png': Uint8Array.from([1, 2]) } });
  await writeProductArtifact(dataDir, draft('bracket', 2), bank);
  await writeProductArtifact(dataDir, draft('bracket', 3), bank);
  await writeProductArtifact(dataDir, draft('washer', 4), bank);
  const file = join(dataDir, 'products', 'bracket', 'v2', 'memory-bank.safetensors');
  const bytes = await readFile(file);
  await writeFile(file, bytes.subarray(0, bytes.length - 8));
  return dataDir;
}

t.test('one version\'s attachments without verifying its artifact', async (t) => {
  const dataDir = await library(t.testdir({}));
  t.same(await versionAttachments(dataDir, 'bracket', 'v1'), ['synthetic-negatives.png']);
  t.same(await versionAttachments(dataDir, 'bracket', 'v2'), [], 'a damaged version still lists what is next to it');
  t.equal(await versionAttachments(dataDir, 'bracket', 'v9'), undefined, 'no such version');
  await t.rejects(versionAttachments(dataDir, '../etc', 'v1'), ProductVersionError);
});

t.test('versions: oldest first, active marked, manifest values, attachments, damaged ones flagged', async (t) => {
  const dataDir = await library(t.testdir({}));
  const versions = await listProductVersions(dataDir, 'bracket');
  t.same(versions.map((v) => [v.version, v.active]), [['v1', false], ['v2', false], ['v3', true]]);
  t.same(versions[0], {
    product: 'bracket',
    version: 'v1',
    active: false,
    createdAt: '2024-05-01T10:00:00.000Z',
    goldenSamples: 12,
    imageThreshold: 1,
    calibration: { method: 'cutswap', expectedFrr: 0.005, expectedMiss: 0.25 },
    alignment: null,
    scorer: 'patchcore',
    backbone: 'mobilenet_v2',
    attachments: ['synthetic-negatives.png'],
  });
  t.match(versions[1]!.error, /v2: memory-bank\.safetensors is corrupt or was modified/);
  t.equal(versions[1]!.imageThreshold, 2, 'a damaged version still shows what its manifest says');
  t.notOk(versions[2]!.error);
  t.same(await listProductVersions(dataDir, 'ghost'), [], 'an unknown product has no versions');
  await t.rejects(listProductVersions(dataDir, '../etc'), ProductVersionError);
});

t.test('a version whose manifest is unreadable is listed with its error', async (t) => {
  const dataDir = await library(t.testdir({}));
  await writeFile(join(dataDir, 'products', 'washer', 'v1', 'manifest.json'), '{"trunc');
  const [v1] = await listProductVersions(dataDir, 'washer');
  t.match(v1!.error, /manifest\.json is not valid JSON/);
  t.equal(v1!.goldenSamples, 0);
  t.ok(Number.isNaN(v1!.imageThreshold));
});

t.test('products: every product with its active version and version count', async (t) => {
  const dataDir = await library(t.testdir({}));
  t.same(await listProductSummaries(dataDir), [
    { product: 'bracket', active: 'v3', versions: 3 },
    { product: 'washer', active: 'v1', versions: 1 },
  ]);
  t.same(await listProductSummaries(join(dataDir, 'nothing-here')), []);
});

t.test('rollback candidates: older than the active one, newest first', async (t) => {
  t.same(rollbackCandidates(['v1', 'v2', 'v3', 'v10'], 'v10'), ['v3', 'v2', 'v1']);
  t.same(rollbackCandidates(['v1', 'v2', 'v3'], 'v2'), ['v1'], 'newer versions are not candidates');
  t.same(rollbackCandidates(['v1', 'v2'], 'v1'), []);
  t.same(rollbackCandidates(['v1', 'v2'], undefined), []);
  t.equal(normalizeVersion('3'), 'v3');
  t.equal(normalizeVersion('v07'), 'v7');
  t.equal(normalizeVersion('../v1'), null);
});

t.test('rollback passes over a damaged version to the newest one that loads', async (t) => {
  const dataDir = await library(t.testdir({}));
  const r = await rollbackProduct(dataDir, 'bracket');
  t.same([r.from, r.to], ['v3', 'v1']);
  t.same(r.skipped.map((s) => s.version), ['v2']);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  await t.rejects(rollbackProduct(dataDir, 'bracket'), /no version older than the active v1 to roll back to/);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
});

t.test('rollback with only damaged older versions leaves the active one', async (t) => {
  const dataDir = await library(t.testdir({}));
  await rm(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'));
  await t.rejects(rollbackProduct(dataDir, 'bracket'), /no version older than the active v3 loads, v3 stays active \(.*v2: memory-bank.*; .*v1: .*manifest\.json is missing\)/);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v3');
});

t.test('activate: verifies first; unknown versions are named with the ones that exist', async (t) => {
  const dataDir = await library(t.testdir({}));
  t.same(await activateProductVersion(dataDir, 'bracket', '1'), { from: 'v3', to: 'v1' });
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  await t.rejects(activateProductVersion(dataDir, 'bracket', 'v2'), ArtifactError);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1', 'a damaged version is not activated');
  await t.rejects(activateProductVersion(dataDir, 'bracket', 'v9'), /product "bracket" has no version "v9"; its versions are v1, v2, v3/);
  await t.rejects(activateProductVersion(dataDir, 'ghost', 'v1'), /product "ghost" is not enrolled/);
  await t.rejects(rollbackProduct(dataDir, 'ghost'), /product "ghost" is not enrolled/);
});

t.test('retention: versions beyond keep are pruned, never the active one nor the rollback target', async (t) => {
  const vs = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6'];
  t.same(versionsToPrune(vs, 'v6', 3), ['v1', 'v2', 'v3']);
  t.same(versionsToPrune(vs, 'v2', 2), ['v3', 'v4'], 'active v2 and its rollback target v1 stay');
  t.same(versionsToPrune(vs, undefined, 1), ['v1', 'v2', 'v3', 'v4', 'v5']);
  t.same(versionsToPrune(vs, 'v6', 0), [], '0 keeps every version');
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-prune-'));
  for (let i = 0; i < 5; i++) await writeProductArtifact(dataDir, tinyManifestDraft(), TINY_BANK, { activate: i < 2 });
  t.same(await pruneProductVersions(dataDir, 'bracket', 2), ['v3']);
  t.same(await listVersions(dataDir, 'bracket'), ['v1', 'v2', 'v4', 'v5']);
  await loadProductArtifact(dataDir, 'bracket');
  t.same((await readdir(join(dataDir, 'products', 'bracket'))).filter((e) => e.startsWith('.')), [], 'no temporaries remain');
});

t.test('discard: deletes a version the technician decided against, never the active one', async (t) => {
  const dataDir = await library(t.testdir({}));
  await t.rejects(discardProductVersion(dataDir, 'bracket', 'v3'), { name: 'ProductVersionError', message: /v3 is the active version of bracket; it is kept/ });
  await t.rejects(discardProductVersion(dataDir, 'bracket', 'v7'), { message: /product "bracket" has no version "v7"; its versions are v1, v2, v3/ });
  await t.rejects(discardProductVersion(dataDir, '../etc', 'v1'), ProductVersionError);
  await discardProductVersion(dataDir, 'bracket', 'v1');
  t.same(await listVersions(dataDir, 'bracket'), ['v2', 'v3']);
  t.same((await readdir(join(dataDir, 'products', 'bracket'))).filter((e) => e.startsWith('.') || e.includes('tmp')), [], 'no temporary folder is left behind');
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v3');
});
