/** SSIM and multi-scale SSIM: identical images score 1, damage lowers the score, shapes are checked. */
import t from 'tap';
import { msSsim, ssim } from '../../models/components/ssim.ts';
import { seededRandom, gaussianSampler } from '../../models/components/random.ts';

const W = 32;
const image = Float32Array.from({ length: W * W }, (_, i) => 128 + 60 * Math.sin((i % W) / 3) * Math.cos(Math.floor(i / W) / 4));

t.test('an image is perfectly similar to itself', async (t) => {
  t.ok(Math.abs(ssim(image, image, W, W) - 1) < 1e-9);
  t.ok(Math.abs(msSsim(image, image, W, W) - 1) < 1e-9);
});

t.test('noise and a shift lower SSIM, more noise lowers it more', async (t) => {
  const n = gaussianSampler(seededRandom(1));
  const noisy = (sigma: number) => image.map((v) => v + n() * sigma);
  const little = ssim(image, noisy(5), W, W);
  const lots = ssim(image, noisy(40), W, W);
  t.ok(little < 1 && lots < little, `little ${little.toFixed(3)} > lots ${lots.toFixed(3)}`);
  const shifted = image.map((_, i) => image[(i + 3) % image.length]!);
  t.ok(msSsim(image, shifted, W, W) < 0.9);
  // A constant offset changes luminance only.
  t.ok(ssim(image, image.map((v) => v + 20), W, W) > ssim(image, noisy(40), W, W));
});

t.test('mismatched sizes are refused', async (t) => {
  t.throws(() => ssim(image, image.subarray(1), W, W), /grey images/);
  t.throws(() => msSsim(image.subarray(0, 64), image.subarray(0, 64), 8, 8, 3), /too small/);
});
