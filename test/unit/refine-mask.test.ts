import t from 'tap';
import { refineSettingsSchema } from '../../config/refine.ts';
import { refineMask } from '../../product/refine-mask.ts';

// A hand-checkable map scorer: a pixel's anomaly is how far its red value is from the grey belt (100).
const greyDistance = {
  async scoreMap(image: { data: Float32Array }) {
    const map = new Float32Array(image.data.length / 3);
    for (let p = 0; p < map.length; p++) map[p] = Math.abs(image.data[p * 3]! - 100);
    return { map };
  },
};

const W = 20;
const H = 20;
function frame(defects: { x: number; y: number; w: number; h: number; value: number }[]) {
  const data = new Float32Array(W * H * 3).fill(100);
  for (const d of defects)
    for (let y = d.y; y < d.y + d.h; y++) for (let x = d.x; x < d.x + d.w; x++) data.fill(d.value, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return data;
}
const count = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);

t.test('none: the map at the given threshold; filter: small regions removed', async (t) => {
  const settings = refineSettingsSchema.parse({ minRegionArea: 4 });
  // a 3x3 defect (9 px) and a 1-pixel speck, both far from grey
  const data = frame([{ x: 8, y: 8, w: 3, h: 3, value: 200 }, { x: 2, y: 15, w: 1, h: 1, value: 200 }]);
  const { map } = await greyDistance.scoreMap({ data });
  const input = { image: { data, width: W, height: H }, map, threshold: 50, minRegionArea: 4 };
  const none = await refineMask('none', input, settings, greyDistance);
  t.equal(count(none.mask), 10);
  t.equal(none.iterations, 0);
  const filtered = await refineMask('filter', input, settings, greyDistance);
  t.equal(count(filtered.mask), 9, 'the speck is gone, the defect stays');
  t.equal(filtered.mask[15 * W + 2], 0);
});

t.test('threshold: the frame sets its own threshold from the pasted rectangles', async (t) => {
  // Inverted rectangles over grey (100) read 155: distance 55. A faint defect at distance 30
  // is below the rectangles' scores and stays out; a strong one (distance 100) is in.
  const settings = refineSettingsSchema.parse({ mode: 'threshold', minRegionArea: 1, iterTimes: 10, rectangles: { size: 0.2, fill: 'invert' } });
  const data = frame([{ x: 8, y: 8, w: 3, h: 3, value: 200 }, { x: 8, y: 2, w: 2, h: 2, value: 130 }]);
  const { map } = await greyDistance.scoreMap({ data });
  const refined = await refineMask('threshold', { image: { data, width: W, height: H }, map, threshold: 10, minRegionArea: 1 }, settings, greyDistance);
  t.equal(refined.threshold, 55, 'the rectangles all score 55: that is the threshold');
  t.equal(refined.iterations, 10);
  t.equal(count(refined.mask), 9, 'the strong defect only');
  const fixed = await refineMask('none', { image: { data, width: W, height: H }, map, threshold: 10, minRegionArea: 1 }, settings, greyDistance);
  t.equal(count(fixed.mask), 13, 'a low fixed threshold also takes the faint one');
});
