import t from 'tap';
import ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { kerasMobileNetV2Probe } from '../helpers/nsfwjs-reference.ts';
import { loadMobileNetV2 } from '../../models/backbones/mobilenet-v2.ts';
import { emitForward } from '../../models/onnx/emit-forward.ts';

const layers = ['block_2_add', 'block_5_add', 'block_6_expand_relu', 'block_12_add'];

t.test('ONNX features equal a tfjs execution of the same Keras model', async (t) => {
  const probe = await kerasMobileNetV2Probe(layers);

  let seed = 11;
  const pixels = Float32Array.from({ length: 224 * 224 * 3 }, () => ((seed = (seed * 16807) % 2147483647) % 256));
  const expected = probe.predict(tf.tensor4d(pixels, [1, 224, 224, 3]).div(255)) as tf.Tensor[];

  const { ir } = await loadMobileNetV2();
  const session = await ort.InferenceSession.create(emitForward(ir, { outputs: layers, inputSize: [224, 224] }));
  const out = await session.run({ image: new ort.Tensor('float32', pixels, [1, 224, 224, 3]) });
  for (const [i, name] of layers.entries()) {
    const want = (await expected[i]!.transpose([0, 3, 1, 2]).data()) as Float32Array; // NHWC -> NCHW
    const got = out[name]!.data as Float32Array;
    t.equal(got.length, want.length, `${name}: same size`);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let k = 0; k < want.length; k++) {
      maxAbs = Math.max(maxAbs, Math.abs(want[k]!));
      maxDiff = Math.max(maxDiff, Math.abs(want[k]! - got[k]!));
    }
    t.ok(maxDiff / maxAbs < 1e-3, `${name}: max difference ${maxDiff.toExponential(2)} of max ${maxAbs.toFixed(2)}`);
  }
});

t.test('feature layers list channels and strides', async (t) => {
  const { ir, sha256 } = await loadMobileNetV2();
  t.match(sha256, /^[0-9a-f]{64}$/);
  t.same(ir.featureLayers.find((l) => l.name === 'block_5_add'), { name: 'block_5_add', channels: 32, stride: 8 });
  t.same(ir.featureLayers.find((l) => l.name === 'block_12_add'), { name: 'block_12_add', channels: 96, stride: 16 });
});
