/**
 * The input-gradient graph against central finite differences of the forward
 * graph, for every op of the layer IR on tiny random networks and for the
 * whole MobileNetV2 feature extractor. The check is on directional
 * derivatives: for random directions v, (f(x + hv) - f(x - hv)) / 2h must
 * equal grad . v, where f(x) = sum over outputs of r . layer(x) for fixed
 * random r (the seeds fed as grad_<layer>).
 */
import t, { type Test } from 'tap';
import ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { kerasMobileNetV2Probe } from '../helpers/nsfwjs-reference.ts';
import { emitForward, layerShapes } from '../../models/onnx/emit-forward.ts';
import { emitInputGradient, resizeMatrix } from '../../models/onnx/emit-gradient.ts';
import type { BackboneIR } from '../../models/ir.ts';
import { conv, lcg, net } from '../helpers/tiny-net.ts';
import { loadMobileNetV2 } from '../../models/backbones/mobilenet-v2.ts';
import { GraphBuilder } from '../../models/onnx/graph-builder.ts';

interface CheckOptions {
  directions?: number;
  step?: number;
  /** Largest relative error allowed in any direction. */
  tolerance?: number;
  /** Largest median relative error over the directions. */
  medianTolerance?: number;
}

async function checkGradient(t: Test, ir: BackboneIR, outputs: string[], inputSize: [number, number], seed: number, opts: CheckOptions = {}) {
  const rnd = lcg(seed);
  const [h, w] = inputSize;
  const forward = await ort.InferenceSession.create(emitForward(ir, { outputs, inputSize, batch: 1 }));
  const gradient = await ort.InferenceSession.create(emitInputGradient(ir, { outputs, inputSize }));
  const shapes = layerShapes(ir, inputSize);
  const seeds: Record<string, Float32Array> = {};
  for (const o of outputs) {
    const [c, oh, ow] = shapes.get(o)!;
    seeds[o] = Float32Array.from({ length: c * oh * ow }, () => rnd() * 2 - 1);
  }
  const f = async (x: Float32Array) => {
    const out = await forward.run({ image: new ort.Tensor('float32', x, [1, h, w, 3]) });
    let sum = 0;
    for (const o of outputs) {
      const data = out[o]!.data as Float32Array;
      for (let i = 0; i < data.length; i++) sum += data[i]! * seeds[o]![i]!;
    }
    return sum;
  };
  // A smooth image with mild noise, like a photographed part (pure noise drives
  // most activations into their kinks).
  const x = Float32Array.from({ length: h * w * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    const [yy, xx, c] = [Math.floor(p / w), p % w, i % 3];
    return 128 + 60 * Math.sin((xx + 2 * c) / 5) * Math.cos(yy / 7) + 20 * (rnd() - 0.5);
  });
  const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', x, [1, h, w, 3]) };
  for (const o of outputs) {
    const [c, oh, ow] = shapes.get(o)!;
    feeds[`grad_${o}`] = new ort.Tensor('float32', seeds[o]!, [1, c, oh, ow]);
  }
  const result = await gradient.run(feeds);
  const grad = result.grad_image!.data as Float32Array;
  t.equal(grad.length, x.length, 'gradient has the image shape');
  // The graph also returns the forward layers: they must equal the forward graph's.
  const fwd = await forward.run({ image: feeds.image! });
  for (const o of outputs) {
    const a = result[o]!.data as Float32Array;
    const b = fwd[o]!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
    t.ok(a.length === b.length && worst < 1e-5, `${o} forward values match the forward graph (worst relative difference ${worst.toExponential(1)})`);
  }

  const step = opts.step ?? 0.05;
  const tolerance = opts.tolerance ?? 0.01;
  const errors: number[] = [];
  for (let d = 0; d < (opts.directions ?? 3); d++) {
    const v = Float32Array.from({ length: x.length }, () => rnd() * 2 - 1);
    const plus = x.map((xi, i) => xi + step * v[i]!);
    const minus = x.map((xi, i) => xi - step * v[i]!);
    const numeric = ((await f(plus)) - (await f(minus))) / (2 * step);
    let analytic = 0;
    for (let i = 0; i < x.length; i++) analytic += grad[i]! * v[i]!;
    const rel = Math.abs(numeric - analytic) / Math.max(1e-6, Math.abs(numeric), Math.abs(analytic));
    errors.push(rel);
    t.ok(rel < tolerance, `direction ${d}: finite difference ${numeric.toPrecision(6)} vs gradient ${analytic.toPrecision(6)} (relative error ${rel.toExponential(2)})`);
  }
  if (opts.medianTolerance !== undefined) {
    const median = [...errors].sort((a, b) => a - b)[Math.floor(errors.length / 2)]!;
    t.ok(median < opts.medianTolerance, `median relative error ${median.toExponential(2)} < ${opts.medianTolerance}`);
  }
  await forward.release();
  await gradient.release();
}

t.test('resizeMatrix reproduces ONNX Runtime Resize (half_pixel)', async (t) => {
  for (const [inSize, outSize, mode] of [
    [4, 8, 'bilinear'],
    [7, 28, 'bilinear'],
    [5, 8, 'bilinear'],
    [8, 5, 'bilinear'],
    [4, 8, 'nearest'],
    [3, 6, 'nearest'],
  ] as const) {
    const g = new GraphBuilder('resize');
    const x = g.input('x', [1, 1, 1, inSize]);
    const scales = g.floats('scales', [1, 1, 1, outSize / inSize]);
    g.output(g.op('Resize', [x, '', scales], { mode: mode === 'bilinear' ? 'linear' : 'nearest', coordinate_transformation_mode: 'half_pixel' }), 'y', [1, 1, 1, outSize]);
    const session = await ort.InferenceSession.create(g.toBytes());
    const m = resizeMatrix(inSize, outSize, mode);
    for (let i = 0; i < inSize; i++) {
      const unit = new Float32Array(inSize);
      unit[i] = 1;
      const y = (await session.run({ x: new ort.Tensor('float32', unit, [1, 1, 1, inSize]) })).y!.data as Float32Array;
      const column = Array.from({ length: outSize }, (_, o) => m[o * inSize + i]!);
      t.ok(
        column.every((c, o) => Math.abs(c - y[o]!) < 1e-6),
        `${mode} ${inSize}->${outSize}, source ${i}: [${column.map((c) => c.toFixed(3))}] vs [${Array.from(y, (c) => c.toFixed(3))}]`,
      );
    }
    await session.release();
  }
});

t.test('convolutions: plain, strided with asymmetric pads, dilated, grouped, depthwise', async (t) => {
  const rnd = lcg(3);
  const ir = net([
    conv('c1', 'x', 3, 4, 3, rnd),
    conv('c2', 'c1', 4, 6, 3, rnd, { stride: [2, 2], pads: [0, 0, 1, 1] }),
    conv('c3', 'c2', 6, 6, 3, rnd, { dilation: [2, 2], pads: [2, 2, 2, 2] }),
    conv('c4', 'c3', 6, 4, 1, rnd, { group: 2, pads: [0, 0, 0, 0] }),
    conv('c5', 'c4', 4, 4, 3, rnd, { group: 4, stride: [2, 2], pads: [1, 1, 1, 1] }),
  ]);
  await checkGradient(t, ir, ['c5'], [13, 10], 11);
});

t.test('zero pads: folded into the convolution and kept on their own', async (t) => {
  const rnd = lcg(4);
  const ir = net([
    { op: 'pad', name: 'p1', input: 'x', pads: [0, 0, 1, 1] },
    conv('c1', 'p1', 3, 4, 3, rnd, { stride: [2, 2], pads: [0, 0, 0, 0], group: 1 }),
    { op: 'pad', name: 'p2', input: 'c1', pads: [1, 2, 0, 1] },
    conv('c2', 'p2', 4, 4, 3, rnd, { pads: [0, 0, 0, 0] }),
    { op: 'relu', name: 'r2', input: 'p2' },
  ]);
  await checkGradient(t, ir, ['c2', 'r2'], [12, 12], 12);
});

t.test('activations and residual adds with fan-out', async (t) => {
  const rnd = lcg(5);
  const big = conv('c1', 'x', 3, 4, 3, rnd);
  big.weight = big.weight.map((v) => v * 0.2);
  const ir = net([
    big,
    { op: 'relu6', name: 'a1', input: 'c1' },
    conv('c2', 'a1', 4, 4, 3, rnd),
    { op: 'relu', name: 'a2', input: 'c2' },
    { op: 'add', name: 'sum', inputs: ['a1', 'a2'] },
    conv('c3', 'sum', 4, 4, 1, rnd, { pads: [0, 0, 0, 0] }),
    { op: 'add', name: 'sum2', inputs: ['sum', 'c3'] },
  ]);
  // Several ReLU6 outputs sit at 6 and at 0: the gradient must mask both sides.
  // The step is small enough not to cross a kink and large enough to stay above
  // float32 noise at this input.
  await checkGradient(t, ir, ['sum2'], [10, 10], 13, { step: 0.005 });
});

t.test('pooling: max (overlapping windows), average with and without padded pixels', async (t) => {
  const rnd = lcg(6);
  const ir = net([
    conv('c1', 'x', 3, 4, 3, rnd),
    { op: 'maxpool', name: 'mp', input: 'c1', kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] },
    { op: 'avgpool', name: 'ap1', input: 'mp', kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], countIncludePad: false },
    { op: 'avgpool', name: 'ap2', input: 'ap1', kernel: [4, 4], stride: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true },
    { op: 'avgpool', name: 'ap3', input: 'mp', kernel: [5, 5], stride: [4, 4], pads: [2, 2, 2, 2], countIncludePad: true },
  ]);
  await checkGradient(t, ir, ['ap2', 'ap3'], [16, 14], 14, { step: 0.01 });
});

t.test('concat and resize (bilinear up by 2 and 5->8, nearest)', async (t) => {
  const rnd = lcg(7);
  const ir = net([
    conv('c1', 'x', 3, 2, 3, rnd),
    conv('c2', 'c1', 2, 3, 3, rnd, { stride: [2, 2], pads: [1, 1, 1, 1] }),
    { op: 'resize', name: 'up', input: 'c2', size: [10, 10], mode: 'bilinear' },
    { op: 'resize', name: 'odd', input: 'c2', size: [8, 8], mode: 'bilinear' },
    { op: 'resize', name: 'near', input: 'c2', size: [10, 10], mode: 'nearest' },
    { op: 'concat', name: 'cat', inputs: ['c1', 'up', 'near'] },
  ]);
  await checkGradient(t, ir, ['cat', 'odd'], [10, 10], 15);
});

t.test('whole backbone: MobileNetV2 to block_5_add and block_12_add, against finite differences', async (t) => {
  const { ir } = await loadMobileNetV2();
  // Thousands of ReLU6 units sit near 0 or 6, so any finite step crosses some
  // kinks, and float32 noise keeps the step from shrinking: central differences
  // of the whole network agree with the true gradient only to a few per cent.
  // The bounds say so; the exact check is the tfjs autodiff test below.
  await checkGradient(t, ir, ['block_5_add', 'block_12_add'], [64, 64], 21, { step: 0.05, tolerance: 0.2, medianTolerance: 0.08, directions: 7 });
});

t.test('whole backbone: the gradient equals tfjs autodiff of the Keras model', async (t) => {
  const layers = ['block_5_add', 'block_12_add'];
  const probe = await kerasMobileNetV2Probe(layers);
  const size = 64;
  const rnd = lcg(7);
  const pixels = Float32Array.from({ length: size * size * 3 }, () => 20 + rnd() * 215);
  const { ir } = await loadMobileNetV2();
  const shapes = layerShapes(ir, [size, size]);
  const seeds = layers.map((l) => {
    const [c, h, w] = shapes.get(l)!;
    return Float32Array.from({ length: c * h * w }, () => rnd() * 2 - 1);
  });
  // f(x) = sum over layers of <seed, layer(x)>, so df/dx is the vector-Jacobian product.
  const f = (x: tf.Tensor) => {
    const outs = probe.apply(x.div(255)) as tf.Tensor[];
    return outs
      .map((o, i) => {
        const [c, h, w] = shapes.get(layers[i]!)!;
        return o.transpose([0, 3, 1, 2]).mul(tf.tensor4d(seeds[i]!, [1, c, h, w])).sum();
      })
      .reduce((a, b) => a.add(b));
  };
  const want = (await tf.grad(f)(tf.tensor4d(pixels, [1, size, size, 3])).data()) as Float32Array;
  const session = await ort.InferenceSession.create(emitInputGradient(ir, { outputs: layers, inputSize: [size, size] }));
  const feeds: Record<string, ort.Tensor> = { image: new ort.Tensor('float32', pixels, [1, size, size, 3]) };
  layers.forEach((l, i) => {
    const [c, h, w] = shapes.get(l)!;
    feeds[`grad_${l}`] = new ort.Tensor('float32', seeds[i]!, [1, c, h, w]);
  });
  const got = (await session.run(feeds)).grad_image!.data as Float32Array;
  let maxAbs = 0;
  let maxDiff = 0;
  let dot = 0;
  let n1 = 0;
  let n2 = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(want[i]! - got[i]!));
    dot += want[i]! * got[i]!;
    n1 += want[i]! ** 2;
    n2 += got[i]! ** 2;
  }
  const cosine = dot / Math.sqrt(n1 * n2);
  t.equal(got.length, want.length, 'same size');
  t.ok(maxAbs > 0, `the gradient is not zero (largest ${maxAbs.toExponential(2)})`);
  t.ok(maxDiff <= 1e-4 * maxAbs, `largest difference ${maxDiff.toExponential(2)} <= 1e-4 x ${maxAbs.toExponential(2)}`);
  t.ok(cosine > 0.99999, `cosine similarity ${cosine.toFixed(7)}`);
  await session.release();
});
