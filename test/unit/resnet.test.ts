import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { resnetFromSafetensors, resnetFeatureLayers, type ResnetId } from '../../models/backbones/resnet.ts';
import { emitForward, layerShapes } from '../../models/onnx/emit-forward.ts';
import { readSafetensorsFile, writeSafetensorsFile, type DecodedTensor, type TensorData } from '../../models/safetensors.ts';

type StateDict = Record<string, { shape: number[]; data: TensorData }>;

const specs = {
  resnet18: { bottleneck: false, blocks: [2, 2, 2, 2], widthPer64: 64 },
  wide_resnet50_2: { bottleneck: true, blocks: [3, 4, 6, 3], widthPer64: 128 },
};

/**
 * A torchvision-layout state dict with small deterministic random weights
 * (nothing can be downloaded here), including the tensors real checkpoints
 * carry that are not part of the feature extractor (fc, num_batches_tracked).
 * Stages from `zeroFrom` on get zero convolutions, to keep generation cheap
 * where the test does not look.
 */
function stateDict(id: ResnetId, seed = 5, zeroFrom = 4): StateDict {
  const spec = specs[id];
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  const dict: StateDict = {};
  let random = true;
  const conv = (name: string, o: number, i: number, k: number) => {
    const data = new Float32Array(o * i * k * k);
    const scale = Math.sqrt(6 / (i * k * k));
    if (random) for (let j = 0; j < data.length; j++) data[j] = rnd() * scale;
    dict[`${name}.weight`] = { shape: [o, i, k, k], data };
  };
  const bn = (name: string, c: number) => {
    dict[`${name}.weight`] = { shape: [c], data: Float32Array.from({ length: c }, () => 1 + rnd() * 0.2) };
    dict[`${name}.bias`] = { shape: [c], data: Float32Array.from({ length: c }, () => rnd() * 0.2) };
    dict[`${name}.running_mean`] = { shape: [c], data: Float32Array.from({ length: c }, () => rnd() * 0.2) };
    dict[`${name}.running_var`] = { shape: [c], data: Float32Array.from({ length: c }, () => 1 + rnd() * 0.5) };
    dict[`${name}.num_batches_tracked`] = { shape: [], data: BigInt64Array.from([1000n]) };
  };
  conv('conv1', 64, 3, 7);
  bn('bn1', 64);
  let cin = 64;
  for (let s = 0; s < 4; s++) {
    random = s < zeroFrom;
    const planes = 64 * 2 ** s;
    const out = spec.bottleneck ? planes * 4 : planes;
    const width = (planes * spec.widthPer64) / 64;
    for (let b = 0; b < spec.blocks[s]!; b++) {
      const p = `layer${s + 1}.${b}`;
      if (spec.bottleneck) {
        conv(`${p}.conv1`, width, cin, 1);
        bn(`${p}.bn1`, width);
        conv(`${p}.conv2`, width, width, 3);
        bn(`${p}.bn2`, width);
        conv(`${p}.conv3`, out, width, 1);
        bn(`${p}.bn3`, out);
      } else {
        conv(`${p}.conv1`, out, cin, 3);
        bn(`${p}.bn1`, out);
        conv(`${p}.conv2`, out, out, 3);
        bn(`${p}.bn2`, out);
      }
      if (b === 0 && cin !== out) {
        conv(`${p}.downsample.0`, out, cin, 1);
        bn(`${p}.downsample.1`, out);
      }
      cin = out;
    }
  }
  dict['fc.weight'] = { shape: [1000, cin], data: new Float32Array(1000 * cin) };
  dict['fc.bias'] = { shape: [1000], data: new Float32Array(1000) };
  return dict;
}

function asTensors(dict: StateDict): Map<string, DecodedTensor> {
  return new Map(Object.entries(dict).map(([k, v]) => [k, { dtype: v.data instanceof Float32Array ? 'F32' : 'I64', ...v }]));
}

/**
 * The same network written directly with tfjs ops from the unfolded weights
 * (NHWC, batch-norm applied as batch-norm), as an independent reference.
 */
function reference(id: ResnetId, dict: StateDict, image: tf.Tensor4D, stages: number): Record<string, tf.Tensor4D> {
  const spec = specs[id];
  const w = (n: string) => {
    // OIHW -> HWIO, rearranged in plain JS (tfjs's CPU transpose is slow on large weights).
    const { data, shape } = dict[`${n}.weight`]!;
    const [o, i, kh, kw] = shape as [number, number, number, number];
    const hwio = new Float32Array(data.length);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      hwio[((y * kw + x) * i + b) * o + a] = (data as Float32Array)[((a * i + b) * kh + y) * kw + x]!;
    }
    return tf.tensor4d(hwio, [kh, kw, i, o]);
  };
  const v = (n: string) => tf.tensor1d(dict[n]!.data as Float32Array);
  const bn = (x: tf.Tensor4D, n: string) => tf.batchNorm(x, v(`${n}.running_mean`), v(`${n}.running_var`), v(`${n}.bias`), v(`${n}.weight`), 1e-5);
  const conv = (x: tf.Tensor4D, n: string, stride: number, pad: number) => tf.conv2d(tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), w(n), stride, 'valid');
  const mean = tf.tensor1d([0.485, 0.456, 0.406]);
  const std = tf.tensor1d([0.229, 0.224, 0.225]);
  let x = image.div(255).sub(mean).div(std) as tf.Tensor4D;
  x = tf.relu(bn(conv(x, 'conv1', 2, 3), 'bn1'));
  x = tf.maxPool(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], -Infinity), 3, 2, 'valid');
  const out: Record<string, tf.Tensor4D> = {};
  for (let s = 0; s < stages; s++) {
    for (let b = 0; b < spec.blocks[s]!; b++) {
      const p = `layer${s + 1}.${b}`;
      const stride = b === 0 && s > 0 ? 2 : 1;
      let y: tf.Tensor4D;
      if (spec.bottleneck) {
        y = tf.relu(bn(conv(x, `${p}.conv1`, 1, 0), `${p}.bn1`));
        y = tf.relu(bn(conv(y, `${p}.conv2`, stride, 1), `${p}.bn2`));
        y = bn(conv(y, `${p}.conv3`, 1, 0), `${p}.bn3`);
      } else {
        y = tf.relu(bn(conv(x, `${p}.conv1`, stride, 1), `${p}.bn1`));
        y = bn(conv(y, `${p}.conv2`, 1, 1), `${p}.bn2`);
      }
      const short = dict[`${p}.downsample.0.weight`] ? bn(conv(x, `${p}.downsample.0`, stride, 0), `${p}.downsample.1`) : x;
      x = tf.relu(y.add(short)) as tf.Tensor4D;
    }
    out[`layer${s + 1}`] = x;
  }
  return out;
}

function pseudoImage(h: number, w: number): Float32Array {
  let seed = 9;
  return Float32Array.from({ length: h * w * 3 }, () => (seed = (seed * 16807) % 2147483647) % 256);
}

/** Runs the emitted graph and the tfjs reference on the same image and compares the layers to 1e-3 of their range. */
async function compareWithReference(t: Test, id: ResnetId, dict: StateDict, tensors: Map<string, DecodedTensor>, layers: string[], size: number) {
  const ir = resnetFromSafetensors(id, tensors);
  const pixels = pseudoImage(size, size);
  const session = await ort.InferenceSession.create(emitForward(ir, { outputs: layers, inputSize: [size, size] }));
  const out = await session.run({ image: new ort.Tensor('float32', pixels, [1, size, size, 3]) });
  await session.release();
  const stages = Math.max(...layers.map((l) => Number(l.slice(5))));
  const want = tf.tidy(() => {
    const ref = reference(id, dict, tf.tensor4d(pixels, [1, size, size, 3]), stages);
    return layers.map((l) => ref[l]!.transpose([0, 3, 1, 2])); // NHWC -> NCHW
  });
  for (const [i, name] of layers.entries()) {
    const info = ir.featureLayers.find((l) => l.name === name)!;
    const expectedDims = [1, info.channels, Math.ceil(size / info.stride), Math.ceil(size / info.stride)];
    t.same(out[name]!.dims, expectedDims, `${id} ${name}: shape ${expectedDims}`);
    const ref = (await want[i]!.data()) as Float32Array;
    const got = out[name]!.data as Float32Array;
    let maxAbs = 0;
    let maxDiff = 0;
    for (let k = 0; k < ref.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(ref[k]!));
      maxDiff = Math.max(maxDiff, Math.abs(ref[k]! - got[k]!));
    }
    t.ok(maxAbs > 0.1, `${id} ${name}: the reference is not trivially zero (max ${maxAbs.toFixed(3)})`);
    t.ok(maxDiff / maxAbs < 1e-3, `${id} ${name}: relative difference ${(maxDiff / maxAbs).toExponential(2)} < 1e-3`);
  }
  tf.dispose(want);
}

t.before(async () => {
  await tf.setBackend('cpu');
});

t.test('ResNet-18 read from a safetensors file matches a tfjs reference at every stage', async (t) => {
  const dict = stateDict('resnet18');
  const dir = await mkdtemp(join(tmpdir(), 'linesight-resnet-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'resnet18.safetensors');
  await writeSafetensorsFile(file, dict);
  const { tensors } = await readSafetensorsFile(file);
  await compareWithReference(t, 'resnet18', dict, tensors, ['layer1', 'layer2', 'layer3', 'layer4'], 64);
});

t.test('WideResNet-50-2 bottlenecks match a tfjs reference at layer2 and layer3', async (t) => {
  // Stage 4 (60 % of the weights) is zero: it is folded but not run.
  const dict = stateDict('wide_resnet50_2', 7, 3);
  await compareWithReference(t, 'wide_resnet50_2', dict, asTensors(dict), ['layer2', 'layer3'], 32);
});

t.test('IR structure: blocks, strides, channels and preprocessing', async (t) => {
  const r18 = resnetFromSafetensors('resnet18', asTensors(stateDict('resnet18', 3, 0)));
  const convs = (ir: typeof r18) => ir.nodes.filter((n) => n.op === 'conv');
  t.equal(r18.nodes.length, 3 + 8 * 5 + 3, 'stem + 8 basic blocks + 3 downsamples');
  t.equal(convs(r18).length, 1 + 16 + 3);
  t.same(r18.preprocess, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  t.same(r18.featureLayers.map((l) => [l.name, l.channels, l.stride]), [['layer1', 64, 4], ['layer2', 128, 8], ['layer3', 256, 16], ['layer4', 512, 32]]);
  t.same(resnetFeatureLayers('resnet18'), r18.featureLayers);
  t.ok(convs(r18).every((c) => c.bias && c.bias.length === c.weightShape[0]), 'batch-norm folded into a bias on every conv');

  const wrn = resnetFromSafetensors('wide_resnet50_2', asTensors(stateDict('wide_resnet50_2', 3, 0)));
  t.equal(wrn.nodes.length, 3 + 16 * 7 + 4, 'stem + 16 bottlenecks + 4 downsamples');
  t.equal(convs(wrn).length, 1 + 48 + 4);
  t.same(wrn.featureLayers.map((l) => [l.name, l.channels, l.stride]), [['layer1', 256, 4], ['layer2', 512, 8], ['layer3', 1024, 16], ['layer4', 2048, 32]]);
  const byName = new Map(wrn.nodes.map((n) => [n.name, n]));
  const conv = (name: string) => byName.get(name) as Extract<(typeof wrn.nodes)[number], { op: 'conv' }>;
  t.same(conv('layer2.0.conv1').stride, [1, 1], 'torchvision v1.5: the 1x1 reduction keeps the resolution');
  t.same(conv('layer2.0.conv2').stride, [2, 2], 'torchvision v1.5: the 3x3 conv strides');
  t.same(conv('layer3.0.conv2').weightShape, [512, 512, 3, 3], 'inner width doubled (512, not 256)');
  t.same(conv('layer1.0.downsample').stride, [1, 1], 'layer1 projects channels without striding');
  const shapes = layerShapes(wrn, [224, 224]);
  t.same(['layer1', 'layer2', 'layer3', 'layer4'].map((l) => shapes.get(l)), [[256, 56, 56], [512, 28, 28], [1024, 14, 14], [2048, 7, 7]]);
});

t.test('missing, misshapen, corrupt and foreign tensors are named', async (t) => {
  const source = '/data/backbones/resnet18.safetensors';
  const fresh = () => asTensors(stateDict('resnet18', 3, 0));
  let tensors = fresh();
  tensors.delete('layer2.0.bn1.running_var');
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), {
    message: '/data/backbones/resnet18.safetensors: tensor layer2.0.bn1.running_var is missing (expected shape [128] for resnet18)',
  });
  tensors.set('layer2.0.bn1.running_var', { dtype: 'F32', shape: [64], data: new Float32Array(64) });
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), /tensor layer2\.0\.bn1\.running_var has shape \[64\] F32, expected \[128\] floating point/);

  tensors = fresh();
  tensors.set('conv1.weight', { dtype: 'I32', shape: [64, 3, 7, 7], data: new Int32Array(64 * 147) });
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), /tensor conv1\.weight has shape \[64,3,7,7\] I32, expected \[64,3,7,7\] floating point/);

  tensors = fresh();
  (tensors.get('layer3.1.conv2.weight')!.data as Float32Array)[17] = NaN;
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), /tensor layer3\.1\.conv2\.weight contains NaN or infinite values/);
  tensors = fresh();
  (tensors.get('layer1.0.bn2.running_var')!.data as Float32Array)[3] = -1;
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), /tensor layer1\.0\.bn2\.running_var contains negative variances/);

  // ResNet-34 has a third block in layer1: its weights are not ResNet-18's, even though all of ResNet-18's are there.
  tensors = fresh();
  for (const k of ['conv1', 'conv2']) tensors.set(`layer1.2.${k}.weight`, { dtype: 'F32', shape: [64, 64, 3, 3], data: new Float32Array(64 * 576) });
  t.throws(() => resnetFromSafetensors('resnet18', tensors, source), /tensors layer1\.2\.conv1\.weight, layer1\.2\.conv2\.weight are not part of resnet18 \(weights of another network\?\)/);

  t.throws(() => resnetFromSafetensors('wide_resnet50_2', fresh(), source), /tensor layer1\.0\.conv1\.weight has shape \[64,64,3,3\] F32, expected \[128,64,1,1\]/, 'ResNet-18 weights are not WideResNet-50-2 weights');
  t.throws(() => resnetFromSafetensors('resnet50' as ResnetId, fresh()), /unknown ResNet "resnet50" \(known: resnet18, wide_resnet50_2\)/);
});
