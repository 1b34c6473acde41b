/**
 * The runtime's alignment graph in a real ONNX Runtime session against the
 * JS reference warp, the composition of its passes and of the part's
 * framing, and the weights'
 * round trip through named tensors; the tfjs sampler the trainer uses
 * against the same reference.
 */
import t from 'tap';
import * as tf from '@tensorflow/tfjs';
import { Aligner } from '../../models/stn/model.ts';
import { PASSES } from '../../models/stn/graph.ts';
import { CONV_KERNELS, localisationFromTensors, localisationShape, localisationTensors, type LocalisationWeights } from '../../models/stn/localisation-net.ts';
import { clampScale, compose, scaleOf, similarity, warpImage, type Similarity } from '../../models/stn/pose.ts';
import { firstLayerWindows, gridSample } from '../../models/stn/train.ts';
import { trainingBackend } from '../../models/components/tfjs-backend.ts';
import { seededRandom } from '../../models/components/random.ts';

const size = { width: 64, height: 64 };
const shape = localisationShape(size, 8);
const rng = seededRandom(5);

/** A net whose pose ignores the image: random convolutions, zero last weights, `pose` as bias. */
function constantNet(pose: Similarity): LocalisationWeights {
  let inC = 3;
  return {
    conv: shape.convs.map(([, , outC], i) => {
      const k = CONV_KERNELS[i]!;
      const kernel = Float32Array.from({ length: k * k * inC * outC }, () => rng() - 0.5);
      inC = outC;
      return { kernel, bias: new Float32Array(outC) };
    }),
    hidden: { weight: Float32Array.from({ length: shape.flat * 8 }, () => rng() * 0.1), bias: new Float32Array(8) },
    pose: { weight: new Float32Array(8 * 4), bias: Float32Array.from(pose) },
  };
}

const image = Float32Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 37) % 256);

t.test('localisation shape: pooled by 4, a 3x3 and two 2x2 stride-2 convolutions', async (t) => {
  t.same(shape.input, [16, 16]);
  t.same(shape.convs, [[7, 7, 8], [3, 3, 16], [1, 1, 32]]);
  t.equal(shape.flat, 32);
  t.throws(() => localisationShape({ width: 16, height: 16 }, 8), /too small/);
});

t.test('the ONNX aligner samples the frame with the composed pose of its passes', async (t) => {
  const pose = similarity(0.3, 1.05, 0.1, -0.05);
  // Trained on sizes within +-10 %: the passes' scales 1.05^k are clamped at 1 / 0.9 after each pass.
  const scaleRange = 0.1;
  const aligner = await Aligner.create(size, shape, constantNet(pose), scaleRange);
  const out = await aligner.align({ data: image });
  let composed = clampScale(pose, scaleRange);
  for (let pass = 1; pass < PASSES; pass++) composed = clampScale(compose(composed, pose), scaleRange);
  t.ok(Math.abs(scaleOf(composed) - 1 / 0.9) < 1e-6, 'the composed scale is clamped');
  t.ok(out.pose.every((v, i) => Math.abs(v - composed[i]!) < 1e-5), `pose ${out.pose.map((v) => v.toFixed(4))}`);
  const reference = warpImage(image, 64, 64, 3, out.pose);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - out.data[i]!));
  t.ok(worst < 0.05, `largest difference to the JS warp ${worst}`);
  await aligner.release();
  await t.rejects(aligner.align({ data: image.subarray(3) }), /aligner expects 64x64x3/);
});

t.test('the framing is composed after the passes: the frame is read at the pose, then the framing', async (t) => {
  const pose = similarity(-0.2, 1, 0.05, 0.1);
  const framing = similarity(0.4, 0.55, 0.1, -0.05);
  const aligner = await Aligner.create(size, shape, constantNet(pose), 0.05, {}, framing);
  const out = await aligner.align({ data: image });
  let composed = pose;
  for (let pass = 1; pass < PASSES; pass++) composed = compose(composed, pose);
  const expected = compose(composed, framing);
  t.ok(out.pose.every((v, i) => Math.abs(v - expected[i]!) < 1e-5), `pose ${out.pose.map((v) => v.toFixed(4))} = passes, then framing`);
  const reference = warpImage(image, 64, 64, 3, expected);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - out.data[i]!));
  t.ok(worst < 0.05, `largest difference to the JS warp ${worst}`);
  await aligner.release();
});

t.test('weights survive the trip through named tensors; a wrong shape is named', async (t) => {
  const w = constantNet(similarity(0, 1, 0, 0));
  const tensors = new Map(Object.entries(localisationTensors(shape, w)));
  const back = localisationFromTensors(shape, tensors);
  t.same(Array.from(back.conv[1]!.kernel), Array.from(w.conv[1]!.kernel));
  t.same(Array.from(back.pose.bias), [1, 0, 0, 0]);
  tensors.set('stn_hidden_weight', { shape: [3], data: new Float32Array(3) });
  t.throws(() => localisationFromTensors(shape, tensors), /stn_hidden_weight is missing or not \[32,8\]/);
});

t.test('the trainer samples like the runtime: tfjs gridSample equals the JS warp', async (t) => {
  await trainingBackend();
  const small = Float32Array.from({ length: 16 * 16 * 3 }, (_, i) => (i * 53) % 256);
  const pose = similarity(-0.7, 0.9, 0.2, 0.1);
  const out = tf.tidy(() => gridSample(tf.tensor4d(small, [1, 16, 16, 3]), tf.tensor2d([pose], [1, 4]), 16, 16).dataSync());
  const reference = warpImage(small, 16, 16, 3, pose);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(reference[i]! - out[i]!));
  t.ok(worst < 1e-3, `largest difference ${worst}`);
  // First-layer windows: (window, ky, kx, channel) order, scaled to -0.5..0.5.
  const windows = firstLayerWindows([small], 16, 16);
  t.equal(windows.length, 7 * 7 * 27);
  t.ok(Math.abs(windows[0]! - (small[0]! / 255 - 0.5)) < 1e-6);
  t.ok(Math.abs(windows[27 + 3]! - (small[(0 * 16 + 2 + 1) * 3]! / 255 - 0.5)) < 1e-6, 'second window starts two pixels right');
});
