/**
 * Frames scored with `map: 'whenNeeded'` leave the anomaly map out only when
 * it cannot change anything: the bounds on map values (anomaly-map-bound.ts),
 * the rule that asks for the map (`mapNeeded`), and a property over random
 * patch-score grids run through the real map graph showing that verdict, mask
 * and regions with the map left out equal those with every map built.
 */
import fc from 'fast-check';
import ort from 'onnxruntime-node';
import t from 'tap';
import { valueRange } from '../../models/components/value-range.ts';
import { anomalyMapGraph } from '../../models/features/anomaly-map.ts';
import { anomalyMapUpperBound, MAP_BOUND_FLOOR, MAP_BOUND_SLACK, measureSeparableWeights, separableMapBound } from '../../models/features/anomaly-map-bound.ts';
import { decideScores, mapNeeded } from '../../product/scorer.ts';

const f32 = (v: number[]) => Float32Array.from(v);

t.test('without the weights the bound is the largest patch score plus a sliver', async (t) => {
  t.equal(anomalyMapUpperBound(f32([0, 2, 1])), 2 + 2 * MAP_BOUND_SLACK + MAP_BOUND_FLOOR);
  t.equal(anomalyMapUpperBound(f32([-5, 1])), 1 + 5 * MAP_BOUND_SLACK + MAP_BOUND_FLOOR, 'a negative minimum of larger magnitude sets the slack');
  t.equal(anomalyMapUpperBound(f32([0, 0])), MAP_BOUND_FLOOR, 'an all-zero grid: only the floor');
});

t.test('the separable bound smooths each patch row along x, then bounds down the rows', async (t) => {
  const slack = (m: number) => MAP_BOUND_SLACK * m + MAP_BOUND_FLOOR;
  const spread = { rows: [f32([1])], columns: [f32([0.75, 0.25, 0]), f32([0.25, 0.5, 0.25]), f32([0, 0.25, 0.75])] };
  t.equal(separableMapBound(f32([10, 0, 0]), spread), 7.5 + slack(10), 'a lone patch of 10 weighs at most 0.75 in any pixel');
  t.equal(separableMapBound(f32([10, 0, 10]), spread), 7.5 + slack(10), 'two lone patches apart: still 7.5');
  t.equal(separableMapBound(f32([10, 10, 10]), spread), 10 + slack(10), 'a flat grid: its value');
  const twoRows = { rows: [f32([1, 0.5, 0]), f32([0, 0.5, 1])], columns: [f32([1])] };
  t.equal(separableMapBound(f32([4, 2]), twoRows), 4 + slack(4), 'two rows of one patch: the larger at its own pixel row');
  const notSeparable = { rows: [f32([0.5, 0.5]), f32([0.5, 0.5])], columns: [f32([1, 0]), f32([0, 1])] };
  t.equal(separableMapBound(f32([8, 0, 0, 8]), notSeparable), 8 + slack(8), 'diagonal peaks: row peaks at different x, the bound adds them (8 > the true 4)');
  t.equal(separableMapBound(f32([Number.NaN, 0]), twoRows), Infinity, 'NaN: the map is built');
  t.throws(() => separableMapBound(f32([1, 2, 3]), twoRows), 'scores that do not fit the grid');
});

t.test('a frame needs its map when rejected or when the map bound reaches the pixel threshold', async (t) => {
  const thresholds = { image: 3, pixel: 2 };
  t.ok(mapNeeded({ score: 3, mapBound: 1 }, thresholds), 'score at the image threshold: reject, map needed');
  t.ok(mapNeeded({ score: 1, mapBound: 2 }, thresholds), 'bound at the pixel threshold: mask may be set');
  t.notOk(mapNeeded({ score: 2.9, mapBound: 1.9 }, thresholds), 'ok frame whose map stays below the pixel threshold: left out');
  t.ok(mapNeeded({ score: 3.5, mapBound: 1 }, thresholds), 'a reweighted score over the threshold with a small map: built');
});

t.test('without a map the decision is ok or reject with an empty mask and no regions', async (t) => {
  const size = { width: 3, height: 2 };
  t.same(decideScores({ score: 1 }, { image: 2, pixel: 1 }, size), { verdict: 'ok', mask: new Uint8Array(6), regions: [] });
  const map = Float32Array.from([0, 5, 0, 0, 0, 0]);
  const withMap = decideScores({ score: 5, map }, { image: 2, pixel: 1 }, size);
  t.equal(withMap.verdict, 'reject');
  t.same([...withMap.mask], [0, 1, 0, 0, 0, 0]);
  t.same(withMap.regions, [{ x: 1, y: 0, w: 1, h: 1, area: 1, maxScore: 5 }]);
});

/** Grid and image sizes with Gaussian sigmas the map graph accepts (0: no blur). */
const CONFIGS = [
  { grid: { height: 2, width: 2 }, image: { height: 16, width: 16 }, sigma: 2 },
  { grid: { height: 3, width: 5 }, image: { height: 24, width: 40 }, sigma: 4 },
  { grid: { height: 7, width: 7 }, image: { height: 56, width: 56 }, sigma: 4 },
  { grid: { height: 4, width: 3 }, image: { height: 20, width: 12 }, sigma: 0 },
  { grid: { height: 5, width: 5 }, image: { height: 40, width: 40 }, sigma: 1 },
];

const run = (session: ort.InferenceSession) => async (scores: Float32Array) =>
  (await session.run({ patchScores: new ort.Tensor('float32', scores, [scores.length]) })).map!.data as Float32Array;

t.test('on a single patch the separable bound is the map maximum: the graph is separable', async (t) => {
  for (const config of CONFIGS) {
    const session = await ort.InferenceSession.create(anomalyMapGraph(config.grid, config.image, config.sigma));
    const weights = await measureSeparableWeights(config.grid, config.image, run(session));
    const n = config.grid.height * config.grid.width;
    let worst = 0;
    for (let q = 0; q < n; q++) {
      const oneHot = new Float32Array(n);
      oneHot[q] = 1;
      const mapMax = valueRange(await run(session)(oneHot)).max;
      const bound = separableMapBound(oneHot, weights);
      if (mapMax > bound) worst = Infinity;
      else worst = Math.max(worst, bound - mapMax);
    }
    t.ok(worst <= 2 * MAP_BOUND_SLACK, `sigma ${config.sigma}, ${config.grid.width}x${config.grid.height} patches: bound - map max <= ${worst}`);
    await session.release();
  }
});

t.test('lazy maps give the same verdict, mask and regions as eager maps on random grids', async (t) => {
  const sessions = await Promise.all(CONFIGS.map((c) => ort.InferenceSession.create(anomalyMapGraph(c.grid, c.image, c.sigma))));
  const weights = await Promise.all(CONFIGS.map((c, i) => measureSeparableWeights(c.grid, c.image, run(sessions[i]!))));
  const grid = (n: number) =>
    fc.oneof(
      fc.array(fc.float({ min: 0, max: 100, noNaN: true }), { minLength: n, maxLength: n }),
      fc.float({ min: 0, max: 100, noNaN: true }).map((v) => new Array<number>(n).fill(v)),
      fc.tuple(fc.float({ min: 1, max: 10, noNaN: true }), fc.nat(n - 1)).map(([v, at]) => Array.from({ length: n }, (_, i) => (i === at ? v : v * 0.999))),
    );
  let leftOut = 0;
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.nat(CONFIGS.length - 1).chain((c) => fc.tuple(fc.constant(c), grid(CONFIGS[c]!.grid.height * CONFIGS[c]!.grid.width))),
      fc.double({ min: 0.5, max: 1.5, noNaN: true }),
      fc.oneof(fc.double({ min: 0.9, max: 3, noNaN: true }), fc.constant(1)),
      fc.oneof(fc.double({ min: 0.5, max: 3, noNaN: true }), fc.constant(-1)),
      async ([c, values], scoreFactor, imageFactor, pixelFactor) => {
        const config = CONFIGS[c]!;
        const patchScores = Float32Array.from(values);
        const out = await sessions[c]!.run({ patchScores: new ort.Tensor('float32', patchScores, [patchScores.length]) });
        const map = out.map!.data as Float32Array;
        const patchMax = valueRange(patchScores).max;
        const mapMax = valueRange(map).max;
        // Score as PatchCore's reweighting may make it: not the largest patch score.
        const score = patchMax * scoreFactor;
        // pixelFactor -1: the pixel threshold is the map's own largest value (the tightest case).
        const thresholds = { image: score * imageFactor, pixel: pixelFactor < 0 ? mapMax : patchMax * pixelFactor };
        const mapBound = separableMapBound(patchScores, weights[c]!);
        if (mapMax > mapBound) return false;
        const needed = mapNeeded({ score, mapBound }, thresholds);
        runs++;
        if (!needed) leftOut++;
        const eager = decideScores({ score, map }, thresholds, config.image);
        const lazy = decideScores({ score, map: needed ? map : undefined }, thresholds, config.image);
        return eager.verdict === lazy.verdict && eager.mask.every((v, i) => v === lazy.mask[i]) && JSON.stringify(eager.regions) === JSON.stringify(lazy.regions);
      },
    ),
    { numRuns: 300, seed: 23 },
  );
  t.ok(leftOut > 0 && leftOut < runs, `the property saw maps left out and built (${leftOut} of ${runs} left out)`);
  for (const s of sessions) await s.release();
});
