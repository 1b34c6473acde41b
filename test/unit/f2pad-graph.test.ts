/**
 * The F2PAD objective graph on a tiny random network: the aggregation as IR
 * nodes equals the scorer's aggregation graph, the loss equals a direct
 * computation from the features, its image gradient matches central finite
 * differences, and the candidate search returns the true nearest bank rows.
 */
import t from 'tap';
import ort from 'onnxruntime-node';
import { emitForward, layerShapes } from '../../models/onnx/emit-forward.ts';
import { aggregationGraph, aggregationNodes, type Aggregation } from '../../models/features/aggregation.ts';
import { nearestCandidatesGraph } from '../../models/patchcore/graphs.ts';
import { f2padObjectiveGraph } from '../../models/refine/f2pad-graph.ts';
import { conv, lcg, net } from '../helpers/tiny-net.ts';

const rnd = lcg(31);
const tiny = net([
  conv('c1', 'x', 3, 4, 3, rnd, { stride: [2, 2], pads: [1, 1, 1, 1] }),
  { op: 'relu', name: 'r1', input: 'c1' },
  conv('c2', 'r1', 4, 6, 3, rnd, { stride: [2, 2], pads: [1, 1, 1, 1] }),
  { op: 'relu6', name: 'r2', input: 'c2' },
]);
const size: [number, number] = [32, 32];
const shapes = layerShapes(tiny, size);
const layers = ['r1', 'r2'].map((name) => {
  const [channels, height, width] = shapes.get(name)!;
  return { name, channels, height, width };
});
const image = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => {
  const p = Math.floor(i / 3);
  return 128 + 70 * Math.sin((p % 32) / 4 + (i % 3)) * Math.cos(Math.floor(p / 32) / 5) + 10 * (rnd() - 0.5);
});
const imageTensor = (x: Float32Array) => new ort.Tensor('float32', x, [1, 32, 32, 3]);

/** Patch rows [P, C] from the scorer's own graphs: backbone forward, then aggregation. */
async function scorerRows(aggregation: Aggregation, x: Float32Array): Promise<Float32Array> {
  const backbone = await ort.InferenceSession.create(emitForward(tiny, { outputs: ['r1', 'r2'], inputSize: size }));
  const aggregate = await ort.InferenceSession.create(aggregationGraph(layers, aggregation));
  const out = await backbone.run({ image: imageTensor(x) });
  const rows = (await aggregate.run({ r1: out.r1!, r2: out.r2! })).features!.data as Float32Array;
  await backbone.release();
  await aggregate.release();
  return rows;
}

for (const aggregation of ['patchcore', 'sppm'] as const) {
  t.test(`aggregation as IR nodes equals the aggregation graph (${aggregation})`, async (t) => {
    const withAgg = { ...tiny, nodes: [...tiny.nodes, ...aggregationNodes(layers, aggregation, 'pf')] };
    const session = await ort.InferenceSession.create(emitForward(withAgg, { outputs: ['pf'], inputSize: size }));
    const nchw = (await session.run({ image: imageTensor(image) })).pf!;
    const [, c, h, w] = nchw.dims.map(Number) as [number, number, number, number];
    const want = await scorerRows(aggregation, image);
    t.equal(c * h * w, want.length, `${c} channels on a ${w}x${h} grid`);
    let worst = 0;
    const got = nchw.data as Float32Array;
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) worst = Math.max(worst, Math.abs(got[ch * h * w + p]! - want[p * c + ch]!));
    t.ok(worst < 1e-5, `largest difference ${worst.toExponential(2)}`);
    await session.release();
  });
}

t.test('objective graph: loss from the features, gradient against finite differences', async (t) => {
  const channels = 4 + 6;
  const dim = 5;
  const positions = 16 * 16;
  const k = 3;
  const reduction = { mean: Float32Array.from({ length: channels }, () => rnd() - 0.5), axes: Float32Array.from({ length: channels * dim }, () => rnd() - 0.5) };
  const candidates = Float32Array.from({ length: positions * k * dim }, () => (rnd() - 0.5) * 4);
  const weights = Float32Array.from({ length: positions }, (_, p) => (p % 3 === 0 ? 1 : 0));
  const session = await ort.InferenceSession.create(f2padObjectiveGraph(tiny, { layers, aggregation: 'patchcore', inputSize: size, candidates: k, reduction }));
  const run = (x: Float32Array) =>
    session.run({ image: imageTensor(x), candidates: new ort.Tensor('float32', candidates, [positions, k, dim]), weights: new ort.Tensor('float32', weights, [positions]) });
  const out = await run(image);

  // The loss straight from the scorer's rows: reduce, nearest candidate, weighted sum.
  const rows = await scorerRows('patchcore', image);
  let expected = 0;
  for (let p = 0; p < positions; p++) {
    const e = Array.from({ length: dim }, (_, d) => {
      let s = 0;
      for (let c = 0; c < channels; c++) s += (rows[p * channels + c]! - reduction.mean[c]!) * reduction.axes[c * dim + d]!;
      return s;
    });
    let best = Infinity;
    for (let j = 0; j < k; j++) best = Math.min(best, e.reduce((s, v, d) => s + (v - candidates[(p * k + j) * dim + d]!) ** 2, 0));
    expected += weights[p]! * Math.sqrt(best);
  }
  const loss = (out.loss!.data as Float32Array)[0]!;
  t.ok(Math.abs(loss - expected) < 1e-4 * Math.abs(expected), `loss ${loss.toFixed(4)} = ${expected.toFixed(4)}`);

  const grad = out.grad_image!.data as Float32Array;
  // The weighted sum is taken here in float64 from the per-position distances,
  // so float32 rounding of the total does not swamp the small differences.
  const total = async (x: Float32Array) => {
    const d = (await run(x)).distances!.data as Float32Array;
    return d.reduce((s, v, p) => s + weights[p]! * v, 0);
  };
  const step = 0.05;
  for (let d = 0; d < 4; d++) {
    const v = Float32Array.from({ length: image.length }, () => rnd() * 2 - 1);
    const plus = await total(image.map((x, i) => x + step * v[i]!));
    const minus = await total(image.map((x, i) => x - step * v[i]!));
    const numeric = (plus - minus) / (2 * step);
    let analytic = 0;
    for (let i = 0; i < image.length; i++) analytic += grad[i]! * v[i]!;
    const rel = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic), 1e-6);
    t.ok(rel < 0.02, `direction ${d}: finite difference ${numeric.toPrecision(6)} vs gradient ${analytic.toPrecision(6)} (relative error ${rel.toExponential(2)})`);
  }
  await session.release();
});

t.test('nearestCandidatesGraph: the k nearest bank rows, nearest first', async (t) => {
  const dim = 3;
  const bank = Float32Array.from([0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 5, 5, 0, 0, 0.5]);
  const session = await ort.InferenceSession.create(nearestCandidatesGraph(bank, 5, dim, 3));
  const features = Float32Array.from([0.9, 0, 0, 0, 1.9, 0]);
  const out = await session.run({ features: new ort.Tensor('float32', features, [2, dim]) });
  t.same([...(out.indices!.data as BigInt64Array)].map(Number), [1, 0, 4, 2, 0, 4]);
  const capped = await ort.InferenceSession.create(nearestCandidatesGraph(bank, 5, dim, 9));
  t.same((await capped.run({ features: new ort.Tensor('float32', features, [2, dim]) })).indices!.dims, [2, 5], 'never more candidates than bank rows');
});
