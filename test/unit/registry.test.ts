import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ort from 'onnxruntime-node';
import {
  assertBackboneAvailable,
  backboneWeightsPath,
  DEFAULT_BACKBONE,
  INCEPTION_DEFAULT_LAYERS,
  loadBackbone,
  MOBILENET_DEFAULT_LAYERS,
  MOBILENET_MID_DEFAULT_LAYERS,
} from '../../models/backbones/registry.ts';
import { loadMobileNetV2 } from '../../models/backbones/mobilenet-v2.ts';
import { GraphBuilder, type Dim } from '../../models/onnx/graph-builder.ts';
import { encodeSafetensors, type TensorData } from '../../models/safetensors.ts';
import { downloadSource, fetchBackbone, PINNED_WEIGHTS } from '../../scripts/fetch-backbone.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** ResNet-18 weights in torchvision's layout with simple deterministic values (structure is what matters here). */
function resnet18File(): Uint8Array {
  const dict: Record<string, { shape: number[]; data: TensorData }> = {};
  const conv = (name: string, o: number, i: number, k: number) => {
    const data = new Float32Array(o * i * k * k);
    for (let j = 0; j < data.length; j++) data[j] = ((j % 13) - 6) * 0.002;
    dict[`${name}.weight`] = { shape: [o, i, k, k], data };
  };
  const bn = (name: string, c: number) => {
    dict[`${name}.weight`] = { shape: [c], data: new Float32Array(c).fill(1) };
    dict[`${name}.bias`] = { shape: [c], data: new Float32Array(c).fill(0.1) };
    dict[`${name}.running_mean`] = { shape: [c], data: new Float32Array(c) };
    dict[`${name}.running_var`] = { shape: [c], data: new Float32Array(c).fill(1) };
  };
  conv('conv1', 64, 3, 7);
  bn('bn1', 64);
  let cin = 64;
  for (let s = 0; s < 4; s++) {
    const c = 64 * 2 ** s;
    for (let b = 0; b < 2; b++) {
      const p = `layer${s + 1}.${b}`;
      conv(`${p}.conv1`, c, cin, 3);
      bn(`${p}.bn1`, c);
      conv(`${p}.conv2`, c, c, 3);
      bn(`${p}.bn2`, c);
      if (cin !== c) {
        conv(`${p}.downsample.0`, c, cin, 1);
        bn(`${p}.downsample.1`, c);
      }
      cin = c;
    }
  }
  dict['fc.weight'] = { shape: [1000, 512], data: new Float32Array(512000) };
  dict['fc.bias'] = { shape: [1000], data: new Float32Array(1000) };
  return encodeSafetensors(dict);
}

/**
 * A tiny ONNX feature extractor following the `onnx:` contract: NHWC image in,
 * `feat2` (4 channels, stride 2) and `feat4` (4 channels, stride 4) out.
 */
function tinyExtractor(opts: { inputName?: string; size?: [Dim, Dim]; channels?: number } = {}): Uint8Array {
  const [h, w] = opts.size ?? [16, 16];
  const c = opts.channels ?? 4;
  const g = new GraphBuilder('tiny');
  const image = g.input(opts.inputName ?? 'image', ['n', h, w, 3]);
  const nchw = g.op('Mul', [g.op('Transpose', [image], { perm: [0, 3, 1, 2] }), g.floats('scale', [1 / 255], [1])]);
  const f2 = g.op('Conv', [nchw, g.floats('w', new Float32Array(c * 12).fill(0.1), [c, 3, 2, 2])], { kernel_shape: [2, 2], strides: [2, 2] });
  const f4 = g.op('MaxPool', [f2], { kernel_shape: [2, 2], strides: [2, 2] });
  const half = (d: Dim) => (typeof d === 'number' ? d / 2 : `${d}_2`);
  const quarter = (d: Dim) => (typeof d === 'number' ? d / 4 : `${d}_4`);
  g.output(f2, 'feat2', ['n', c, half(h), half(w)]);
  g.output(f4, 'feat4', ['n', c, quarter(h), quarter(w)]);
  return g.toBytes();
}

const tinyManifest = { inputSize: [16, 16], outputs: [{ name: 'feat2', channels: 4, stride: 2 }, { name: 'feat4', channels: 4, stride: 4 }] };

async function tempDir(t: Test, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `linesight-${name}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function run(graph: Uint8Array, size: [number, number], fill = 255) {
  const session = await ort.InferenceSession.create(graph);
  try {
    const image = new ort.Tensor('float32', new Float32Array(size[0] * size[1] * 3).fill(fill), [1, size[0], size[1], 3]);
    return { inputNames: session.inputNames, out: await session.run({ image }) };
  } finally {
    await session.release();
  }
}

t.test('mobilenet_v2 is the default and runs from the installed npm package', async (t) => {
  t.equal(DEFAULT_BACKBONE, 'mobilenet_v2');
  const backbone = await loadBackbone('mobilenet_v2');
  t.equal(backbone.id, 'mobilenet_v2');
  t.equal(backbone.sha256, (await loadMobileNetV2()).sha256);
  t.match(backbone.sha256, /^[0-9a-f]{64}$/);
  t.same(backbone.defaultLayers, ['block_5_add', 'block_12_add']);
  t.same(backbone.defaultLayers, MOBILENET_DEFAULT_LAYERS);
  const names = backbone.layers.map((l) => l.name);
  t.ok(backbone.defaultLayers.every((l) => names.includes(l)), 'default layers are feature layers');
  t.ok(backbone.ir);
  const { inputNames, out } = await run(backbone.buildGraph(backbone.defaultLayers, [64, 64]), [64, 64]);
  t.same(inputNames, ['image']);
  t.same(out.block_5_add!.dims, [1, 32, 8, 8]);
  t.same(out.block_12_add!.dims, [1, 96, 4, 4]);
});

t.test('mobilenet_v2_mid and inception_v3 run from the installed npm package with their own default layers', async (t) => {
  const shas = new Set([(await loadBackbone('mobilenet_v2')).sha256]);
  for (const [id, defaults, size, dims] of [
    ['mobilenet_v2_mid', MOBILENET_MID_DEFAULT_LAYERS, 64, [[1, 48, 8, 8], [1, 136, 4, 4]]],
    ['inception_v3', INCEPTION_DEFAULT_LAYERS, 75, [[1, 288, 7, 7], [1, 768, 3, 3]]],
  ] as const) {
    await assertBackboneAvailable(id, { dataDir: '/nonexistent' });
    const backbone = await loadBackbone(id, { dataDir: '/nonexistent' });
    t.equal(backbone.id, id);
    t.match(backbone.sha256, /^[0-9a-f]{64}$/);
    shas.add(backbone.sha256);
    t.same(backbone.defaultLayers, defaults);
    const names = backbone.layers.map((l) => l.name);
    t.ok(backbone.defaultLayers.every((l) => names.includes(l)), `${id}: default layers are feature layers`);
    t.same(backbone.layers.find((l) => l.name === defaults[0])?.stride, 8, `${id}: first default layer at stride 8`);
    t.same(backbone.layers.find((l) => l.name === defaults[1])?.stride, 16, `${id}: second default layer at stride 16`);
    t.ok(backbone.ir, `${id} is described by the layer IR (int8, batching, gradients)`);
    const { out } = await run(backbone.buildGraph([...defaults], [size, size]), [size, size]);
    t.same(defaults.map((l) => out[l]!.dims), dims, `${id}: feature shapes at ${size}x${size}`);
  }
  t.equal(shas.size, 3, 'every network has its own weights hash');
});

t.test('resnet18 loads from <dataDir>/backbones or an explicit path; sha256 is the file hash', async (t) => {
  const dir = await tempDir(t, 'registry');
  const bytes = resnet18File();
  const file = backboneWeightsPath('resnet18', dir);
  t.equal(file, join(dir, 'backbones', 'resnet18.safetensors'));
  await mkdir(join(dir, 'backbones'));
  await writeFile(file, bytes);
  const backbone = await loadBackbone('resnet18', { dataDir: dir });
  t.equal(backbone.id, 'resnet18');
  t.equal(backbone.sha256, sha256(bytes));
  t.same(backbone.defaultLayers, ['layer2', 'layer3']);
  t.same(backbone.layers.map((l) => [l.name, l.channels, l.stride]), [['layer1', 64, 4], ['layer2', 128, 8], ['layer3', 256, 16], ['layer4', 512, 32]]);
  const { out } = await run(backbone.buildGraph(['layer2', 'layer3'], [32, 32]), [32, 32]);
  t.same(out.layer2!.dims, [1, 128, 4, 4]);
  t.same(out.layer3!.dims, [1, 256, 2, 2]);
  t.ok((out.layer3!.data as Float32Array).some((v) => v > 0), 'features are not all zero');

  const elsewhere = join(dir, 'r18-copy.safetensors');
  await writeFile(elsewhere, bytes);
  t.equal((await loadBackbone('resnet18', { path: elsewhere, dataDir: '/nonexistent' })).sha256, sha256(bytes), 'path wins over dataDir');
});

t.test('resnet weights that are missing, unreadable, truncated or of another network are explained', async (t) => {
  const dir = await tempDir(t, 'registry-err');
  await t.rejects(loadBackbone('wide_resnet50_2', { dataDir: dir }), {
    message: `backbone wide_resnet50_2 is not installed: ${join(dir, 'backbones', 'wide_resnet50_2.safetensors')} does not exist. On a machine with internet run \`npm run fetch-backbone -- wide_resnet50_2\` and copy the wide_resnet50_2.safetensors file it installs to ${join(dir, 'backbones', 'wide_resnet50_2.safetensors')}`,
  });
  await t.rejects(loadBackbone('resnet18', { path: dir }), /backbone resnet18: cannot read .* \(EISDIR\)/, 'a folder instead of a file');
  const bytes = resnet18File();
  const truncated = join(dir, 'truncated.safetensors');
  await writeFile(truncated, bytes.subarray(0, bytes.length >> 1));
  await t.rejects(loadBackbone('resnet18', { path: truncated }), new RegExp(`^${truncated}: tensor \\S+ lies outside the file's data .*truncated file`));
  const r18 = join(dir, 'r18.safetensors');
  await writeFile(r18, bytes);
  await t.rejects(loadBackbone('wide_resnet50_2', { path: r18 }), new RegExp(`^${r18}: tensor layer1\\.0\\.conv1\\.weight has shape \\[64,64,3,3\\] F32, expected \\[128,64,1,1\\]`));
});

t.test('unknown ids list the known ones', async (t) => {
  for (const id of ['vgg16', 'onnx:', 'ResNet18']) {
    await t.rejects(loadBackbone(id), { message: `unknown backbone "${id}" (known: mobilenet_v2, mobilenet_v2_mid, inception_v3, resnet18, wide_resnet50_2, onnx:<file>)` });
  }
});

t.test('onnx:<file> runs a user feature extractor described by its manifest', async (t) => {
  const dir = await tempDir(t, 'registry-onnx');
  const file = join(dir, 'extractor.onnx');
  const bytes = tinyExtractor();
  await writeFile(file, bytes);
  await writeFile(`${file}.json`, JSON.stringify(tinyManifest));
  const backbone = await loadBackbone(`onnx:${file}`);
  t.equal(backbone.id, `onnx:${file}`);
  t.equal(backbone.sha256, sha256(bytes));
  t.same(backbone.layers, tinyManifest.outputs);
  t.same(backbone.defaultLayers, ['feat2', 'feat4']);
  t.equal(backbone.ir, undefined);
  const graph = backbone.buildGraph(['feat4'], [16, 16]);
  t.same(Buffer.from(graph), Buffer.from(bytes), 'the file itself is the graph');
  const { out } = await run(graph, [16, 16]);
  t.same(out.feat2!.dims, [1, 4, 8, 8]);
  t.same(out.feat4!.dims, [1, 4, 4, 4]);
  t.ok(Math.abs((out.feat4!.data as Float32Array)[0]! - 1.2) < 1e-5, 'the image is read as 0..255 and scaled inside the graph');
  t.throws(() => backbone.buildGraph(['feat2', 'feat8'], [16, 16]), { message: `backbone onnx:${file} has no output feat8 (outputs: feat2, feat4)` });
  t.throws(() => backbone.buildGraph(['feat2'], [32, 32]), /only takes 16x16 images \(asked for 32x32\)/);

  // Symbolic height and width: any input size goes, and defaultLayers come from the manifest.
  const dynamic = join(dir, 'dynamic.onnx');
  await writeFile(dynamic, tinyExtractor({ size: ['h', 'w'] }));
  await writeFile(`${dynamic}.json`, JSON.stringify({ ...tinyManifest, defaultLayers: ['feat4'] }));
  const any = await loadBackbone(`onnx:${dynamic}`);
  t.same(any.defaultLayers, ['feat4']);
  t.same((await run(any.buildGraph(['feat4'], [32, 24]), [32, 24])).out.feat4!.dims, [1, 4, 8, 6]);
});

t.test('onnx:<file> problems are reported with the file and key at fault', async (t) => {
  const dir = await tempDir(t, 'registry-onnx-err');
  const model = join(dir, 'm.onnx');
  const manifest = `${model}.json`;
  const setup = async (onnx: Uint8Array | string, json: unknown) => {
    await writeFile(model, onnx);
    if (json === undefined) await rm(manifest, { force: true });
    else await writeFile(manifest, typeof json === 'string' ? json : JSON.stringify(json));
  };
  const fails = async (pattern: RegExp | string, what: string) =>
    t.rejects(loadBackbone(`onnx:${model}`), typeof pattern === 'string' ? { message: pattern } : pattern, what);

  await t.rejects(loadBackbone(`onnx:${join(dir, 'absent.onnx')}`), { message: `backbone onnx:${join(dir, 'absent.onnx')}: cannot read ${join(dir, 'absent.onnx')} (ENOENT)` }, 'no ONNX file');
  await setup(tinyExtractor(), undefined);
  await fails(/needs a manifest .*m\.onnx\.json: \{"inputSize": \[h, w\], "outputs"/, 'no manifest');
  await setup(tinyExtractor(), '{"inputSize": [16, 16],');
  await fails(/m\.onnx\.json is not valid JSON/, 'manifest not JSON');
  await setup(tinyExtractor(), { ...tinyManifest, outputs: [{ name: 'feat2', channels: -4, stride: 2 }], extra: 1 });
  await fails(/m\.onnx\.json: key "outputs\[0\]\.channels": Too small.*; unknown key "extra"/, 'manifest keys');
  await setup(tinyExtractor(), { ...tinyManifest, defaultLayers: ['feat16'] });
  await fails(/m\.onnx\.json: defaultLayers feat16 are not among the outputs \(feat2, feat4\)/, 'unknown default layer');
  await setup('this is not a model', tinyManifest);
  await fails(/backbone .*m\.onnx is not an ONNX model/, 'not ONNX');
  await setup(tinyExtractor({ inputName: 'input' }), tinyManifest);
  await fails(/must have one input named "image" \(NHWC float32 RGB 0\.\.255\); it has "input"/, 'input name');
  await setup(tinyExtractor(), { ...tinyManifest, inputSize: [32, 32] });
  await fails(/m\.onnx\.json: inputSize \[32,32\] disagrees with the ONNX input "image" \[\?,16,16,3\]/, 'input size');
  await setup(tinyExtractor(), { ...tinyManifest, outputs: [{ name: 'feat8', channels: 4, stride: 8 }] });
  await fails(/m\.onnx\.json: output "feat8" is not an output of .*m\.onnx \(it has feat2, feat4\)/, 'output name');
  await setup(tinyExtractor({ channels: 6 }), tinyManifest);
  await fails(/m\.onnx\.json: output "feat2" has shape \[\?,6,8,8\] in .*m\.onnx, expected NCHW with 4 channels/, 'channels');
});

t.test('fetch-backbone validates a download before installing it, and never leaves partial files', async (t) => {
  const dir = await tempDir(t, 'fetch');
  const good = resnet18File();
  const routes: Record<string, (res: import('node:http').ServerResponse) => void> = {
    '/good': (res) => res.writeHead(200, { 'content-length': good.length }).end(good),
    // A server that sends a truncated file as if it were complete.
    '/truncated': (res) => res.writeHead(200, { 'content-length': good.length >> 1 }).end(good.subarray(0, good.length >> 1)),
    // A connection that breaks off in the middle.
    '/cut': (res) => {
      res.writeHead(200, { 'content-length': good.length });
      res.write(good.subarray(0, 4096), () => res.destroy());
    },
  };
  const server = createServer((req, res) => (routes[req.url ?? ''] ?? ((r) => r.writeHead(404).end('not found')))(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dataDir = join(dir, 'data');
  const installed = join(dataDir, 'backbones', 'resnet18.safetensors');

  let progress = 0;
  const hash = sha256(good);
  const result = await fetchBackbone('resnet18', { dataDir, url: `${base}/good`, sha256: hash, onProgress: (received) => (progress = received) });
  t.same(result, { path: installed, sha256: sha256(good) });
  t.equal(progress, good.length, 'progress reaches the file size');
  t.equal((await loadBackbone('resnet18', { dataDir })).sha256, sha256(good), 'the registry finds the installed weights');

  await t.rejects(fetchBackbone('resnet18', { dataDir, url: `${base}/truncated`, sha256: sha256(good.subarray(0, good.length >> 1)) }), /not usable resnet18 weights, nothing was installed: .*truncated file/);
  await t.rejects(fetchBackbone('resnet18', { dataDir, url: `${base}/cut`, sha256: hash }), /download of .*\/cut (broke off|is incomplete).*nothing was installed/);
  await t.rejects(fetchBackbone('resnet18', { dataDir, url: `${base}/missing`, sha256: hash }), /cannot download .*\/missing: HTTP 404/);
  // Pinned: a file with another hash (a changed upstream, a tampering mirror) is never installed; without a hash nothing is downloaded.
  await t.rejects(fetchBackbone('resnet18', { dataDir, url: `${base}/good`, sha256: 'ab'.repeat(32) }), new RegExp(`sha256 ${hash}, expected ${'ab'.repeat(32)}; nothing was installed`));
  await t.rejects(fetchBackbone('resnet18', { dataDir, url: `${base}/good`, sha256: 'xyz' }), /--sha256 "xyz" is not a sha256/);
  await t.rejects(
    fetchBackbone('resnet18', { dataDir, url: `${base}/good`, ...(PINNED_WEIGHTS.resnet18.sha256 ? { sha256: 'cd'.repeat(32) } : {}) }),
    PINNED_WEIGHTS.resnet18.sha256 ? /expected cdcd/ : /no pinned revision and sha256 for timm\/resnet18.tv_in1k; download from a source you trust with --url <url> --sha256/,
  );
  const pins = { resnet18: { repo: 'timm/resnet18.tv_in1k', revision: 'f'.repeat(40), sha256: 'e'.repeat(64) }, wide_resnet50_2: { repo: 'w', revision: null, sha256: null } };
  t.same(downloadSource('resnet18', {}, pins), { url: `https://huggingface.co/timm/resnet18.tv_in1k/resolve/${'f'.repeat(40)}/model.safetensors`, sha256: 'e'.repeat(64) }, 'a pinned entry downloads its revision and checks its hash');
  t.throws(() => downloadSource('wide_resnet50_2', {}, pins), /no pinned revision/);
  await t.rejects(fetchBackbone('vgg16', { dataDir }), /no downloadable weights for backbone "vgg16" \(downloadable: resnet18, wide_resnet50_2\)/);
  t.same(await readdir(join(dataDir, 'backbones')), ['resnet18.safetensors'], 'failed downloads left no files');
  t.equal(sha256(await readFile(installed)), sha256(good), 'failed downloads did not touch the installed weights');

  // The command line, as a user runs it (through the tsx loader, like npm run fetch-backbone).
  const cli = (...args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../scripts/fetch-backbone.ts'), ...args]);
  const out = await cli('resnet18', '--data-dir', join(dir, 'cli'), '--url', `${base}/good`, '--sha256', hash);
  t.match(out.stdout, `installed resnet18 at ${join(dir, 'cli', 'backbones', 'resnet18.safetensors')}\nsha256 ${sha256(good)}`);
  await t.rejects(cli('resnet34'), { code: 2, stderr: /usage: npm run fetch-backbone -- <resnet18\|wide_resnet50_2>/ });
  await t.rejects(cli('resnet18', '--data-dir', join(dir, 'cli2'), '--url', `${base}/missing`, '--sha256', hash), { code: 1, stderr: /cannot download .*HTTP 404/ });
  await t.rejects(cli('resnet18', '--data-dir', join(dir, 'cli3'), '--url', `${base}/good`, '--sha256', 'ab'.repeat(32)), { code: 1, stderr: /expected abab.*nothing was installed/ });
});
