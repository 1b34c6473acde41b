/**
 * The int8 backbone: quantizer arithmetic on hand values, and the emitted
 * QDQ graph run in ONNX Runtime — fused into QLinearConv, float outputs, and
 * features close to the float graph's.
 */
import t from 'tap';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import {
  activationQuantParams,
  dequantizePerChannel,
  emitCalibrationForward,
  emitInt8Forward,
  fakeQuantize,
  quantizeBias,
  quantizeWeightsPerChannel,
} from '../../models/onnx/emit-int8.ts';
import { emitForward } from '../../models/onnx/emit-forward.ts';
import { calibrateActivationRanges, widenRange } from '../../models/features/calibrate-ranges.ts';
import { loadBackbone } from '../../models/backbones/registry.ts';
import type { ActivationRanges } from '../../models/onnx/emit-int8.ts';
import { conv, lcg, net } from '../helpers/tiny-net.ts';
import { partPixels } from '../helpers/images.ts';

t.test('weights: symmetric int8 per output channel', async (t) => {
  const w = Float32Array.from([1, -0.6, 0.3, 0.03, -0.04, 0.011]);
  const { values, scales } = quantizeWeightsPerChannel(w, 2);
  t.ok(Math.abs(scales[0]! - 1 / 127) < 1e-9 && Math.abs(scales[1]! - 0.04 / 127) < 1e-9, 'scale = max |w| / 127 per channel');
  // -0.6 * 127 = -76.2; 0.3 * 127 = 38.1; 0.03 / (0.04 / 127) = 95.25; 0.011 / (0.04 / 127) = 34.925.
  t.same(Array.from(values), [127, -76, 38, 95, -127, 35]);
  const back = dequantizePerChannel(values, scales);
  for (let i = 0; i < w.length; i++) t.ok(Math.abs(back[i]! - w[i]!) <= scales[i < 3 ? 0 : 1]! / 2 + 1e-9, `weight ${i} within half a step`);
  t.same(Array.from(quantizeWeightsPerChannel(Float32Array.from([0, 0, 2]), 3).scales), [1, 1, 2 / 127].map(Math.fround), 'an all-zero channel keeps scale 1');
  t.throws(() => quantizeWeightsPerChannel(new Float32Array(5), 2), /do not split/);
});

t.test('activations: uint8 affine quantizer with an exact zero', async (t) => {
  t.same(activationQuantParams(0, 6), { scale: 6 / 255, zeroPoint: 0 });
  t.same(activationQuantParams(-1, 3), { scale: 4 / 255, zeroPoint: 64 }, 'zero point round(1 / (4/255)) = round(63.75)');
  t.same(activationQuantParams(2, 5), { scale: 5 / 255, zeroPoint: 0 }, 'range widened to include 0');
  t.same(activationQuantParams(0, 0), { scale: 1, zeroPoint: 0 });
  const { scale, zeroPoint } = activationQuantParams(-1, 3);
  t.equal(fakeQuantize(0, scale, zeroPoint), 0, 'zero is exact');
  t.ok(Math.abs(fakeQuantize(1.3, scale, zeroPoint) - 1.3) <= scale / 2 + 1e-9);
  t.ok(Math.abs(fakeQuantize(10, scale, zeroPoint) - (255 - 64) * scale) < 1e-9, 'values beyond the range saturate');
  t.ok(Math.abs(fakeQuantize(-5, scale, zeroPoint) + 64 * scale) < 1e-9);
});

t.test('bias: int32 at input scale x weight scale', async (t) => {
  const { values, scales } = quantizeBias(Float32Array.from([0.5, -0.25]), 0.1, Float32Array.from([0.01, 0.05]));
  t.same(Array.from(values), [500, -50]);
  t.ok(Math.abs(scales[0]! - 0.001) < 1e-9 && Math.abs(scales[1]! - 0.005) < 1e-9);
});

t.test('calibration ranges widen over samples', async (t) => {
  const ranges: ActivationRanges = {};
  widenRange(ranges, 'a', Float32Array.from([0.5, -2, 3]));
  widenRange(ranges, 'a', Float32Array.from([4, 1]));
  t.same(ranges, { a: [-2, 4] });
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

function relativeError(ref: Float32Array, x: Float32Array): number {
  let e = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    e += (ref[i]! - x[i]!) ** 2;
    n += ref[i]! ** 2;
  }
  return Math.sqrt(e / n);
}

async function opTypesAfterOptimisation(model: Uint8Array): Promise<Map<string, number>> {
  const path = join(await mkdtemp(join(tmpdir(), 'linesight-int8-')), 'optimised.onnx');
  await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, logSeverityLevel: 3 });
  const graph = onnxProto.onnx.ModelProto.decode(await readFile(path)).graph!;
  const counts = new Map<string, number>();
  for (const n of graph.node ?? []) counts.set(n.opType!, (counts.get(n.opType!) ?? 0) + 1);
  return counts;
}

/**
 * A part image with camera-like noise (+-30 grey levels). A noise-free flat
 * disc is the worst case for int8 weights (cosine about 0.975 with float
 * activations), far from what a camera delivers.
 */
function image(size: number, variant: number, defect?: { x: number; y: number; r: number }): Float32Array {
  const noise = lcg(variant + 1);
  return Float32Array.from(partPixels(size, size, variant, defect), (p) => Math.max(0, Math.min(255, p + (noise() - 0.5) * 60)));
}

t.test('a tiny network: calibration outputs, fused QLinearConv, float outputs close to float', async (t) => {
  const rnd = lcg(7);
  const ir = net([
    conv('c1', 'x', 3, 8, 3, rnd),
    { op: 'relu6', name: 'a1', input: 'c1' },
    conv('c2', 'a1', 8, 8, 3, rnd, { group: 8 }),
    { op: 'relu6', name: 'a2', input: 'c2' },
    conv('c3', 'a2', 8, 4, 1, rnd),
  ]);
  const opts = { outputs: ['c3'], inputSize: [16, 16] as [number, number], batch: 1 };
  const { tensors } = emitCalibrationForward(ir, opts);
  t.same(tensors.sort(), ['a1', 'a2', 'x'], 'conv inputs and conv outputs (after their activation) are calibrated; the feature output is not');
  const samples = [0, 1, 2, 3].map((v) => image(16, v));
  const ranges = await calibrateActivationRanges(ir, opts.outputs, { width: 16, height: 16 }, samples);
  t.ok(ranges.a1![0] >= 0 && ranges.a1![1] <= 6, 'a ReLU6 output ranges within [0, 6]');
  const int8 = emitInt8Forward(ir, { ...opts, ranges });
  const ops = await opTypesAfterOptimisation(int8);
  const listed = [...ops].map(([k, v]) => `${k} ${v}`).join(', ');
  t.equal(ops.get('QLinearConv'), 2, `the convolutions with a quantized output run as QLinearConv (${listed})`);
  t.notOk(ops.has('Clip'), 'the ReLU6 clips are folded into the quantizers');
  const feed = { image: new ort.Tensor('float32', image(16, 5), [1, 16, 16, 3]) };
  const f = (await (await ort.InferenceSession.create(emitForward(ir, opts))).run(feed)).c3!;
  const q = (await (await ort.InferenceSession.create(int8)).run(feed)).c3!;
  t.equal(q.type, 'float32', 'the feature output stays float');
  t.same(q.dims, f.dims);
  t.ok(cosine(f.data as Float32Array, q.data as Float32Array) > 0.99);
  t.throws(() => emitInt8Forward(ir, { ...opts, ranges: { x: [0, 1] } }), /no calibrated range for "a1"/);
});

t.test('a concatenation read by two convolutions is quantized once and both run as QLinearConv', async (t) => {
  const rnd = lcg(3);
  const ir = net([
    conv('c1', 'x', 3, 4, 3, rnd),
    { op: 'relu', name: 'a1', input: 'c1' },
    conv('c2', 'x', 3, 4, 1, rnd),
    { op: 'relu', name: 'a2', input: 'c2' },
    { op: 'concat', name: 'cat', inputs: ['a1', 'a2'] },
    conv('b1', 'cat', 8, 4, 1, rnd),
    conv('b2', 'cat', 8, 4, 3, rnd),
    { op: 'add', name: 'out', inputs: ['b1', 'b2'] },
  ]);
  const opts = { outputs: ['out'], inputSize: [16, 16] as [number, number], batch: 1 };
  const ranges = await calibrateActivationRanges(ir, opts.outputs, { width: 16, height: 16 }, [0, 1, 2].map((v) => image(16, v)));
  t.ok(ranges.cat, 'the concatenation is calibrated as a convolution input');
  const int8 = emitInt8Forward(ir, { ...opts, ranges });
  const quantizers = onnxProto.onnx.ModelProto.decode(int8).graph!.node!.filter((n) => n.opType === 'QuantizeLinear' && n.input![0]!.startsWith('cat'));
  t.equal(quantizers.length, 1, 'one quantizer for the concatenation');
  const ops = await opTypesAfterOptimisation(int8);
  t.equal(ops.get('QLinearConv'), 4, `every convolution runs as QLinearConv (${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')})`);
  t.notOk(ops.has('Conv'), 'no float convolution is left');
});

for (const id of ['mobilenet_v2', 'mobilenet_v2_mid']) {
  t.test(`${id} int8 features are close to float32 on a test image`, async (t) => {
    const backbone = await loadBackbone(id);
    const layers = backbone.defaultLayers;
    const size = 224;
    const ranges = await calibrateActivationRanges(backbone.ir!, layers, { width: size, height: size }, [0, 1, 2, 3, 4, 5].map((v) => image(size, v)));
    const int8 = emitInt8Forward(backbone.ir!, { outputs: layers, inputSize: [size, size], ranges });
    const ops = await opTypesAfterOptimisation(int8);
    t.notOk(ops.has('Conv') || ops.has('FusedConv'), 'no float convolution is left');
    t.ok((ops.get('QLinearConv') ?? 0) > 30, `${ops.get('QLinearConv')} QLinearConv`);
    const feed = { image: new ort.Tensor('float32', image(size, 9, { x: 120, y: 100, r: 12 }), [1, size, size, 3]) };
    const f = await (await ort.InferenceSession.create(backbone.buildGraph(layers, [size, size]))).run(feed);
    const q = await (await ort.InferenceSession.create(int8)).run(feed);
    for (const layer of layers) {
      const a = f[layer]!.data as Float32Array;
      const b = q[layer]!.data as Float32Array;
      const cos = cosine(a, b);
      const rel = relativeError(a, b);
      t.ok(cos > 0.99, `${layer}: cosine ${cos.toFixed(4)} > 0.99`);
      t.ok(rel < 0.15, `${layer}: relative error ${rel.toFixed(4)} < 0.15`);
    }
  });
}

t.test('InceptionV3 int8: every convolution quantized, features close to float32', async (t) => {
  const backbone = await loadBackbone('inception_v3');
  const layers = backbone.defaultLayers;
  const size = 224;
  const ranges = await calibrateActivationRanges(backbone.ir!, layers, { width: size, height: size }, [0, 1, 2, 3].map((v) => image(size, v)));
  const int8 = emitInt8Forward(backbone.ir!, { outputs: layers, inputSize: [size, size], ranges });
  const ops = await opTypesAfterOptimisation(int8);
  t.notOk(ops.has('Conv') || ops.has('FusedConv'), 'no float convolution is left, also where a concatenation feeds several branches');
  const feed = { image: new ort.Tensor('float32', image(size, 9, { x: 120, y: 100, r: 12 }), [1, size, size, 3]) };
  const f = await (await ort.InferenceSession.create(backbone.buildGraph(layers, [size, size]))).run(feed);
  const q = await (await ort.InferenceSession.create(int8)).run(feed);
  for (const layer of layers) {
    const a = f[layer]!.data as Float32Array;
    const b = q[layer]!.data as Float32Array;
    const cos = cosine(a, b);
    const rel = relativeError(a, b);
    t.ok(cos > 0.99, `${layer}: cosine ${cos.toFixed(4)} > 0.99`);
    t.ok(rel < 0.15, `${layer}: relative error ${rel.toFixed(4)} < 0.15`);
  }
});
