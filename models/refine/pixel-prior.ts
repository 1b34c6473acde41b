/**
 * The pixel prior of F2PAD (papers/f2pad.txt §III): a Gaussian mixture over
 * the RGB colours of golden-sample pixels, fitted at enrollment by EM and
 * used with equal component weights as
 *
 *   prior(x) = min_k (x - mu_k)^T Lambda_k (x - mu_k)      (x in [0, 1]^3)
 *
 * so a colour near any mode of the good part costs little. Pure functions.
 */

export interface PixelPrior {
  /** [K, 3], colours in [0, 1]. */
  means: Float32Array;
  /** [K, 3, 3] inverse covariances. */
  precisions: Float32Array;
}

function invert3(m: number[]): number[] {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!(Math.abs(det) > 1e-18)) throw new Error('singular colour covariance');
  return [A / det, -(b * i - c * h) / det, (b * f - c * e) / det, B / det, (a * i - c * g) / det, -(a * f - c * d) / det, C / det, -(a * h - b * g) / det, (a * e - b * d) / det];
}

function determinant3(m: number[]): number {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

/**
 * EM fit of a K-component full-covariance mixture to colours [N, 3] in
 * [0, 1]. Starts from k-means++-style seeds; `regularisation` is added to
 * every covariance's diagonal so flat regions do not collapse a component.
 */
export function fitPixelPrior(
  colours: Float32Array,
  components: number,
  random: () => number,
  opts: { iterations?: number; regularisation?: number } = {},
): PixelPrior {
  const n = colours.length / 3;
  if (!Number.isInteger(n) || n < components) throw new Error(`need at least ${components} colours to fit the pixel prior, got ${n}`);
  const reg = opts.regularisation ?? 1e-4;
  const K = components;
  // Seeds far apart: each next seed drawn with probability proportional to squared distance.
  const first = Math.floor(random() * n);
  const means: number[][] = [[colours[first * 3]!, colours[first * 3 + 1]!, colours[first * 3 + 2]!]];
  const nearest = new Float64Array(n).fill(Infinity);
  while (means.length < K) {
    const m = means.at(-1)!;
    let total = 0;
    for (let p = 0; p < n; p++) {
      const d = (colours[p * 3]! - m[0]!) ** 2 + (colours[p * 3 + 1]! - m[1]!) ** 2 + (colours[p * 3 + 2]! - m[2]!) ** 2;
      if (d < nearest[p]!) nearest[p] = d;
      total += nearest[p]!;
    }
    let pick = random() * total;
    let chosen = n - 1;
    for (let p = 0; p < n; p++) {
      pick -= nearest[p]!;
      if (pick <= 0) {
        chosen = p;
        break;
      }
    }
    means.push([colours[chosen * 3]!, colours[chosen * 3 + 1]!, colours[chosen * 3 + 2]!]);
  }
  let covs = means.map(() => [0.01, 0, 0, 0, 0.01, 0, 0, 0, 0.01]);
  let weights = means.map(() => 1 / K);
  const resp = new Float64Array(n * K);
  for (let it = 0; it < (opts.iterations ?? 30); it++) {
    // E step: responsibilities from log densities (log-sum-exp for stability).
    const precs = covs.map(invert3);
    const logNorm = covs.map((c, k) => Math.log(weights[k]!) - 0.5 * Math.log(determinant3(c)));
    for (let p = 0; p < n; p++) {
      let best = -Infinity;
      for (let k = 0; k < K; k++) {
        const l = logNorm[k]! - 0.5 * mahalanobis(colours, p, means[k]!, precs[k]!);
        resp[p * K + k] = l;
        if (l > best) best = l;
      }
      let sum = 0;
      for (let k = 0; k < K; k++) sum += resp[p * K + k] = Math.exp(resp[p * K + k]! - best);
      for (let k = 0; k < K; k++) resp[p * K + k]! /= sum;
    }
    // M step.
    const next = new Float64Array(K * 3);
    const mass = new Float64Array(K);
    for (let p = 0; p < n; p++) {
      for (let k = 0; k < K; k++) {
        const r = resp[p * K + k]!;
        mass[k] = mass[k]! + r;
        for (let c = 0; c < 3; c++) next[k * 3 + c] = next[k * 3 + c]! + r * colours[p * 3 + c]!;
      }
    }
    for (let i = 0; i < K * 3; i++) next[i] = next[i]! / Math.max(mass[Math.floor(i / 3)]!, 1e-12);
    const nextCovs = new Float64Array(K * 9);
    for (let p = 0; p < n; p++) {
      for (let k = 0; k < K; k++) {
        const r = resp[p * K + k]!;
        const d = [colours[p * 3]! - next[k * 3]!, colours[p * 3 + 1]! - next[k * 3 + 1]!, colours[p * 3 + 2]! - next[k * 3 + 2]!];
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) nextCovs[k * 9 + i * 3 + j] = nextCovs[k * 9 + i * 3 + j]! + r * d[i]! * d[j]!;
      }
    }
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < 9; i++) nextCovs[k * 9 + i] = nextCovs[k * 9 + i]! / Math.max(mass[k]!, 1e-12);
      for (let i = 0; i < 3; i++) nextCovs[k * 9 + i * 4] = nextCovs[k * 9 + i * 4]! + reg;
    }
    for (let k = 0; k < K; k++) means[k] = [...next.subarray(k * 3, k * 3 + 3)];
    covs = means.map((_, k) => [...nextCovs.subarray(k * 9, k * 9 + 9)]);
    weights = [...mass].map((m) => Math.max(m / n, 1e-6));
  }
  return { means: Float32Array.from(means.flat()), precisions: Float32Array.from(covs.flatMap(invert3)) };
}

function mahalanobis(colours: Float32Array | Float64Array, p: number, mean: number[] | Float32Array, prec: number[] | Float32Array, offset = 0): number {
  const d0 = colours[p * 3]! - mean[offset]!;
  const d1 = colours[p * 3 + 1]! - mean[offset + 1]!;
  const d2 = colours[p * 3 + 2]! - mean[offset + 2]!;
  const o = offset * 3;
  return (
    d0 * (prec[o]! * d0 + prec[o + 1]! * d1 + prec[o + 2]! * d2) +
    d1 * (prec[o + 3]! * d0 + prec[o + 4]! * d1 + prec[o + 5]! * d2) +
    d2 * (prec[o + 6]! * d0 + prec[o + 7]! * d1 + prec[o + 8]! * d2)
  );
}

/**
 * Prior cost of the pixels selected by `region` of an HWC image in 0..255,
 * and its gradient with respect to those pixels (0..255 units, zero elsewhere).
 */
export function pixelPriorCost(prior: PixelPrior, image: Float32Array, region: Uint8Array): { cost: number; grad: Float32Array } {
  const K = prior.means.length / 3;
  const grad = new Float32Array(image.length);
  const x = new Float64Array(3);
  let cost = 0;
  for (let p = 0; p < region.length; p++) {
    if (!region[p]) continue;
    for (let c = 0; c < 3; c++) x[c] = image[p * 3 + c]! / 255;
    let best = Infinity;
    let arg = 0;
    for (let k = 0; k < K; k++) {
      const m = mahalanobis(x, 0, prior.means, prior.precisions, k * 3);
      if (m < best) {
        best = m;
        arg = k;
      }
    }
    cost += best;
    // d/dx (d^T L d) = 2 L d (L symmetric); chain rule through x / 255.
    const o = arg * 9;
    const d = [x[0]! - prior.means[arg * 3]!, x[1]! - prior.means[arg * 3 + 1]!, x[2]! - prior.means[arg * 3 + 2]!];
    for (let i = 0; i < 3; i++) {
      grad[p * 3 + i] = (2 * (prior.precisions[o + i * 3]! * d[0]! + prior.precisions[o + i * 3 + 1]! * d[1]! + prior.precisions[o + i * 3 + 2]! * d[2]!)) / 255;
    }
  }
  return { cost, grad };
}

/** `limit` pixels drawn at random from the images, as colours in [0, 1] for `fitPixelPrior`. */
export function samplePixels(images: { data: Float32Array }[], limit: number, random: () => number): Float32Array {
  const total = images.reduce((s, im) => s + im.data.length / 3, 0);
  const keep = Math.min(limit, total);
  const out = new Float32Array(keep * 3);
  for (let i = 0; i < keep; i++) {
    let idx = Math.floor(random() * total);
    let img = 0;
    while (idx >= images[img]!.data.length / 3) idx -= images[img++]!.data.length / 3;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = images[img]!.data[idx * 3 + c]! / 255;
  }
  return out;
}
