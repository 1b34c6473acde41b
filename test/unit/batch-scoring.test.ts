/**
 * Several frames scored in one backbone run must give what scoring each frame
 * alone gives: same image scores, patch scores and anomaly maps, in order,
 * for PatchCore's memory bank, PaDiM's Gaussians, both aggregations, and a
 * backbone whose graph takes one image at a time.
 */
import t, { type Test } from 'tap';
import { valueRange } from '../../models/components/value-range.ts';
import { loadBackbone, type Backbone } from '../../models/backbones/registry.ts';
import { FeatureExtractor } from '../../models/features/extractor.ts';
import { PatchScorer, type PatchScores } from '../../models/features/patch-scorer.ts';
import { NearestNeighbourSearch } from '../../models/patchcore/model.ts';
import { MahalanobisSearch } from '../../models/padim/model.ts';
import { seededRandom } from '../../models/components/random.ts';
import { emitForward } from '../../models/onnx/emit-forward.ts';
import type { Aggregation } from '../../models/features/aggregation.ts';

const SIZE = { width: 64, height: 48 };

function images(count: number, seed: number): { data: Float32Array }[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => ({ data: Float32Array.from({ length: SIZE.width * SIZE.height * 3 }, () => Math.floor(random() * 256)) }));
}

/** Largest absolute difference, relative to the larger magnitude (at least 1). */
function relativeGap(a: Float32Array, b: Float32Array): number {
  let gap = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    gap = Math.max(gap, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!), Math.abs(b[i]!));
  }
  return gap / scale;
}

function sameScores(t: Test, batched: PatchScores[], single: PatchScores[], label: string): void {
  t.equal(batched.length, single.length, `${label}: one result per frame`);
  single.forEach((s, i) => {
    const b = batched[i]!;
    t.equal(b.patchScores.length, s.patchScores.length, `${label} frame ${i}: patch count`);
    t.ok(Math.abs(b.score - s.score) <= 1e-4 * Math.max(1, s.score), `${label} frame ${i}: image score ${b.score} vs ${s.score}`);
    t.ok(relativeGap(b.patchScores, s.patchScores) < 1e-4, `${label} frame ${i}: patch scores`);
    t.ok(relativeGap(b.map, s.map) < 1e-4, `${label} frame ${i}: anomaly map`);
  });
  // Different frames give different results: the split is by frame, not a copy of one.
  t.not(batched[0]!.score, batched[1]!.score, `${label}: frames differ`);
}

async function bankScorer(backbone: Backbone, aggregation: Aggregation): Promise<PatchScorer> {
  const features = await FeatureExtractor.create(backbone, backbone.defaultLayers, SIZE, aggregation);
  const random = seededRandom(7);
  const bank = Float32Array.from({ length: 50 * features.shape.channels }, () => random() * 2);
  return PatchScorer.create(features, await NearestNeighbourSearch.create(bank, features.shape.channels), { sigma: 2 });
}

async function padimScorer(backbone: Backbone): Promise<PatchScorer> {
  const features = await FeatureExtractor.create(backbone, backbone.defaultLayers, SIZE, 'patchcore');
  const { channels: dim } = features.shape;
  const positions = features.positions;
  const random = seededRandom(11);
  const precision = new Float32Array(positions * dim * dim);
  for (let p = 0; p < positions; p++) for (let d = 0; d < dim; d++) precision[p * dim * dim + d * dim + d] = 0.5 + random();
  const gaussians = { positions, dim, mean: Float32Array.from({ length: positions * dim }, () => random()), precision };
  const search = await MahalanobisSearch.create(gaussians, dim, undefined, {}, { grid: features.shape, cells: 1 });
  return PatchScorer.create(features, search, { sigma: 2 });
}

async function compare(t: Test, scorer: PatchScorer, label: string): Promise<void> {
  const frames = images(4, 3);
  const single: PatchScores[] = [];
  for (const f of frames) single.push(await scorer.score(f));
  sameScores(t, await scorer.scoreBatch(frames), single, label);
  t.same(await scorer.scoreBatch([]), [], `${label}: an empty batch`);
  // Maps left out, then built on request: the same maps, and the bound holds above each.
  const deferred = await scorer.scoreBatchDeferred(frames, () => false);
  t.ok(deferred.every((d) => d.map === undefined), `${label}: no map built when none is wanted`);
  t.ok(
    deferred.every((d, i) => d.mapBound >= valueRange(single[i]!.map).max),
    `${label}: every map stays under its bound`,
  );
  const completed: PatchScores[] = [];
  for (const d of deferred) completed.push(await scorer.complete(d));
  sameScores(t, completed, single, `${label} (maps built later)`);
  await scorer.release();
}

t.test('a batch of frames scores like each frame alone (PatchCore, both aggregations)', async (t) => {
  const backbone = await loadBackbone('mobilenet_v2');
  const patchcore = await bankScorer(backbone, 'patchcore');
  t.equal(patchcore.features.batchable, true, 'graphs emitted from the layer IR take a batch');
  await compare(t, patchcore, 'patchcore');
  await compare(t, await bankScorer(backbone, 'sppm'), 'sppm');
});

t.test('a batch of frames scores like each frame alone (PaDiM with a position tolerance)', async (t) => {
  await compare(t, await padimScorer(await loadBackbone('mobilenet_v2')), 'padim');
});

t.test('a backbone graph fixed at one image is run frame by frame, with the same results', async (t) => {
  const { ir, ...rest } = await loadBackbone('mobilenet_v2');
  const fixed: Backbone = { ...rest, buildGraph: (layers, inputSize) => emitForward(ir!, { outputs: layers, inputSize, batch: 1 }) };
  const scorer = await bankScorer(fixed, 'patchcore');
  t.equal(scorer.features.batchable, false);
  await compare(t, scorer, 'batch-1 graph');
});
