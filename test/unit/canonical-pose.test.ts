/**
 * Canonical pose by registration to a reference sample: an asymmetric part
 * laid on a belt at known rotations and shifts is put back into the
 * reference's pose, and samples of a different part stand out by their
 * alignment residual; samples of the same part turned further than the
 * product's rotation range are told apart from them.
 */
import t from 'tap';
import {
  beyondRotationRange,
  canonicalPoses,
  chooseReference,
  meanAngle,
  mixedSamples,
  normalisedCorrelation,
  partCentre,
  registerToReference,
  suggestedRotation,
  turnFromMean,
} from '../../models/stn/canonical-pose.ts';
import { angleOf, compose, invert, similarity, warpImage } from '../../models/stn/pose.ts';

const N = 56;
/** An L-shaped bracket (asymmetric under every rotation) with a hole, on a grey belt. */
function bracket(): Float32Array {
  const img = new Float32Array(N * N).fill(90);
  for (let y = 14; y < 42; y++) for (let x = 18; x < 26; x++) img[y * N + x] = 200;
  for (let y = 34; y < 42; y++) for (let x = 18; x < 40; x++) img[y * N + x] = 200;
  for (let y = 36; y < 40; y++) for (let x = 33; x < 37; x++) img[y * N + x] = 60;
  return img;
}
/** A round washer: a different product. */
function washer(): Float32Array {
  const img = new Float32Array(N * N).fill(90);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) {
    const r = Math.hypot(x - 28, y - 28);
    if (r < 16 && r > 7) img[y * N + x] = 170 + 30 * Math.cos(Math.atan2(y - 28, x - 28));
  }
  return img;
}
const posed = (src: Float32Array, angle: number, tx: number, ty: number) => ({ data: warpImage(src, N, N, 1, similarity(angle, 1, tx, ty)), width: N, height: N });

t.test('normalisedCorrelation and partCentre on hand-checkable inputs', async (t) => {
  t.equal(normalisedCorrelation(Float32Array.from([1, 2, 3]), Float32Array.from([2, 4, 6])), 1);
  t.equal(normalisedCorrelation(Float32Array.from([1, 2, 3]), Float32Array.from([3, 2, 1])), -1);
  t.equal(normalisedCorrelation(Float32Array.from([1, 1]), Float32Array.from([1, 2])), 0, 'a flat image correlates with nothing');
  const dot = new Float32Array(N * N).fill(90);
  dot[10 * N + 45] = 250;
  const [cx, cy] = partCentre({ data: dot, width: N, height: N });
  t.ok(Math.abs(cx - ((2 * 45 + 1) / N - 1)) < 1e-6 && Math.abs(cy - ((2 * 10 + 1) / N - 1)) < 1e-6);
});

t.test('a rotated and shifted part is registered back to the reference pose', async (t) => {
  const reference = { data: bracket(), width: N, height: N };
  for (const [deg, tx, ty] of [[25, 0.1, -0.05], [-140, -0.08, 0.12], [170, 0, 0]] as const) {
    const truth = similarity((deg * Math.PI) / 180, 1, tx, ty);
    const sample = { data: warpImage(reference.data, N, N, 1, invert(truth)), width: N, height: N };
    const found = registerToReference(sample, reference, { rotation: 180, translation: 0.15, scale: 0 });
    // warp(sample, pose) = reference means pose undoes the inverse: pose ~ truth.
    const residual = compose(invert(truth), found.pose);
    t.ok(Math.abs((angleOf(residual) * 180) / Math.PI) < 3, `${deg} deg: residual angle ${((angleOf(residual) * 180) / Math.PI).toFixed(1)}`);
    t.ok(Math.hypot(residual[2], residual[3]) < 0.06, `${deg} deg: residual shift ${Math.hypot(residual[2], residual[3]).toFixed(3)}`);
    t.ok(found.correlation > 0.9, `correlation ${found.correlation.toFixed(3)}`);
  }
  // Without rotation in the range, only the shift is searched.
  const shiftedOnly = registerToReference(posed(reference.data, 0, 0.1, 0.1), reference, { rotation: 0, translation: 0.15, scale: 0 });
  t.ok(Math.abs(angleOf(shiftedOnly.pose)) < 1e-9);
});

t.test('on a line where parts turn a little, the canonical orientation is the golden samples\' mean', async (t) => {
  const deg = (r: number) => (r * 180) / Math.PI;
  const rad = (d: number) => (d * Math.PI) / 180;
  t.ok(Math.abs(deg(meanAngle([rad(10), rad(30)])) - 20) < 1e-9);
  t.ok(Math.abs(Math.abs(deg(meanAngle([rad(-170), rad(170)]))) - 180) < 1e-9, 'the mean of -170 and 170 deg is 180 deg, not 0');
  const angles = [-26, -12, 3, 14, 27];
  const samples = angles.map((a) => posed(bracket(), rad(a), 0, 0));
  const narrow = canonicalPoses(samples, { rotation: 30, translation: 0, scale: 0 });
  const found = narrow.registrations.map((r) => deg(angleOf(r.pose)));
  t.ok(Math.abs(deg(meanAngle(found.map(rad)))) < 1, `canonical orientation centred: pose angles ${found.map((a) => a.toFixed(1)).join(', ')}`);
  // posed() samples with R(a), which turns the part by -a: its pose back is +a away from the others.
  for (let i = 1; i < angles.length; i++) {
    t.ok(Math.abs(found[i]! - found[0]! + (angles[i]! - angles[0]!)) < 3, `sample ${i} keeps its turn relative to sample 0`);
  }
  // A full turn has no mean orientation: the reference's is kept.
  const full = canonicalPoses(samples, { rotation: 180, translation: 0, scale: 0 });
  t.ok(Math.abs(angleOf(full.registrations[full.reference]!.pose)) < 1e-9);
});

t.test('samples of another product stand out by their residual; one product gives none', async (t) => {
  const parts = [0, 40, 80, 120, 160, 200, 240, 280, 320].map((deg, i) => posed(bracket(), (deg * Math.PI) / 180, (i % 3) * 0.03, -(i % 2) * 0.04));
  const one = canonicalPoses(parts, { rotation: 180, translation: 0.15, scale: 0 });
  t.same(mixedSamples(one.registrations.map((r) => 1 - r.correlation)), [], 'one product: nothing reported');
  // Canonical pose: every sample turned like the reference, the part centred in the frame.
  for (const i of [one.reference, (one.reference + 4) % parts.length]) {
    const [cx, cy] = partCentre({ data: warpImage(parts[i]!.data, N, N, 1, one.registrations[i]!.pose), width: N, height: N });
    t.ok(Math.hypot(cx, cy) < 0.05, `sample ${i} centred: (${cx.toFixed(3)}, ${cy.toFixed(3)})`);
  }
  const mixed = [...parts, posed(washer(), 0, 0, 0), posed(washer(), 1, 0.05, 0)];
  const poses = canonicalPoses(mixed, { rotation: 180, translation: 0.15, scale: 0 });
  t.ok(poses.reference < parts.length, 'the reference is one of the majority');
  t.same(mixedSamples(poses.registrations.map((r) => 1 - r.correlation)), [9, 10]);
  t.equal(chooseReference([parts[0]!, parts[1]!, posed(washer(), 0, 0, 0)]) < 2, true);
});

t.test('mixedSamples on hand-made residuals', async (t) => {
  t.same(mixedSamples([0.1, 0.12, 0.11, 0.13, 0.6, 0.65]), [4, 5]);
  t.same(mixedSamples([0.1, 0.2, 0.3, 0.4, 0.5]), [], 'an even spread is one product');
  t.same(mixedSamples([0.1, 0.5]), [], 'too few samples to tell');
  t.same(mixedSamples([0.1, 0.12, 0.6, 0.62, 0.61]), [], 'a majority of odd ones is no mix: the samples share no shape');
});

t.test('turnFromMean and suggestedRotation on hand-checkable angles', async (t) => {
  const rad = (d: number) => (d * Math.PI) / 180;
  const deg = (r: number) => (r * 180) / Math.PI;
  t.ok(Math.abs(deg(turnFromMean([rad(10), rad(20), rad(30)])) - 10) < 1e-9, 'mean 20 deg, 10 deg either way');
  t.ok(Math.abs(deg(turnFromMean([rad(170), rad(-170), rad(180)])) - 10) < 1e-9, 'across +-180 deg: mean 180, 10 deg either way');
  t.equal(turnFromMean([]), 0);
  t.equal(suggestedRotation(10), 15, 'five degrees of margin');
  t.equal(suggestedRotation(12), 20, 'rounded up to five');
  t.equal(suggestedRotation(80), 85);
  t.equal(suggestedRotation(84), 180, 'from a quarter turn on: full turns');
});

t.test('samples turned beyond the rotation range are the same product, not another one', async (t) => {
  const rad = (d: number) => (d * Math.PI) / 180;
  const deg = (r: number) => (r * 180) / Math.PI;
  const wrap = (d: number) => ((((d + 180) % 360) + 360) % 360) - 180;
  const narrow = { rotation: 30, translation: 0.15, scale: 0 };
  // A line where parts turn fully, enrolled as if they turned +-30 deg: the search within the
  // range covers +-60 deg of the reference; the rest fit it only turned further.
  const angles = [0, 40, 80, 120, 160, 200, 240, 280, 320];
  const parts = angles.map((a, i) => posed(bracket(), rad(a), (i % 3) * 0.03, -(i % 2) * 0.04));
  const poses = canonicalPoses(parts, narrow);
  const check = beyondRotationRange(parts, poses, narrow);
  const found = new Map(check.samples.map((s) => [s.index, s]));
  angles.forEach((a, i) => {
    const relative = Math.abs(wrap(a - angles[poses.reference]!));
    if (relative >= 80) {
      const s = found.get(i);
      t.ok(s, `sample ${i}, ${relative} deg from the reference, lies beyond the range`);
      if (s) {
        t.ok(Math.abs(Math.abs(deg(s.turn)) - relative) < 4, `its turn is found: ${deg(s.turn).toFixed(1)} deg`);
        t.ok(s.residual < s.residualInRange - 0.12, `it fits turned (${s.residualInRange.toFixed(2)} -> ${s.residual.toFixed(2)})`);
      }
    } else t.notOk(found.has(i), `sample ${i}, ${relative} deg from the reference, lies within it`);
  });
  t.ok(deg(check.turnFromMean) > 150, `the samples turn up to ${deg(check.turnFromMean).toFixed(0)} deg from their mean`);
  t.equal(suggestedRotation(deg(check.turnFromMean)), 180);
  // The same samples enrolled at full turns: nothing lies beyond.
  const full = { ...narrow, rotation: 180 };
  t.same(beyondRotationRange(parts, canonicalPoses(parts, full), full).samples, []);
  // Parts within the range, and another product among them: nothing turned; the washers stay for mixedSamples.
  const within = [-25, -12, 0, 8, 17, 25, -5, 12, -20].map((a, i) => posed(bracket(), rad(a), (i % 3) * 0.03, -(i % 2) * 0.04));
  const mixed = [...within, posed(washer(), 0, 0, 0), posed(washer(), 1, 0.05, 0)];
  const mixedPoses = canonicalPoses(mixed, narrow);
  const turned = beyondRotationRange(mixed, mixedPoses, narrow);
  t.same(turned.samples, [], 'neither the parts within the range nor the washers');
  t.ok(deg(turned.turnFromMean) < 35, `parts turn ${deg(turned.turnFromMean).toFixed(0)} deg from their mean at most`);
  t.same(mixedSamples(mixedPoses.registrations.map((r) => 1 - r.correlation)), [9, 10]);
});
