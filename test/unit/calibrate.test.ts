/**
 * Reject-threshold calibration on hand-checkable scores: the Gumbel fit and
 * its tail, the F1 threshold, every method's choice and expectations.
 */
import t from 'tap';
import { f1Threshold, fitGumbel, frrQuantile, gumbelTail, gumbelThreshold, pixelThreshold, splitHoldout, thresholdChoices } from '../../trainer/calibrate.ts';
import { seededRandom } from '../../models/components/random.ts';

t.test('fitGumbel recovers the location and scale of Gumbel samples', async (t) => {
  const rng = seededRandom(9);
  const truth = { location: 10, scale: 2 };
  const samples = Array.from({ length: 20000 }, () => truth.location - truth.scale * Math.log(-Math.log(Math.max(rng(), 1e-12))));
  const fit = fitGumbel(samples);
  t.ok(Math.abs(fit.location - 10) < 0.1, `location ${fit.location}`);
  t.ok(Math.abs(fit.scale - 2) < 0.1, `scale ${fit.scale}`);
  const above = samples.filter((s) => s > gumbelThreshold(fit, 0.01)).length / samples.length;
  t.ok(Math.abs(above - 0.01) < 0.003, `1 % tail threshold leaves ${(above * 100).toFixed(2)} % above`);
  t.throws(() => fitGumbel([1]), /at least two/);
});

t.test('gumbelThreshold and gumbelTail are inverses', async (t) => {
  const g = { location: 3, scale: 0.5 };
  for (const p of [0.5, 0.05, 0.005]) t.ok(Math.abs(gumbelTail(g, gumbelThreshold(g, p)) - p) < 1e-9);
  t.ok(gumbelThreshold(g, 0.001) > gumbelThreshold(g, 0.01), 'a smaller target rate needs a higher threshold');
  t.throws(() => gumbelThreshold(g, 0), /strictly between 0 and 1/);
});

t.test('f1Threshold picks the best F1 split, halfway to the next score', async (t) => {
  // Descending: 5n 4n 3g 2.5n 2g 1g -> F1 0.5, 0.8, 0.67, 0.857 (at 2.5), 0.75, 0.67.
  t.equal(f1Threshold([1, 2, 3], [2.5, 4, 5]), 2.25);
  t.equal(f1Threshold([1, 2], [3, 4]), 2.5, 'separable: between the classes');
  t.throws(() => f1Threshold([1], []), /needs negatives/);
});

t.test('thresholdChoices: every method from the same scores', async (t) => {
  const heldOut = [1, 1.2, 1.1, 1.3];
  const leftOut = [1.05, 1.15, 1.25, 1.2, 1.1];
  const negative = [1.25, 2, 3, 4];
  const c = thresholdChoices({ heldOut, leftOut, negative }, { targetFrr: 0.005, margin: 0.1 });
  t.ok(Math.abs(c.maxnormal.threshold - 1.43) < 1e-9, 'maxnormal: 10 % above the highest held-out score');
  t.equal(c.maxnormal.expectedMiss, 0.25, 'one negative of four scores under 1.43');
  t.ok(Math.abs(c.cutswap.expectedFrr - 0.005) < 1e-9, 'cutswap meets the target false-reject rate exactly');
  const g = fitGumbel([...heldOut, ...leftOut]);
  t.ok(Math.abs(c.cutswap.threshold - gumbelThreshold(g, 0.005)) < 1e-12);
  t.equal(c.f1synthetic.threshold, f1Threshold([...heldOut, ...leftOut], negative));
  const strict = thresholdChoices({ heldOut, leftOut, negative }, { targetFrr: 0.0005, margin: 0.1 });
  t.ok(strict.cutswap.threshold > c.cutswap.threshold && strict.cutswap.expectedMiss! >= c.cutswap.expectedMiss!, 'a stricter target raises the threshold and misses more');
  const none = thresholdChoices({ heldOut, leftOut, negative: [] }, { targetFrr: 0.005, margin: 0 });
  t.equal(none.f1synthetic.threshold, 1.3, 'without negatives F1 falls back to the highest held-out score');
  t.equal(none.cutswap.expectedMiss, null, 'nothing to miss without negatives');
  t.throws(() => thresholdChoices({ heldOut: [], leftOut, negative }, { targetFrr: 0.005, margin: 0 }), /held-out/);
  t.equal(pixelThreshold([2, 4, 3], 0.5), 6);
});

t.test('splitHoldout is reproducible and keeps at least one sample in the bank', async (t) => {
  const a = splitHoldout(20, 0.15, seededRandom(1));
  t.same(a, splitHoldout(20, 0.15, seededRandom(1)));
  t.equal(a.heldOut.length, 3);
  t.same([...a.heldOut, ...a.bank].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  t.same(splitHoldout(2, 0.5, seededRandom(1)).bank.length, 1);
});

t.test('frrQuantile: the target-FRR quantile of the Gumbel law fitted to the good scores', async (t) => {
  // Scores 1 and 3: mean 2, sample sd sqrt 2, scale sqrt 2 sqrt 6 / pi = 2 sqrt 3 / pi, location 2 - gamma scale.
  const scale = (2 * Math.sqrt(3)) / Math.PI;
  const location = 2 - 0.5772156649015329 * scale;
  // A tail of 1 - 1/e puts the threshold at the location; a tail of 1 - exp(-1/e) one scale above it.
  t.ok(Math.abs(frrQuantile([1, 3], 1 - Math.exp(-1)) - location) < 1e-12);
  t.ok(Math.abs(frrQuantile([3, 1], 1 - Math.exp(-1 / Math.E)) - (location + scale)) < 1e-12, 'order does not matter');
  t.ok(frrQuantile([1, 3], 0.005) > frrQuantile([1, 3], 0.05), 'a smaller target rate lies further out');
  t.ok(frrQuantile([1, 3, 1, 3], 0.005) < frrQuantile([1, 3], 0.005), 'more scores of the same spread: a tighter fit');
  t.throws(() => frrQuantile([1, 3], 0), /strictly between/);
});

t.test('thresholdChoices: camera-jittered views count as good scores of parts the model has not seen', async (t) => {
  const heldOut = [1, 1.2];
  const leftOut = [1.1];
  const jittered = [1.4, 1.6, 1.3, 1.5];
  const opts = { targetFrr: 0.005, margin: 0.1 };
  const plain = thresholdChoices({ heldOut, leftOut, negative: [] }, opts);
  const viewed = thresholdChoices({ heldOut, jittered, leftOut, negative: [] }, opts);
  t.ok(Math.abs(plain.maxnormal.threshold - 1.32) < 1e-9, 'without views: 10 % above 1.2');
  t.ok(Math.abs(viewed.maxnormal.threshold - 1.76) < 1e-9, 'with views: 10 % above the highest view, 1.6');
  t.equal(viewed.cutswap.threshold, frrQuantile([1, 1.2, 1.4, 1.6, 1.3, 1.5, 1.1], 0.005), 'cutswap: the quantile of held-out x (1 + views) plus left-out scores');
  t.ok(viewed.cutswap.threshold > plain.cutswap.threshold, 'views that score higher raise the threshold');
  t.same(thresholdChoices({ heldOut, jittered: [], leftOut, negative: [] }, opts), plain, 'no views: the same as without jitter');
});
