/**
 * CutSwap's pure parts on small hand-checkable inputs: 1-D k-means, anchors
 * from the most salient cluster, the swap itself (a permutation of pixels
 * inside the mask, nothing else touched), scars, CutPaste, determinism.
 */
import t from 'tap';
import { kmeans1d, topCluster } from '../../models/components/kmeans.ts';
import { cutPaste, cutSwap, salientAnchors, syntheticClass } from '../../models/augment/synthetic-defects.ts';
import { seededRandom } from '../../models/components/random.ts';

t.test('kmeans1d finds four well-separated levels; topCluster returns the highest', async (t) => {
  const values = [0, 0.1, 0.2, 5, 5.1, 10, 10.2, 20];
  const { centroids, labels } = kmeans1d(values, 4);
  t.same(centroids.map((c) => Math.round(c * 100) / 100), [0.1, 5.05, 10.1, 20]);
  t.same([...labels], [0, 0, 0, 1, 1, 2, 2, 3]);
  t.same(topCluster(values, 4), [7]);
  t.same(topCluster([3, 1, 3, 2], 2), [0, 2], 'ties share the top cluster');
  t.throws(() => kmeans1d([], 2), /at least one value/);
});

/** A 64x64 image whose every pixel holds a different colour. */
function uniqueImage(size = 64) {
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    data[i * 3] = i % 256;
    data[i * 3 + 1] = Math.floor(i / 256);
    data[i * 3 + 2] = 7;
  }
  return { data, width: size, height: size };
}

const pixelKey = (d: Float32Array, i: number) => `${d[i * 3]},${d[i * 3 + 1]},${d[i * 3 + 2]}`;

t.test('salientAnchors draws only from the most salient region', async (t) => {
  const size = 64;
  const saliency = new Float32Array(size * size).fill(0.05);
  for (let y = 40; y < 44; y++) for (let x = 10; x < 14; x++) saliency[y * size + x] = 1;
  for (let i = 0; i < 200; i += 7) saliency[i] = 0.5;
  const rng = seededRandom(3);
  for (let k = 0; k < 20; k++) {
    for (const a of salientAnchors(saliency, size, rng)) {
      t.ok(a.x >= 10 && a.x < 14 && a.y >= 40 && a.y < 44, `anchor (${a.x}, ${a.y}) lies in the hot square`);
    }
  }
});

t.test('cutSwap swaps two patches: the same pixels, moved only inside the mask', async (t) => {
  const image = uniqueImage();
  const saliency = new Float32Array(64 * 64);
  for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) saliency[y * 64 + x] = x > 40 || y > 40 ? 1 : 0;
  for (const scar of [false, true]) {
    const d = cutSwap(image, saliency, seededRandom(11), { scar, level: 2 });
    t.equal(d.kind, scar ? 'cutswap-scar' : 'cutswap');
    t.equal(d.level, 2);
    let changed = 0;
    let movedOutside = 0;
    const before = new Map<string, number>();
    const after = new Map<string, number>();
    for (let i = 0; i < 64 * 64; i++) {
      const moved = pixelKey(d.image.data, i) !== pixelKey(image.data, i);
      if (moved) changed++;
      if (!d.mask[i] && moved) movedOutside++;
      before.set(pixelKey(image.data, i), (before.get(pixelKey(image.data, i)) ?? 0) + 1);
      after.set(pixelKey(d.image.data, i), (after.get(pixelKey(d.image.data, i)) ?? 0) + 1);
    }
    const area = d.mask.reduce((a, v) => a + v, 0);
    t.equal(movedOutside, 0, 'pixels outside the mask stay');
    t.ok(changed > 0 && changed <= area, `${changed} pixels moved, mask ${area}`);
    t.same(after, before, 'a swap only permutes pixels: no colour is made up or lost');
    t.equal(area % 2, 0, 'two patches of equal size');
    if (scar) t.ok(area < 2 * 16 * 25, 'a scar is thin');
    const again = cutSwap(image, saliency, seededRandom(11), { scar, level: 2 });
    t.same(again.anchors, d.anchors, 'same seed, same negative');
    t.ok(again.image.data.every((v, i) => v === d.image.data[i]));
  }
  t.throws(() => cutSwap(image, new Float32Array(10), seededRandom(1)), /does not fit/);
});

t.test('cutPaste pastes a jittered copy inside its mask and leaves the rest', async (t) => {
  const image = uniqueImage();
  for (const scar of [false, true]) {
    const d = cutPaste(image, seededRandom(5), { scar });
    t.equal(d.kind, scar ? 'cutpaste-scar' : 'cutpaste');
    let outside = 0;
    for (let i = 0; i < 64 * 64; i++) if (!d.mask[i] && pixelKey(d.image.data, i) !== pixelKey(image.data, i)) outside++;
    t.equal(outside, 0, 'nothing changes outside the pasted patch');
    t.ok(d.mask.reduce((a, v) => a + v, 0) > 0);
  }
  t.equal(syntheticClass('cutswap'), 1);
  t.equal(syntheticClass('cutpaste-scar'), 2);
});
