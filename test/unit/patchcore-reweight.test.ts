/**
 * PatchCore's image-score reweighting (Roth et al. 2022, eq. 7) as the
 * nearest-neighbour graph computes it, on banks small enough to check by hand.
 */
import t, { type Test } from 'tap';
import ort from 'onnxruntime-node';
import { nearestNeighbourGraph } from '../../models/patchcore/graphs.ts';
import { NearestNeighbourSearch, leftOutScores } from '../../models/patchcore/model.ts';

const tensor = (data: number[] | Float32Array, dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);

async function imageScore(
  t: Test,
  bank: number[],
  dim: number,
  queries: number[],
  neighbours: number,
  penalty?: number[],
): Promise<{ patchScores: number[]; score: number }> {
  const s = await ort.InferenceSession.create(nearestNeighbourGraph(Float32Array.from(bank), bank.length / dim, dim, undefined, { reweightNeighbours: neighbours, withPenalty: !!penalty }));
  const feeds: Record<string, ort.Tensor> = { features: tensor(queries, [queries.length / dim, dim]) };
  if (penalty) feeds.penalty = tensor(penalty, [penalty.length]);
  const out = await s.run(feeds);
  await s.release();
  t.same(out.imageScore!.dims, [1], 'one image score');
  return { patchScores: Array.from(out.patchScores!.data as Float32Array), score: (out.imageScore!.data as Float32Array)[0]! };
}

t.test('a worst patch next to a dense bank region is weighted towards 1 - 1/b', async (t) => {
  // 1-D bank 0, 0.1, 0.2, 10; the patch at 5 is worst (4.8 from its nearest row 0.2).
  // N_3(0.2) = {0.2, 0.1, 0}, at 4.8, 4.9 and 5.0 from the patch:
  // weight = 1 - e^4.8 / (e^4.8 + e^4.9 + e^5.0) = 1 - 1 / (1 + e^0.1 + e^0.2).
  const { patchScores, score } = await imageScore(t, [0, 0.1, 0.2, 10], 1, [0.05, 5], 3);
  t.ok(Math.abs(patchScores[1]! - 4.8) < 1e-4, `worst patch distance ${patchScores[1]}`);
  const weight = 1 - 1 / (1 + Math.exp(0.1) + Math.exp(0.2));
  t.ok(Math.abs(weight - 0.699391) < 1e-6);
  t.ok(Math.abs(score - 4.8 * weight) < 1e-4, `score ${score} = 4.8 x ${weight}`);
});

t.test('a worst patch whose nearest bank row is isolated keeps almost all its distance', async (t) => {
  // Bank 0, 1, 2, 10; the patch at 13 is worst (3 from row 10), and 10's other
  // neighbour (2) is 11 away: weight = 1 - e^3 / (e^3 + e^11) = 1 - 1 / (1 + e^8).
  const { score } = await imageScore(t, [0, 1, 2, 10], 1, [0.4, 13], 2);
  t.ok(Math.abs(score - 3 * (1 - 1 / (1 + Math.exp(8)))) < 1e-4, `score ${score}`);
});

t.test('distances are Euclidean in several dimensions; b larger than the bank uses the whole bank', async (t) => {
  // 2-D bank (0,0), (3,4), (6,8); patches (3,4) (on the bank) and (9,12), worst: 5 from (6,8).
  // b = 10 > 3 rows: N_b((6,8)) is the whole bank, at 5, 10 and 15 from the worst patch.
  const { patchScores, score } = await imageScore(t, [0, 0, 3, 4, 6, 8], 2, [3, 4, 9, 12], 10);
  t.ok(Math.abs(patchScores[0]!) < 1e-4 && Math.abs(patchScores[1]! - 5) < 1e-4);
  const weight = 1 - Math.exp(5) / (Math.exp(5) + Math.exp(10) + Math.exp(15));
  t.ok(Math.abs(score - 5 * weight) < 1e-4, `score ${score}`);
});

t.test('rows left out by the penalty are left out of the nearest row and of its neighbours', async (t) => {
  // Bank 0, 0.1, 0.2, 10 with 0.2 left out: the patch at 5 is 4.9 from 0.1 (its nearest kept row),
  // N_2(0.1) among kept rows = {0.1, 0}: weight = 1 - e^4.9 / (e^4.9 + e^5) = 1 - 1 / (1 + e^0.1).
  const { patchScores, score } = await imageScore(t, [0, 0.1, 0.2, 10], 1, [5], 2, [0, 0, 1e30, 0]);
  t.ok(Math.abs(patchScores[0]! - 4.9) < 1e-4);
  t.ok(Math.abs(score - 4.9 * (1 - 1 / (1 + Math.exp(0.1)))) < 1e-4, `score ${score}`);
});

t.test('the search returns the reweighted score; without reweighting the largest distance', async (t) => {
  const bank = Float32Array.from([0, 0.1, 0.2, 10]);
  const plain = await NearestNeighbourSearch.create(bank, 1);
  const reweighted = await NearestNeighbourSearch.create(bank, 1, undefined, { reweightNeighbours: 3 });
  const rows = Float32Array.from([0.05, 5]);
  const a = await plain.score(rows);
  const b = await reweighted.score(rows);
  t.ok(Math.abs(a.score - 4.8) < 1e-4, 'plain: the worst patch distance');
  t.same(Array.from(a.patchScores), Array.from(b.patchScores), 'reweighting leaves the patch distances (and the map) alone');
  t.ok(Math.abs(b.score - 4.8 * (1 - 1 / (1 + Math.exp(0.1) + Math.exp(0.2)))) < 1e-4);
  await plain.release();
  await reweighted.release();
});

t.test('left-out scores leave every view of a sample out and are reweighted like the product', async (t) => {
  // Two samples of one 1-D patch each, two views each (view-major candidates: s0, s1, s0', s1').
  // Bank rows: candidate 0 (s0 = 0), 1 (s1 = 4), 2 (s0' = 0.5), 3 (s1' = 3.5).
  const bank = { rows: Float32Array.from([0, 4, 0.5, 3.5]), picked: Int32Array.from([0, 1, 2, 3]), size: 4 };
  const samples = [Float32Array.from([0]), Float32Array.from([4])];
  const session = {};
  const plain = await leftOutScores(bank, 2, 1, (i) => samples[i]!, { channels: 1, session });
  // Sample 0 sees only rows 4 and 3.5 -> 3.5; sample 1 sees 0 and 0.5 -> 3.5.
  t.ok(plain.every((s) => Math.abs(s - 3.5) < 1e-4), `plain ${plain}`);
  const reweighted = await leftOutScores(bank, 2, 1, (i) => samples[i]!, { channels: 1, session, reweightNeighbours: 2 });
  // Sample 0: m* = 3.5, N_2 among kept rows = {3.5, 4}: distances 3.5 and 4.
  const w = 1 - 1 / (1 + Math.exp(0.5));
  t.ok(reweighted.every((s) => Math.abs(s - 3.5 * w) < 1e-4), `reweighted ${reweighted}`);
});
