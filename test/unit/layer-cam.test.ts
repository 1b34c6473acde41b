/**
 * LayerCAM maps from the emitted ONNX graph against a hand computation on a
 * tiny network of 1x1 convolutions (where the gradient of the target's mean
 * is a per-channel constant), and the choice of saliency layers.
 */
import t from 'tap';
import ort from 'onnxruntime-node';
import { layerCamGraph, normaliseMap, saliencyLayers } from '../../models/saliency/layer-cam.ts';
import { conv, lcg, net } from '../helpers/tiny-net.ts';

t.test('layerCamGraph: ReLU(sum_c ReLU(dmean/dA) * A) at every layer', async (t) => {
  const rnd = lcg(5);
  const a = conv('a', 'x', 3, 4, 1, rnd);
  const b = conv('b', 'a_relu', 4, 2, 1, rnd);
  const ir = net([a, { op: 'relu', name: 'a_relu', input: 'a' }, b]);
  const [h, w] = [6, 5];
  const border = 2;
  const session = await ort.InferenceSession.create(layerCamGraph(ir, ['a_relu', 'b'], [h, w], border));
  const image = Float32Array.from({ length: h * w * 3 }, () => rnd() * 255);
  const out = await session.run({ image: new ort.Tensor('float32', image, [1, h, w, 3]) });
  t.same(out.saliency!.dims, [2, h, w]);
  const cams = out.saliency!.data as Float32Array;

  // By hand. The target is the mean of b over the mirrored (h+2b) x (w+2b) image.
  const n = 2 * (h + 2 * border) * (w + 2 * border);
  const gradA = Array.from({ length: 4 }, (_, c) => (b.weight[c]! + b.weight[4 + c]!) / n);
  let worst = 0;
  for (let p = 0; p < h * w; p++) {
    const pre = [0, 1, 2].map((i) => (image[p * 3 + i]! / 255 - ir.preprocess.mean[i]!) / ir.preprocess.std[i]!);
    const act = Array.from({ length: 4 }, (_, c) => Math.max(0, a.bias![c]! + pre.reduce((s, v, i) => s + a.weight[c * 3 + i]! * v, 0)));
    const camA = Math.max(0, act.reduce((s, v, c) => s + Math.max(0, gradA[c]!) * v, 0));
    const outB = [0, 1].map((o) => b.bias![o]! + act.reduce((s, v, c) => s + b.weight[o * 4 + c]! * v, 0));
    const camB = Math.max(0, (outB[0]! + outB[1]!) / n);
    worst = Math.max(worst, Math.abs(cams[p]! - camA) / Math.max(1e-6, camA), Math.abs(cams[h * w + p]! - camB) / Math.max(1e-6, camB));
  }
  t.ok(worst < 1e-4, `largest relative difference ${worst.toExponential(2)}`);
  await session.release();
});

t.test('saliencyLayers takes the deepest layer at each stride from 4 on', async (t) => {
  const layers = [
    { name: 's2', channels: 8, stride: 2 },
    { name: 's4a', channels: 8, stride: 4 },
    { name: 's4b', channels: 8, stride: 4 },
    { name: 's8', channels: 8, stride: 8 },
    { name: 's16a', channels: 8, stride: 16 },
    { name: 's16b', channels: 8, stride: 16 },
  ];
  t.same(saliencyLayers(layers), ['s4b', 's8', 's16b']);
  t.same(saliencyLayers(layers, 2), ['s8', 's16b'], 'at most count, the deepest kept');
  t.throws(() => saliencyLayers([{ name: 's2', channels: 8, stride: 2 }]), /stride 4/);
});

t.test('normaliseMap scales to 0..1; a flat map becomes zeros', async (t) => {
  t.same([...normaliseMap(Float32Array.from([2, 4, 3]))], [0, 1, 0.5]);
  t.same([...normaliseMap(Float32Array.from([5, 5]))], [0, 0]);
});
