import t from 'tap';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { resnetFromSafetensors } from '../../models/backbones/resnet.ts';
import { loadBackbone } from '../../models/backbones/registry.ts';
import { emitForward } from '../../models/onnx/emit-forward.ts';
import { decodeSafetensors, writeSafetensorsFile, type TensorData } from '../../models/safetensors.ts';

/** A torchvision-layout ResNet-18 state dict with small random weights (nothing can be downloaded here). */
function resnet18StateDict(): Record<string, { shape: number[]; data: TensorData }> {
  let seed = 5;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  const dict: Record<string, { shape: number[]; data: TensorData }> = {};
  const conv = (name: string, o: number, i: number, k: number) => {
    dict[`${name}.weight`] = { shape: [o, i, k, k], data: Float32Array.from({ length: o * i * k * k }, () => rnd() * Math.sqrt(6 / (i * k * k))) };
  };
  const bn = (name: string, c: number) => {
    dict[`${name}.weight`] = { shape: [c], data: Float32Array.from({ length: c }, () => 1 + rnd() * 0.2) };
    dict[`${name}.bias`] = { shape: [c], data: Float32Array.from({ length: c }, () => rnd() * 0.2) };
    dict[`${name}.running_mean`] = { shape: [c], data: Float32Array.from({ length: c }, () => rnd() * 0.2) };
    dict[`${name}.running_var`] = { shape: [c], data: Float32Array.from({ length: c }, () => 1 + rnd() * 0.5) };
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
      if (b === 0 && s > 0) {
        conv(`${p}.downsample.0`, c, cin, 1);
        bn(`${p}.downsample.1`, c);
      }
      cin = c;
    }
  }
  dict['fc.weight'] = { shape: [1000, 512], data: new Float32Array(512000) };
  return dict;
}

/** The same network written directly with tfjs ops, as an independent reference. */
function reference(dict: ReturnType<typeof resnet18StateDict>, image: tf.Tensor4D): Record<string, tf.Tensor4D> {
  const w = (n: string) => {
    const t0 = dict[`${n}.weight`]!;
    return tf.tensor4d(t0.data as Float32Array, t0.shape as [number, number, number, number]).transpose([2, 3, 1, 0]) as tf.Tensor4D;
  };
  const v = (n: string) => tf.tensor1d(dict[n]!.data as Float32Array);
  const bn = (x: tf.Tensor4D, n: string) => tf.batchNorm(x, v(`${n}.running_mean`), v(`${n}.running_var`), v(`${n}.bias`), v(`${n}.weight`), 1e-5);
  const conv = (x: tf.Tensor4D, n: string, stride: number, pad: number) =>
    tf.conv2d(tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), w(n), stride, 'valid');
  const mean = tf.tensor1d([0.485, 0.456, 0.406]);
  const std = tf.tensor1d([0.229, 0.224, 0.225]);
  let x = image.div(255).sub(mean).div(std) as tf.Tensor4D;
  x = tf.relu(bn(conv(x, 'conv1', 2, 3), 'bn1'));
  x = tf.maxPool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity), 3, 2, 'valid');
  const out: Record<string, tf.Tensor4D> = {};
  for (let s = 0; s < 3; s++) {
    for (let b = 0; b < 2; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 && s > 0 ? 2 : 1;
      let y = tf.relu(bn(conv(x, `${p}.conv1`, stride, 1), `${p}.bn1`));
      y = bn(conv(y, `${p}.conv2`, 1, 1), `${p}.bn2`);
      const short = b === 0 && s > 0 ? bn(conv(x, `${p}.downsample.0`, 2, 0), `${p}.downsample.1`) : x;
      x = tf.relu(y.add(short)) as tf.Tensor4D;
    }
    out[`layer${s + 1}`] = x;
  }
  return out;
}

t.test('ResNet-18 from torchvision-layout weights matches a tfjs reference', async (t) => {
  await tf.setBackend('cpu');
  const dict = resnet18StateDict();
  const dir = await mkdtemp(join(tmpdir(), 'linesight-resnet-'));
  const file = join(dir, 'resnet18.safetensors');
  await writeSafetensorsFile(file, dict);
  const backbone = await loadBackbone('resnet18', { path: file });
  t.same(backbone.defaultLayers, ['layer2', 'layer3']);
  t.same(backbone.layers.map((l) => [l.name, l.channels, l.stride]), [['layer1', 64, 4], ['layer2', 128, 8], ['layer3', 256, 16], ['layer4', 512, 32]]);
  let seed = 9;
  const pixels = Float32Array.from({ length: 64 * 64 * 3 }, () => ((seed = (seed * 16807) % 2147483647) % 256));
  const session = await ort.InferenceSession.create(backbone.buildGraph(['layer2', 'layer3'], [64, 64]));
  const out = await session.run({ image: new ort.Tensor('float32', pixels, [1, 64, 64, 3]) });
  const ref = reference(dict, tf.tensor4d(pixels, [1, 64, 64, 3]));
  for (const name of ['layer2', 'layer3']) {
    const want = (await ref[name]!.transpose([0, 3, 1, 2]).data()) as Float32Array;
    const got = out[name]!.data as Float32Array;
    t.equal(got.length, want.length, `${name} size`);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(want[i]! - got[i]!));
    }
    t.ok(maxDiff / maxAbs < 1e-3, `${name}: relative difference ${(maxDiff / maxAbs).toExponential(2)}`);
  }
});

t.test('a missing or misshapen tensor is named; missing weights tell how to install them', async (t) => {
  const dict = resnet18StateDict();
  const { tensors } = decodeSafetensors((await import('../../models/safetensors.ts')).encodeSafetensors(dict));
  tensors.delete('layer2.0.bn1.running_var');
  t.throws(() => resnetFromSafetensors('resnet18', tensors), /tensor layer2\.0\.bn1\.running_var is missing \(expected shape \[128\]\)/);
  tensors.set('layer2.0.bn1.running_var', { dtype: 'F32', shape: [64], data: new Float32Array(64) });
  t.throws(() => resnetFromSafetensors('resnet18', tensors), /has shape \[64\] F32, expected \[128\]/);
  await t.rejects(loadBackbone('wide_resnet50_2', { dataDir: '/nonexistent' }), /not installed at .*wide_resnet50_2\.safetensors; on a machine with internet run/);
  await t.rejects(loadBackbone('vgg16'), /unknown backbone "vgg16" \(known: mobilenet_v2, resnet18, wide_resnet50_2, onnx:<file>\)/);
});


t.test('downloaded weights are validated before they are installed', async (t) => {
  const { installBackboneWeights } = await import('../../models/backbones/install.ts');
  const dir = await mkdtemp(join(tmpdir(), 'linesight-install-'));
  const good = join(dir, 'download.safetensors');
  await writeSafetensorsFile(good, resnet18StateDict());
  const installed = await installBackboneWeights('resnet18', good, join(dir, 'data'));
  t.equal(installed.path, join(dir, 'data', 'backbones', 'resnet18.safetensors'));
  t.match(installed.sha256, /^[0-9a-f]{64}$/);
  t.equal((await loadBackbone('resnet18', { dataDir: join(dir, 'data') })).sha256, installed.sha256);
  const partial = join(dir, 'partial.safetensors');
  const dict = resnet18StateDict();
  delete dict['layer3.1.conv2.weight'];
  await writeSafetensorsFile(partial, dict);
  await t.rejects(installBackboneWeights('resnet18', partial, join(dir, 'data2')), /layer3\.1\.conv2\.weight is missing/);
  await t.rejects(installBackboneWeights('vgg', partial, dir), /no downloadable weights/);
});
