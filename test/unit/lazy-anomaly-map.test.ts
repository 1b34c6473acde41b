/**
 * Frames scored with `map: 'whenNeeded'` leave the anomaly map out only when
 * it cannot change anything: the bound on map values (anomaly-map-bound.ts),
 * the rule that asks for the map (`mapNeeded`), and a property over random
 * patch-score grids run through the real map graph showing that verdict, mask
 * and regions with the map left out equal those with every map built.
 */
import fc from 'fast-check';
import ort from 'onnxruntime-node';
import t from 'tap';
import { valueRange } from '../../models/components/value-range.ts';
import { anomalyMapGraph } from '../../models/features/anomaly-map.ts';
import { anomalyMapUpperBound, MAP_BOUND_FLOOR, MAP_BOUND_SLACK } from '../../models/features/anomaly-map-bound.ts';
import { decideScores, mapNeeded } from '../../product/scorer.ts';

t.test('the bound is the largest patch score plus a sliver of the largest magnitude', async (t) => {
  t.equal(anomalyMapUpperBound({ min: 0, max: 2 }), 2 + 2 * MAP_BOUND_SLACK + MAP_BOUND_FLOOR);
  t.equal(anomalyMapUpperBound({ min: -5, max: 1 }), 1 + 5 * MAP_BOUND_SLACK + MAP_BOUND_FLOOR, 'a negative minimum of larger magnitude sets the slack');
  t.equal(anomalyMapUpperBound({ min: 0, max: 0 }), MAP_BOUND_FLOOR, 'an all-zero grid: only the floor');
});

t.test('a frame needs its map when rejected or when a map value may reach the pixel threshold', async (t) => {
  const thresholds = { image: 3, pixel: 2 };
  t.ok(mapNeeded({ score: 3, patchRange: { min: 0, max: 1 } }, thresholds), 'score at the image threshold: reject, map needed');
  t.ok(mapNeeded({ score: 1, patchRange: { min: 0, max: 2 } }, thresholds), 'largest patch at the pixel threshold: mask may be set');
  t.ok(mapNeeded({ score: 1, patchRange: { min: 0, max: 1.99999 } }, thresholds), 'within the rounding slack below the pixel threshold: still built');
  t.notOk(mapNeeded({ score: 2.9, patchRange: { min: 0, max: 1.9 } }, thresholds), 'ok frame whose patches all stay below the pixel threshold: left out');
  t.ok(mapNeeded({ score: 3.5, patchRange: { min: 0, max: 1 } }, thresholds), 'a reweighted score over the threshold with small patches: built');
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

t.test('lazy maps give the same verdict, mask and regions as eager maps on random grids', async (t) => {
  const sessions = await Promise.all(CONFIGS.map((c) => ort.InferenceSession.create(anomalyMapGraph(c.grid, c.image, c.sigma))));
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
        const patchRange = valueRange(patchScores);
        const mapMax = valueRange(map).max;
        // Score as PatchCore's reweighting may make it: not the largest patch score.
        const score = patchRange.max * scoreFactor;
        // pixelFactor -1: the pixel threshold is the map's own largest value (the tightest case).
        const thresholds = { image: score * imageFactor, pixel: pixelFactor < 0 ? mapMax : patchRange.max * pixelFactor };
        if (mapMax > anomalyMapUpperBound(patchRange)) return false;
        const needed = mapNeeded({ score, patchRange }, thresholds);
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
