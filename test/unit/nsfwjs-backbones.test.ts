/**
 * The two further backbones of the nsfwjs package, `mobilenet_v2_mid` (a
 * TensorFlow graph model) and `inception_v3` (a Keras model): the ONNX graphs
 * emitted from their layer IR compute the same feature layers as tfjs (wasm
 * backend) running the package's own model files on the same image.
 */
import t, { type Test } from 'tap';
import ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { graphModelProbe, kerasProbe } from '../helpers/nsfwjs-reference.ts';
import { INCEPTION_INPUT_SIZE, loadInceptionV3 } from '../../models/backbones/inception-v3.ts';
import { loadMobileNetV2Mid } from '../../models/backbones/mobilenet-v2-mid.ts';
import { emitForward } from '../../models/onnx/emit-forward.ts';
import type { BackboneIR } from '../../models/ir.ts';

/** A seeded image (RGB 0..255, NHWC): smooth gradients with noise, so every layer sees structure. */
function testImage(size: number): Float32Array {
  let seed = 7;
  const noise = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const px = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = Math.round(Math.min(255, ((x + (c + 1) * y) / (3 * size)) * 200 + noise() * 55));
  return px;
}

/** Emits `layers` of `ir`, runs the image through ONNX Runtime and compares each layer with tfjs's NHWC tensor. */
async function compare(t: Test, ir: BackboneIR, layers: string[], size: number, pixels: Float32Array, expected: tf.Tensor[]) {
  const session = await ort.InferenceSession.create(emitForward(ir, { outputs: layers, inputSize: [size, size] }));
  const out = await session.run({ image: new ort.Tensor('float32', pixels, [1, size, size, 3]) });
  await session.release();
  for (const [i, name] of layers.entries()) {
    const reference = expected[i]!;
    const want = (await reference.transpose([0, 3, 1, 2]).data()) as Float32Array; // NHWC -> NCHW
    const got = out[name]!;
    t.same(got.dims, [1, reference.shape[3], reference.shape[1], reference.shape[2]], `${name}: shape ${reference.shape}`);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let k = 0; k < want.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[k]!));
      maxDiff = Math.max(maxDiff, Math.abs(want[k]! - (got.data as Float32Array)[k]!));
    }
    t.ok(maxAbs > 0.1, `${name}: the layer is not dead (max ${maxAbs.toFixed(2)})`);
    t.ok(maxDiff / maxAbs < 1e-3, `${name}: max difference ${maxDiff.toExponential(2)} of max ${maxAbs.toFixed(2)}`);
  }
}

t.test('mobilenet_v2_mid: ONNX features equal tfjs executing the TensorFlow graph', async (t) => {
  const { ir, tfNames } = await loadMobileNetV2Mid();
  const layers = ['Conv1_relu', 'block_5_add', 'block_6_expand_relu', 'block_9_add', 'block_12_add', 'block_13_expand_relu'];
  const model = await graphModelProbe('mobilenet_v2_mid', 'wasm');
  const pixels = testImage(224);
  const input = tf.tensor4d(pixels, [1, 224, 224, 3]).div(255);
  const expected = model.execute(input, layers.map((l) => tfNames.get(l)!)) as tf.Tensor[];
  await compare(t, ir, layers, 224, pixels, expected);
  tf.dispose([input, ...expected]);
  model.dispose();
});

t.test('mobilenet_v2_mid: Keras MobileNetV2 names, width 1.4 channels, strides at 224', async (t) => {
  const { ir, sha256 } = await loadMobileNetV2Mid();
  t.match(sha256, /^[0-9a-f]{64}$/);
  t.same(ir.preprocess, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, 'the module scales RGB / 255 to -1..1');
  const layer = (name: string) => ir.featureLayers.find((l) => l.name === name);
  t.same(layer('block_5_add'), { name: 'block_5_add', channels: 48, stride: 8 });
  t.same(layer('block_12_add'), { name: 'block_12_add', channels: 136, stride: 16 });
  t.same(layer('block_6_expand_relu'), { name: 'block_6_expand_relu', channels: 288, stride: 8 });
});

t.test('inception_v3: ONNX features equal tfjs executing the Keras model at 299x299', async (t) => {
  const { ir } = await loadInceptionV3();
  const layers = ['activation_5', 'mixed0', 'mixed2', 'mixed3', 'mixed5', 'mixed7'];
  const size = INCEPTION_INPUT_SIZE;
  const probe = await kerasProbe('inception_v3', layers, 'wasm');
  const pixels = testImage(size);
  const input = tf.tensor4d(pixels, [1, size, size, 3]).div(255);
  const expected = probe.predict(input) as tf.Tensor[];
  await compare(t, ir, layers, size, pixels, expected);
  tf.dispose([input, ...expected]);
});

t.test('inception_v3: mixed blocks at 35x35, 17x17 and 8x8 at 299; any input size emits', async (t) => {
  const { ir } = await loadInceptionV3();
  const layer = (name: string) => ir.featureLayers.find((l) => l.name === name);
  t.same(layer('mixed2'), { name: 'mixed2', channels: 288, stride: 8 });
  t.same(layer('mixed7'), { name: 'mixed7', channels: 768, stride: 16 });
  t.same(layer('mixed10'), { name: 'mixed10', channels: 2048, stride: 32 });
  const session = await ort.InferenceSession.create(emitForward(ir, { outputs: ['mixed2', 'mixed7'], inputSize: [224, 224], batch: 'dynamic' }));
  const batch = new Float32Array(2 * 224 * 224 * 3);
  batch.set(testImage(224));
  batch.set(testImage(224), 224 * 224 * 3);
  const out = await session.run({ image: new ort.Tensor('float32', batch, [2, 224, 224, 3]) });
  await session.release();
  t.same(out.mixed2!.dims, [2, 288, 25, 25]);
  t.same(out.mixed7!.dims, [2, 768, 12, 12]);
});
