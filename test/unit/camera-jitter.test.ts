/**
 * Camera jitter for threshold calibration: the draw within the ranges, the
 * mirrored border and output window a warp needs, the light and noise, and
 * the warped image itself on hand-checkable pictures (an index image, a
 * linear ramp that bicubic resampling reproduces exactly).
 */
import fc from 'fast-check';
import t from 'tap';
import { applyLight, drawCameraJitter, jitterImage, jitterPadding, jitterWindow, NO_JITTER, type CameraJitterRanges } from '../../models/augment/camera-jitter.ts';
import { seededRandom } from '../../models/components/random.ts';
import type { RgbImage } from '../../models/components/rgb-image.ts';

const RANGES: CameraJitterRanges = { rotation: 3, zoom: 0.03, shift: 0.02, gain: 0.08, offset: 6, noise: 2 };
const constant = (v: number) => () => v;

/** A width x height image whose every channel holds f(x, y). */
function picture(width: number, height: number, f: (x: number, y: number) => number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.fill(f(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { data, width, height };
}
const at = (img: RgbImage, x: number, y: number) => img.data[(y * img.width + x) * 3]!;

t.test('drawCameraJitter: the ends of the ranges, the middle, and nothing without ranges', async (t) => {
  t.same(drawCameraJitter(RANGES, 100, 50, constant(0)), { angle: -3, zoom: 0.97, dx: -2, dy: -1, gain: 0.92, offset: -6, noise: 0 });
  t.same(drawCameraJitter(RANGES, 100, 50, constant(0.5)), { ...NO_JITTER, noise: 1 }, 'a draw of one half is no change (and half the largest noise)');
  const zero = { rotation: 0, zoom: 0, shift: 0, gain: 0, offset: 0, noise: 0 };
  t.same(drawCameraJitter(zero, 100, 50, seededRandom(3)), NO_JITTER);
  t.same(drawCameraJitter(RANGES, 224, 224, seededRandom(7)), drawCameraJitter(RANGES, 224, 224, seededRandom(7)), 'reproducible for a seed');
  fc.assert(
    fc.property(fc.integer(), (seed) => {
      const j = drawCameraJitter(RANGES, 224, 224, seededRandom(seed));
      return Math.abs(j.angle) <= 3 && Math.abs(j.zoom - 1) <= 0.03 && Math.abs(j.dx) <= 4.48 && Math.abs(j.dy) <= 4.48 && Number.isInteger(j.dx) && Math.abs(j.gain - 1) <= 0.08 && Math.abs(j.offset) <= 6 && j.noise >= 0 && j.noise <= 2;
    }),
  );
});

t.test('jitterPadding: the mirrored border a warp needs', async (t) => {
  t.equal(jitterPadding(NO_JITTER, 100, 100), 2, 'no warp: the margin alone');
  t.equal(jitterPadding({ ...NO_JITTER, angle: 180 }, 100, 100), 2, 'a half turn needs nothing beyond the frame');
  t.equal(jitterPadding({ ...NO_JITTER, angle: 90 }, 10, 6), 4, 'a quarter turn of 10 x 6: the 10 px side reaches 2 px beyond the 6 px side');
  t.equal(jitterPadding({ ...NO_JITTER, zoom: 0.5 }, 100, 100), 52, 'zoomed out to half: the window spans 200 px of input');
  t.equal(jitterPadding({ ...NO_JITTER, dx: 3, dy: -1 }, 100, 100), 5, 'a shift of 3 px needs 3 px');
  // 3 deg of 224 px: 112 (cos + sin) - 112 = 5.68, so 6 px.
  t.equal(jitterPadding({ ...NO_JITTER, angle: -3 }, 224, 224), 8);
  t.throws(() => jitterPadding({ ...NO_JITTER, zoom: 0 }, 10, 10), /positive/);
});

t.test('jitterWindow: where the output window sits in the warped, padded frame', async (t) => {
  t.same(jitterWindow({ ...NO_JITTER, dx: 3, dy: -1 }, 100, 100, 5), { left: 2, top: 6 }, 'unwarped: the padding less the content shift');
  // A half turn of the padded 13 px frame spans [-13, 0]: its centre 6 lands at -6, 7 px into the
  // warped image, and the window's centre 4 goes there.
  t.same(jitterWindow({ ...NO_JITTER, angle: 180 }, 9, 9, 2), { left: 3, top: 3 });
  // 3 deg of a 52 px padded frame: x spans from -52 sin 3 = -2.72 (starts at -3); the centre 25.5 lands
  // at 25.5 (cos - sin) = 24.13, i.e. 27.13 in, and the 48 px window's centre 23.5 goes there: 3.63 -> 4.
  t.same(jitterWindow({ ...NO_JITTER, angle: 3 }, 48, 48, 2), { left: 4, top: 3 });
});

t.test('applyLight: gain, offset and noise, clipped as a sensor clips', async (t) => {
  t.same(Array.from(applyLight(Float32Array.from([0, 100, 200]), { gain: 2, offset: 10, noise: 0 }, constant(0.5))), [10, 210, 255]);
  t.same(Array.from(applyLight(Float32Array.from([10, 50]), { gain: 1, offset: -20, noise: 0 }, constant(0.5))), [0, 30]);
  const input = new Float32Array(20000).fill(128);
  const noisy = applyLight(input, { gain: 1, offset: 0, noise: 3 }, seededRandom(1));
  const mean = noisy.reduce((a, v) => a + v, 0) / noisy.length;
  const sd = Math.sqrt(noisy.reduce((a, v) => a + (v - mean) ** 2, 0) / noisy.length);
  t.ok(Math.abs(mean - 128) < 0.1, `mean ${mean}`);
  t.ok(Math.abs(sd - 3) < 0.1, `standard deviation ${sd}`);
  t.equal(input[0], 128, 'the input is left as it was');
});

t.test('jitterImage: no jitter, whole-pixel shifts and half turns are exact', async (t) => {
  const index = picture(9, 7, (x, y) => y * 9 + x);
  t.same(Array.from((await jitterImage(index, NO_JITTER, constant(0.5))).data), Array.from(index.data), 'no jitter: the same image');
  const shifted = await jitterImage(index, { ...NO_JITTER, dx: 2, dy: 1 }, constant(0.5));
  for (let y = 1; y < 7; y++) for (let x = 2; x < 9; x++) t.equal(at(shifted, x, y), at(index, x - 2, y - 1), `shifted (${x}, ${y})`);
  t.equal(at(shifted, 0, 1), at(index, 1, 0), 'the uncovered border is the mirrored frame');
  const turned = await jitterImage(index, { ...NO_JITTER, angle: 180 }, constant(0.5));
  for (let y = 0; y < 7; y++) for (let x = 0; x < 9; x++) t.equal(at(turned, x, y), at(index, 8 - x, 6 - y), `turned (${x}, ${y})`);
  const square = picture(5, 5, (x, y) => y * 5 + x);
  const quarter = await jitterImage(square, { ...NO_JITTER, angle: 90 }, constant(0.5));
  t.same([0, 1, 2, 3, 4].map((x) => at(quarter, x, 0)), [20, 15, 10, 5, 0], 'a quarter turn clockwise: the left column becomes the top row');
});

t.test('jitterImage: a small turn, zoom and shift of a linear ramp land where the geometry says', async (t) => {
  const size = 48;
  const ramp = picture(size, size, (x, y) => 20 + 3.5 * x + 0.5 * y);
  const j = { ...NO_JITTER, angle: 3, zoom: 1.02, dx: 2, dy: -1 };
  const out = await jitterImage(ramp, j, constant(0.5));
  // Output pixel p: p - centre - shift = zoom R (q - centre) for the input point q.
  const expected = (x: number, y: number, angle: number) => {
    const rad = (angle * Math.PI) / 180;
    const u = (x - (size - 1) / 2 - j.dx) / j.zoom;
    const v = (y - (size - 1) / 2 - j.dy) / j.zoom;
    const qx = Math.cos(rad) * u + Math.sin(rad) * v + (size - 1) / 2;
    const qy = -Math.sin(rad) * u + Math.cos(rad) * v + (size - 1) / 2;
    return 20 + 3.5 * qx + 0.5 * qy;
  };
  let error = 0;
  let mirrored = 0;
  let n = 0;
  for (let y = 8; y < size - 8; y++)
    for (let x = 8; x < size - 8; x++) {
      error = Math.max(error, Math.abs(at(out, x, y) - expected(x, y, 3)));
      mirrored = Math.max(mirrored, Math.abs(at(out, x, y) - expected(x, y, -3)));
      n++;
    }
  // The window's corner is rounded to whole pixels: at most half a pixel of the ramp's slope, plus byte rounding.
  t.ok(error <= 0.5 * (3.5 + 0.5) + 0.5, `largest error ${error.toFixed(2)} over ${n} interior pixels`);
  t.ok(mirrored > 3 * error, `the other turn would be off by ${mirrored.toFixed(2)}`);
  t.equal(out.width, size);
  t.equal(out.height, size);
});

t.test('jitterImage: light and noise after the warp, reproducible for a seed', async (t) => {
  const flat = picture(16, 16, () => 100);
  const j = { ...NO_JITTER, gain: 1.1, offset: -4, noise: 2 };
  const a = await jitterImage(flat, j, seededRandom(4));
  const b = await jitterImage(flat, j, seededRandom(4));
  t.same(Array.from(a.data), Array.from(b.data));
  const mean = a.data.reduce((s, v) => s + v, 0) / a.data.length;
  t.ok(Math.abs(mean - 106) < 0.5, `gain and offset move the mean to ${mean.toFixed(2)}`);
});
