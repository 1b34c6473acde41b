import t from 'tap';
import ort from 'onnxruntime-node';
import { aggregationGraph, aggregatedShape } from '../../models/features/aggregation.ts';
import { anomalyMapGraph } from '../../models/features/anomaly-map.ts';
import { BANK_BLOCK_ROWS, nearestNeighbourGraph } from '../../models/patchcore/graphs.ts';

const tensor = (data: number[] | Float32Array, dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

t.test('nearest-neighbour graph returns exact distances', async (t) => {
  // bank rows: (0,0), (3,4), (10,0); queries: (0,1), (3,3), (9,0), (100,0)
  const bank = Float32Array.from([0, 0, 3, 4, 10, 0]);
  const s = await ort.InferenceSession.create(nearestNeighbourGraph(bank, 3, 2));
  const out = await s.run({ features: tensor([0, 1, 3, 3, 9, 0, 100, 0], [4, 2]) });
  const d = Array.from(out.patchScores!.data as Float32Array);
  [1, 1, 1, 90].forEach((want, i) => t.ok(Math.abs(d[i]! - want) < 1e-4, `distance ${i}: ${d[i]} ~ ${want}`));
});

t.test('nearest-neighbour graph matches brute force on random data', async (t) => {
  const M = 50, C = 7, P = 30;
  let seed = 1;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const bank = Float32Array.from({ length: M * C }, rnd);
  const q = Float32Array.from({ length: P * C }, rnd);
  const s = await ort.InferenceSession.create(nearestNeighbourGraph(bank, M, C));
  const out = await s.run({ features: tensor(q, [P, C]) });
  const got = out.patchScores!.data as Float32Array;
  for (let p = 0; p < P; p++) {
    let best = Infinity;
    for (let m = 0; m < M; m++) {
      let d = 0;
      for (let c = 0; c < C; c++) d += (q[p * C + c]! - bank[m * C + c]!) ** 2;
      best = Math.min(best, d);
    }
    t.ok(Math.abs(got[p]! - Math.sqrt(best)) < 1e-4, `patch ${p}`);
  }
});

t.test('the search in bank blocks finds the nearest row in any block, and the penalty leaves rows out in every block', async (t) => {
  // Three and a bit blocks; each query's nearest row is planted in a different block, one in the last, short block.
  const M = 3 * BANK_BLOCK_ROWS + 7, C = 4;
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const bank = Float32Array.from({ length: M * C }, () => 10 + rnd());
  const planted = [5, BANK_BLOCK_ROWS + 3, 2 * BANK_BLOCK_ROWS + 100, 3 * BANK_BLOCK_ROWS + 6];
  const q = new Float32Array(planted.length * C);
  planted.forEach((row, p) => {
    for (let c = 0; c < C; c++) bank[row * C + c] = p + c * 0.5;
    for (let c = 0; c < C; c++) q[p * C + c] = p + c * 0.5 + (c === 0 ? 0.25 : 0);
  });
  const plain = await ort.InferenceSession.create(nearestNeighbourGraph(bank, M, C));
  const d = (await plain.run({ features: tensor(q, [planted.length, C]) })).patchScores!.data as Float32Array;
  planted.forEach((row, p) => t.ok(Math.abs(d[p]! - 0.25) < 1e-4, `query ${p}: nearest is row ${row} at 0.25, got ${d[p]}`));
  // Leaving the planted rows out: every query's nearest is then one of the far rows (about 10 away).
  const penalty = new Float32Array(M);
  for (const row of planted) penalty[row] = 1e30;
  const left = await ort.InferenceSession.create(nearestNeighbourGraph(bank, M, C, undefined, { withPenalty: true }));
  const e = (await left.run({ features: tensor(q, [planted.length, C]), penalty: new ort.Tensor('float32', penalty, [M]) })).patchScores!.data as Float32Array;
  planted.forEach((_, p) => t.ok(e[p]! > 5, `query ${p} without the planted rows: ${e[p]} is a far row`));
});

t.test('aggregation averages 3x3 neighbourhoods, upsamples deeper layers and concatenates', async (t) => {
  const layers = [
    { name: 'shallow', channels: 1, height: 4, width: 4 },
    { name: 'deep', channels: 2, height: 2, width: 2 },
  ];
  t.same(aggregatedShape(layers, 'patchcore'), { channels: 3, height: 4, width: 4 });
  t.same(aggregatedShape(layers, 'sppm'), { channels: 9, height: 4, width: 4 });
  const s = await ort.InferenceSession.create(aggregationGraph(layers, 'patchcore'));
  const shallow = Array.from({ length: 16 }, (_, i) => i);
  const deep = [1, 1, 1, 1, 5, 5, 5, 5]; // constant per channel
  const out = await s.run({ shallow: tensor(shallow, [1, 1, 4, 4]), deep: tensor(deep, [1, 2, 2, 2]) });
  t.same(out.features!.dims, [1, 16, 3]);
  const f = out.features!.data as Float32Array;
  // Position (1,1): mean of rows 0..2, cols 0..2 of the ramp = (0+1+2+4+5+6+8+9+10)/9 = 5.
  t.ok(Math.abs(f[(1 * 4 + 1) * 3]! - 5) < 1e-5);
  // Corner (0,0) counts padded zeros: (0+1+4+5)/9 = 10/9.
  t.ok(Math.abs(f[0]! - 10 / 9) < 1e-5);
  // Deep channels: every position of a constant 2x2 map is a corner, so its padded 3x3 mean
  // is 4/9 of the value; upsampling a constant map keeps it constant.
  t.ok(Math.abs(f[(1 * 4 + 1) * 3 + 1]! - 4 / 9) < 1e-5);
  t.ok(Math.abs(f[(1 * 4 + 1) * 3 + 2]! - 20 / 9) < 1e-5);
});

t.test('SPPM aggregation runs and triples channels', async (t) => {
  const layers = [{ name: 'a', channels: 2, height: 8, width: 8 }];
  const s = await ort.InferenceSession.create(aggregationGraph(layers, 'sppm'));
  const out = await s.run({ a: tensor(new Float32Array(128).fill(1), [1, 2, 8, 8]) });
  t.same(out.features!.dims, [1, 64, 6]);
  const f = out.features!.data as Float32Array;
  // Interior positions of a constant map stay 1 at every pyramid level.
  const centre = (4 * 8 + 4) * 6;
  t.ok(Math.abs(f[centre]! - 1) < 1e-5 && Math.abs(f[centre + 2]! - 1) < 0.2, 'pooled constant stays close to 1 inside');
});

t.test('anomaly map upsamples and blurs; a constant map stays constant', async (t) => {
  const s = await ort.InferenceSession.create(anomalyMapGraph({ height: 2, width: 2 }, { height: 16, width: 16 }, 2));
  const out = await s.run({ patchScores: tensor([3, 3, 3, 3], [4]) });
  t.same(out.map!.dims, [16, 16]);
  const m = out.map!.data as Float32Array;
  t.ok(m.every((v) => Math.abs(v - 3) < 1e-4));
  const peak = await s.run({ patchScores: tensor([0, 0, 0, 8], [4]) });
  const pm = peak.map!.data as Float32Array;
  t.ok(pm[15 * 16 + 15]! > pm[0]!, 'the high patch stays high after blurring');
  t.ok(Math.abs(Math.max(...pm) - 8) > 0.1, 'the peak is smoothed');
});

t.test('a reduced search measures distances after the reduction', async (t) => {
  // Reduction keeps only the first of two channels, after subtracting 1.
  const reduction = { mean: Float32Array.from([1, 0]), axes: Float32Array.from([1, 0]) };
  const bank = Float32Array.from([0, 10]); // two 1-D bank rows
  const s = await ort.InferenceSession.create(nearestNeighbourGraph(bank, 2, 2, reduction));
  const out = await s.run({ features: tensor([1, 99, 8, -5], [2, 2]) });
  const d = Array.from(out.patchScores!.data as Float32Array);
  t.ok(Math.abs(d[0]!) < 1e-4 && Math.abs(d[1]! - 3) < 1e-4, `distances ${d}`);
});
