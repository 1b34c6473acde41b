import t from 'tap';
import { mkdtemp, readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  activateVersion,
  listVersions,
  loadProductArtifact,
  readActiveVersion,
  writeProductArtifact,
} from '../../product/artifact.ts';
import { currentBootId, tempEntryName } from '../../product/artifact-temp.ts';
import { localisationShape } from '../../models/stn/localisation-net.ts';
import { tinyManifestDraft, TINY_BANK } from '../helpers/manifest-draft.ts';

const draft = tinyManifestDraft;
const bank = TINY_BANK;

t.test('write, activate and load round-trip', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const first = await writeProductArtifact(dataDir, draft(), bank);
  t.equal(first.version, 'v1');
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1');
  const loaded = await loadProductArtifact(dataDir, 'bracket');
  t.same(Array.from(loaded.bank), Array.from(bank));
  t.equal(loaded.manifest.thresholds.image, 1.5);
  t.match(loaded.manifest.files['memory-bank.safetensors']!, /^[0-9a-f]{64}$/);

  const second = await writeProductArtifact(dataDir, draft(), bank, { activate: false });
  t.equal(second.version, 'v2');
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1', 'a version written without activation is not active');
  await activateVersion(dataDir, 'bracket', 'v2');
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v2');
  t.same(await listVersions(dataDir, 'bracket'), ['v1', 'v2']);
  t.same((await readdir(join(dataDir, 'products', 'bracket'))).filter((e) => e.startsWith('.')), [], 'no temporary files remain');
});

t.test('F2PAD data (pixel prior, 8-bit golden references) round-trips; without it the artifact still loads', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const prior = { means: Float32Array.from([0.1, 0.2, 0.3]), precisions: Float32Array.from([4, 0, 0, 0, 5, 0, 0, 0, 6]) };
  const references = [Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => i % 256), new Uint8Array(8 * 8 * 3).fill(200)];
  await writeProductArtifact(dataDir, { ...draft(), refine: { priorComponents: 1, references: 2 } }, bank, { refine: { prior, references } });
  const loaded = await loadProductArtifact(dataDir, 'bracket');
  t.same([...loaded.refine!.prior.means], [...prior.means]);
  t.same([...loaded.refine!.prior.precisions], [...prior.precisions]);
  t.same(loaded.refine!.references.map((r) => [...r]), references.map((r) => [...r]));
  await t.rejects(
    writeProductArtifact(dataDir, draft(), bank, { refine: { prior, references } }),
    /the manifest and the refinement tensors disagree/,
  );
  await writeProductArtifact(dataDir, draft(), bank);
  t.equal((await loadProductArtifact(dataDir, 'bracket')).refine, undefined, 'a product enrolled without F2PAD data has none');
});

t.test('spatial transformer and PaDiM tensors round-trip; the manifest and tensors must agree', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const size = { width: 64, height: 64 };
  const shape = localisationShape(size, 4);
  let inC = 3;
  const stn = {
    conv: shape.convs.map(([, , outC], i) => {
      const k = i === 0 ? 3 : 2;
      const c = { kernel: Float32Array.from({ length: k * k * inC * outC }, (_, j) => j / 100), bias: new Float32Array(outC).fill(i) };
      inC = outC;
      return c;
    }),
    hidden: { weight: new Float32Array(shape.flat * 4).fill(0.5), bias: new Float32Array(4) },
    pose: { weight: new Float32Array(16), bias: Float32Array.from([1, 0, 0, 0]) },
  };
  const alignment = {
    method: 'stn' as const,
    loss: 'image' as const,
    ranges: { rotation: 30, translation: 0.15, scale: 0.05 },
    hidden: 4,
    reference: 'a.png',
    steps: 10,
    backend: 'wasm',
    trainSeconds: 1,
    lossCurve: [1, 0.5],
    ssim: { train: 0.9, validation: 0.8 },
    msSsim: { train: 0.9, validation: 0.85 },
    residuals: { median: 0.1, max: 0.2 },
  };
  const padim = { positions: 4, dim: 3, mean: Float32Array.from({ length: 12 }, (_, i) => i), precision: new Float32Array(36).fill(0.25) };
  const d = { ...draft(), inputSize: size, alignment, scorer: 'padim' as const, padim: { epsilon: 0.01, dim: 3 } };
  await writeProductArtifact(dataDir, d, bank, { stn, padim });
  const loaded = await loadProductArtifact(dataDir, 'bracket');
  t.same([...loaded.stn!.conv[2]!.kernel], [...stn.conv[2]!.kernel]);
  t.same([...loaded.stn!.pose.bias], [1, 0, 0, 0]);
  t.same([...loaded.padim!.mean], [...padim.mean]);
  t.equal(loaded.padim!.precision.length, 36);
  t.equal(loaded.manifest.alignment!.ssim.validation, 0.8);
  await t.rejects(writeProductArtifact(dataDir, d, bank, { padim }), /spatial transformer tensors disagree/);
  await t.rejects(writeProductArtifact(dataDir, { ...d, scorer: undefined, padim: undefined }, bank, { stn, padim }), /PaDiM tensors disagree/);
  // A manifest whose transformer width does not match the stored tensors is refused by tensor name.
  const m = JSON.parse(await readFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'), 'utf8'));
  m.alignment.hidden = 8;
  await writeFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'), JSON.stringify(m));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /v1: spatial transformer tensor stn_hidden_weight is missing or not \[32,8\]/);
});

t.test('a tampered or truncated bank is refused by name and cannot be activated', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  await writeProductArtifact(dataDir, draft(), bank);
  await writeProductArtifact(dataDir, draft(), bank, { activate: false });
  const file = join(dataDir, 'products', 'bracket', 'v2', 'memory-bank.safetensors');
  const bytes = await readFile(file);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await writeFile(file, bytes);
  await t.rejects(loadProductArtifact(dataDir, 'bracket', 'v2'), { name: 'ArtifactError', message: /v2: memory-bank\.safetensors is corrupt or was modified/ });
  await t.rejects(activateVersion(dataDir, 'bracket', 'v2'), /corrupt/);
  t.equal(await readActiveVersion(dataDir, 'bracket'), 'v1', 'the previous model stays active');
  await writeFile(file, bytes.subarray(0, 20));
  await t.rejects(loadProductArtifact(dataDir, 'bracket', 'v2'), /corrupt or was modified/);
});

t.test('a truncated, foreign or edited manifest is refused with a reason', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const { dir } = await writeProductArtifact(dataDir, draft(), bank);
  const manifestPath = join(dir, 'manifest.json');
  const text = await readFile(manifestPath, 'utf8');
  await writeFile(manifestPath, text.slice(0, 40));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /manifest\.json is not valid JSON/);
  const m = JSON.parse(text);
  await writeFile(manifestPath, JSON.stringify({ ...m, schemaVersion: 99 }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /artifact format 99; this linesight reads format 1/);
  await writeFile(manifestPath, JSON.stringify({ ...m, featureDim: 'three' }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /key "featureDim"/);
  await writeFile(manifestPath, JSON.stringify({ ...m, featureDim: 2 }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /memory bank shape \[2,3\] does not match the manifest \[2,2\]/);
});

t.test('missing products and half-written versions', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  await t.rejects(loadProductArtifact(dataDir, 'ghost'), /product "ghost" is not enrolled .*linesight enroll --product ghost/);
  // A crash during enrollment leaves a temporary folder: it is never active and is cleaned by the next write.
  const pdir = join(dataDir, 'products', 'bracket');
  await mkdir(join(pdir, '.tmp-v1-dead'), { recursive: true });
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /has no active version/);
  const { version } = await writeProductArtifact(dataDir, draft(), bank);
  t.equal(version, 'v1');
  t.same((await readdir(pdir)).sort(), ['active', 'v1']);
});

t.test('attachments are written next to the manifest; a path or a reserved name is refused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const png = Uint8Array.from([137, 80, 78, 71]);
  const { dir } = await writeProductArtifact(dataDir, { ...draft(), attachments: ['synthetic-negatives.png'] }, bank, { attachments: { 'synthetic-negatives.png': png } });
  t.same([...(await readFile(join(dir, 'synthetic-negatives.png')))], [...png]);
  t.ok(await loadProductArtifact(dataDir, 'bracket'), 'the version loads with its attachment');
  await t.rejects(writeProductArtifact(dataDir, draft(), bank, { attachments: { '../escape.png': png } }), /not a plain file name/);
  await t.rejects(writeProductArtifact(dataDir, draft(), bank, { attachments: { 'manifest.json': png } }), /not a plain file name/);
  t.same((await readdir(join(dataDir, 'products', 'bracket'))).sort(), ['active', 'v1'], 'a refused write leaves no version behind');
});

t.test('two enrollments of one product at once both succeed; only the leftovers of a writer that is gone are removed', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const written = await Promise.all([1, 2, 3, 4].map(() => writeProductArtifact(dataDir, draft(), bank, { activate: false })));
  t.same(written.map((w) => w.version).sort(), ['v1', 'v2', 'v3', 'v4'], 'each write got its own version');
  for (const w of written) await loadProductArtifact(dataDir, 'bracket', w.version);
  const pdir = join(dataDir, 'products', 'bracket');
  // A running writer's folder (this process), a crashed one (no such pid), one from before a reboot, one from an older release.
  const running = tempEntryName('tmp', { pid: process.pid, bootId: currentBootId() }, 'v9', 'aaaa');
  const crashed = tempEntryName('tmp', { pid: 2 ** 22 + 17, bootId: currentBootId() }, 'v9', 'bbbb');
  const beforeBoot = tempEntryName('active', { pid: process.pid, bootId: 'fffffffffff0' }, 'v1', 'cccc');
  for (const name of [running, crashed, beforeBoot, '.tmp-v7-dddd']) await mkdir(join(pdir, name));
  await writeProductArtifact(dataDir, draft(), bank);
  t.same((await readdir(pdir)).filter((e) => e.startsWith('.')), [running], "a running writer's folder stays, stale ones are removed");
});

t.test('an active pointer or a manifest file name that leaves the version folder is refused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  await writeProductArtifact(dataDir, draft(), bank);
  const pdir = join(dataDir, 'products', 'bracket');
  await writeFile(join(pdir, 'active'), '../../etc\n');
  await t.rejects(readActiveVersion(dataDir, 'bracket'), { name: 'ArtifactError', message: /active holds "..\/..\/etc", not a version name like v3/ });
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), { name: 'ArtifactError', message: /not a version name/ });
  await t.rejects(loadProductArtifact(dataDir, 'bracket', '../other'), { name: 'ArtifactError', message: /"..\/other" is not a version name/ });
  await writeFile(join(pdir, 'active'), 'v1\n');
  const manifestPath = join(pdir, 'v1', 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  for (const key of ['../../etc/passwd', 'sub/memory-bank.safetensors', '..', '/etc/hostname']) {
    await writeFile(manifestPath, JSON.stringify({ ...manifest, files: { ...manifest.files, [key]: 'a'.repeat(64) } }));
    await t.rejects(loadProductArtifact(dataDir, 'bracket'), { name: 'ArtifactError', message: /which is not a plain file name inside the version folder/ }, key);
  }
});

t.test('an int8 product keeps its precision and calibrated activation ranges through write and load', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const int8 = { calibration: 'minmax' as const, samples: 12, ranges: { input_1: [-1, 1] as [number, number], Conv1_relu: [0, 5.75] as [number, number] } };
  await writeProductArtifact(dataDir, draft('bracket', { precision: 'int8', int8 }), bank);
  const loaded = await loadProductArtifact(dataDir, 'bracket');
  t.equal(loaded.manifest.precision, 'int8');
  t.same(loaded.manifest.int8, int8);
  const m = JSON.parse(await readFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'), 'utf8'));
  await writeFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'), JSON.stringify({ ...m, int8: { ...int8, ranges: { input_1: [-1] } } }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /int8/, 'a range that is not [min, max] is refused');
  await writeFile(join(dataDir, 'products', 'bracket', 'v1', 'manifest.json'), JSON.stringify({ ...m, precision: 'int4' }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /precision/);
});

t.test('what camera-jitter calibration used round-trips through the manifest; an incomplete record is refused', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-artifact-'));
  const jitter = { views: 4, ranges: { rotation: 3, zoom: 0.03, shift: 0.03, gain: 0.08, offset: 6, noise: 3 }, scores: 10, jitteredScores: { min: 1, max: 2.5, mean: 1.6 } };
  const calibration = { heldOut: 2, margin: 0.1, method: 'cutswap' as const, targetFrr: 0.005, jitter };
  await writeProductArtifact(dataDir, draft('bracket', { calibration }), bank);
  const loaded = await loadProductArtifact(dataDir, 'bracket');
  t.same(loaded.manifest.calibration.jitter, jitter);
  t.equal(loaded.manifest.calibration.targetFrr, 0.005);
  const path = join(dataDir, 'products', 'bracket', 'v1', 'manifest.json');
  const m = JSON.parse(await readFile(path, 'utf8'));
  const { noise: _noise, ...withoutNoise } = jitter.ranges;
  await writeFile(path, JSON.stringify({ ...m, calibration: { ...calibration, jitter: { ...jitter, ranges: withoutNoise } } }));
  await t.rejects(loadProductArtifact(dataDir, 'bracket'), /noise/, 'the ranges are recorded in full');
});
