import t from 'tap';
import { anomalyRectangles, minAreaAtInput, pasteRectangles, searchThreshold, thresholdIou } from '../../models/refine/per-image-threshold.ts';

t.test('five rectangles: the four corners and the right centre', async (t) => {
  t.same(anomalyRectangles(100, 60, 0.1), [
    { x: 0, y: 0, w: 6, h: 6 },
    { x: 94, y: 0, w: 6, h: 6 },
    { x: 0, y: 54, w: 6, h: 6 },
    { x: 94, y: 54, w: 6, h: 6 },
    { x: 94, y: 27, w: 6, h: 6 },
  ]);
});

t.test('pasting changes only the rectangles, on a copy', async (t) => {
  const w = 4;
  const h = 3;
  const image = new Float32Array(w * h * 3).fill(10);
  const { image: out, mask } = pasteRectangles(image, w, h, [{ x: 1, y: 1, w: 2, h: 1 }], 'invert', () => 0);
  t.same([...mask], [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  t.equal(out[(1 * w + 1) * 3], 245, 'inverted inside');
  t.equal(out[0], 10, 'unchanged outside');
  t.ok(image.every((v) => v === 10), 'the original is untouched');
  const noisy = pasteRectangles(image, w, h, [{ x: 0, y: 0, w: 1, h: 1 }], 'noise', () => 0.5);
  t.same([...noisy.image.slice(0, 3)], [128, 128, 128]);
});

t.test('IoU of a thresholded map against a mask', async (t) => {
  const map = Float32Array.from([0, 1, 2, 3]);
  const mask = Uint8Array.from([0, 0, 1, 1]);
  t.equal(thresholdIou(map, 2, mask), 1);
  t.equal(thresholdIou(map, 1, mask), 2 / 3);
  t.equal(thresholdIou(map, 3, mask), 1 / 2);
  t.equal(thresholdIou(map, 9, new Uint8Array(4)), 1, 'both empty');
});

t.test('the threshold whose mask best matches the rectangles wins', async (t) => {
  // Rectangles at pixels 2..4 score 4, 6, 8; a bright normal pixel (5) scores 5; the rest 0.
  const map = Float32Array.from([0, 5, 4, 6, 8, 0]);
  const mask = Uint8Array.from([0, 0, 1, 1, 1, 0]);
  // Thresholds 4, 5, 6, 7, 8: t=4 -> {1,2,3,4} IoU 3/4; t=5 -> {1,3,4} IoU 2/4; t=6 -> 2/3; t=8 -> 1/3.
  t.same(searchThreshold(map, mask, 5), { threshold: 4, iou: 0.75 });
  // Three thresholds: 4, 6, 8.
  t.same(searchThreshold(map, mask, 3), { threshold: 4, iou: 0.75 });
  t.throws(() => searchThreshold(map, new Uint8Array(6)), /empty/);
  t.throws(() => searchThreshold(map, mask, 0), /iterTimes/);
});

t.test('ties go to the higher threshold', async (t) => {
  const map = Float32Array.from([1, 2, 9, 9]);
  const mask = Uint8Array.from([0, 0, 1, 1]);
  // between 9 and 9 every threshold gives IoU 1.
  t.same(searchThreshold(map, mask, 4), { threshold: 9, iou: 1 });
});

t.test('minimum region area scales from original to input pixels', async (t) => {
  t.equal(minAreaAtInput(25, { width: 448, height: 448 }, { width: 224, height: 224 }), 6);
  t.equal(minAreaAtInput(25, { width: 224, height: 224 }, { width: 224, height: 224 }), 25);
  t.equal(minAreaAtInput(1, { width: 4000, height: 3000 }, { width: 224, height: 224 }), 1);
});
