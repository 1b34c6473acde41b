/**
 * Pose math of the spatial transformer on hand-checkable cases: composing and
 * inverting similarity transforms, the bilinear border warp, random poses
 * inside their ranges.
 */
import t from 'tap';
import { angleOf, clampScale, compose, downscaleImage, invert, luma, randomPose, scaleBounds, scaleOf, similarity, warpImage, IDENTITY } from '../../models/stn/pose.ts';
import { seededRandom } from '../../models/components/random.ts';

const close = (a: number[], b: number[], eps = 1e-9) => a.every((v, i) => Math.abs(v - b[i]!) < eps);

t.test('compose adds angles and multiplies scales; invert undoes a pose', async (t) => {
  const a = similarity(0.3, 2, 0.1, -0.2);
  const b = similarity(0.5, 0.5, -0.3, 0.4);
  const ab = compose(a, b);
  t.ok(Math.abs(angleOf(ab) - 0.8) < 1e-12);
  t.ok(Math.abs(scaleOf(ab) - 1) < 1e-12);
  t.ok(close(compose(a, invert(a)), IDENTITY), 'a . a^-1 = identity');
  t.ok(close(compose(invert(b), b), IDENTITY), 'b^-1 . b = identity');
  // A pure shift composed with a quarter turn: the turn acts on the shift of the right-hand pose.
  t.ok(close(compose(similarity(Math.PI / 2, 1, 0, 0), similarity(0, 1, 1, 0)), [Math.cos(Math.PI / 2), 1, 0, 1]));
  t.throws(() => invert([0, 0, 1, 1]), /degenerate/);
});

t.test('warpImage: identity copies, a quarter turn moves pixels by hand, outside reads the border', async (t) => {
  // 2x2 grey image: a b / c d.
  const src = Float32Array.from([1, 2, 3, 4]);
  t.same(Array.from(warpImage(src, 2, 2, 1, IDENTITY)), [1, 2, 3, 4]);
  // Output q reads source M q; a +90 deg turn maps (x, y) -> (-y, x): the top-left
  // output (-1/2, -1/2) reads (1/2, -1/2), the top-right source pixel, and so on.
  t.same(Array.from(warpImage(src, 2, 2, 1, similarity(Math.PI / 2, 1, 0, 0))).map(Math.round), [2, 4, 1, 3]);
  // Shifted far right: every output pixel reads the right border column.
  t.same(Array.from(warpImage(src, 2, 2, 1, similarity(0, 1, 10, 0))), [2, 2, 4, 4]);
  // Two channels stay together.
  const rgb = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40]);
  t.same(Array.from(warpImage(rgb, 2, 2, 2, similarity(Math.PI, 1, 0, 0))).map(Math.round), [4, 40, 3, 30, 2, 20, 1, 10]);
});

t.test('downscaleImage averages blocks; luma weights RGB', async (t) => {
  const src = Float32Array.from([1, 3, 5, 7, 1, 3, 5, 7]); // 4x2 grey
  const d = downscaleImage(src, 4, 2, 1, 2);
  t.same([d.width, d.height], [2, 1]);
  t.same(Array.from(d.data), [2, 6]);
  t.ok(Math.abs(luma(Float32Array.from([100, 100, 100]))[0]! - 100) < 1e-4);
});

t.test('randomPose stays inside its ranges', async (t) => {
  const rng = seededRandom(3);
  const ranges = { rotation: 30, translation: 0.15, scale: 0.1 };
  for (let i = 0; i < 500; i++) {
    const p = randomPose(ranges, rng);
    t.ok(Math.abs(angleOf(p)) <= (30 * Math.PI) / 180 + 1e-12);
    t.ok(Math.abs(scaleOf(p) - 1) <= 0.1 + 1e-12);
    t.ok(Math.abs(p[2]) <= 0.3 + 1e-12 && Math.abs(p[3]) <= 0.3 + 1e-12);
  }
  t.same(randomPose({ rotation: 0, translation: 0, scale: 0 }, rng), IDENTITY);
});

t.test('clampScale keeps angle and shift and brings the scale into the trained range', async (t) => {
  t.same(scaleBounds(0.25), [0.8, 1 / 0.75]);
  t.same(scaleBounds(0), [1, 1]);
  const zoomed = clampScale(similarity(0.3, 2, 0.1, -0.2), 0.25);
  t.ok(Math.abs(scaleOf(zoomed) - 1 / 0.75) < 1e-12 && Math.abs(angleOf(zoomed) - 0.3) < 1e-12);
  t.same(zoomed.slice(2), [0.1, -0.2]);
  t.ok(Math.abs(scaleOf(clampScale(similarity(-1, 0.5, 0, 0), 0)) - 1) < 1e-12, 'no size change in the range: scale 1');
  const inside = similarity(0.2, 0.9, 0, 0);
  t.same(clampScale(inside, 0.25), inside, 'a scale inside the range is left alone');
});
