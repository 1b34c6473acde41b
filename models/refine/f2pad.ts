/**
 * F2PAD mask refinement (papers/f2pad.txt §III, DESIGN.md): the frame x is
 * written as x = x_n + a, a defect-free image plus an anomaly part, and x_n is
 * found by minimising
 *
 *   F(x_n) + l1 * sum log(1 + |a| / eps) + l2 * prior(x_n) + l3 * TV(x_n)
 *
 * F is the patch-distance loss of x_n to candidate bank features (an ONNX
 * graph, f2pad-graph.ts, behind `FeatureObjective`); the LOG term keeps the
 * anomaly part sparse; the pixel prior (pixel-prior.ts) keeps x_n's colours
 * those of good parts; total variation keeps x_n smooth. The defect mask is
 * where |a| stays large.
 *
 * Bounded for an edge CPU: x_n starts from the backbone's mask in-painted from
 * the nearest golden sample (inpaint.ts), only pixels inside the dilated mask
 * move, and the loop stops on a loss-decrease tolerance, an iteration cap or a
 * wall-clock budget, whichever comes first. Gradients are shared locally with
 * bilateral weights (by distance and colour) and each pixel takes an adaptive
 * step (Adam's running moments), as the paper's local gradient sharing and
 * adaptive step size.
 */
import type { F2padSettings } from '../../config/refine.ts';
import { dilateMask, maskDifference } from '../components/morphology.ts';
import { inpaintFromReferences } from './inpaint.ts';
import { pixelPriorCost, type PixelPrior } from './pixel-prior.ts';

/** The feature term F and its gradient with respect to the image (HWC, 0..255). */
export interface FeatureObjective {
  evaluate(image: Float32Array): Promise<{ loss: number; grad: Float32Array }>;
}

export interface F2padInput {
  /** The frame, HWC RGB 0..255. */
  image: Float32Array;
  width: number;
  height: number;
  /** The backbone's binary mask (1 = defective). */
  initialMask: Uint8Array;
  /** Golden samples at the frame's size, HWC RGB 0..255. */
  references: ArrayLike<number>[];
  prior: PixelPrior;
  /** Builds the feature objective for the region, with candidates chosen at the initial estimate. */
  objective(initial: Float32Array, region: Uint8Array): Promise<FeatureObjective>;
}

export interface F2padResult {
  mask: Uint8Array;
  /** The estimated defect-free image x_n. */
  normal: Float32Array;
  iterations: number;
  losses: number[];
  stoppedBy: 'empty' | 'tolerance' | 'iterations' | 'budget';
}

/** Sum of log(1 + |a| / eps) over the region and its gradient with respect to x_n (a = x - x_n). */
export function sparsityCost(x: Float32Array, xn: Float32Array, region: Uint8Array, eps: number): { cost: number; grad: Float32Array } {
  const grad = new Float32Array(x.length);
  let cost = 0;
  for (let p = 0; p < region.length; p++) {
    if (!region[p]) continue;
    for (let c = 0; c < 3; c++) {
      const a = x[p * 3 + c]! - xn[p * 3 + c]!;
      cost += Math.log1p(Math.abs(a) / eps);
      grad[p * 3 + c] = -Math.sign(a) / (eps + Math.abs(a));
    }
  }
  return { cost, grad };
}

/**
 * Smoothed isotropic total variation sum sqrt(dx^2 + dy^2 + delta) per channel
 * over the region's pixels (forward differences), and its gradient.
 */
export function totalVariation(xn: Float32Array, width: number, height: number, region: Uint8Array, delta = 1): { cost: number; grad: Float32Array } {
  const grad = new Float32Array(xn.length);
  let cost = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (!region[p]) continue;
      for (let c = 0; c < 3; c++) {
        const v = xn[p * 3 + c]!;
        const dx = x + 1 < width ? xn[(p + 1) * 3 + c]! - v : 0;
        const dy = y + 1 < height ? xn[(p + width) * 3 + c]! - v : 0;
        const n = Math.sqrt(dx * dx + dy * dy + delta);
        cost += n;
        grad[p * 3 + c] = grad[p * 3 + c]! - (dx + dy) / n;
        if (x + 1 < width) grad[(p + 1) * 3 + c] = grad[(p + 1) * 3 + c]! + dx / n;
        if (y + 1 < height) grad[(p + width) * 3 + c] = grad[(p + width) * 3 + c]! + dy / n;
      }
    }
  }
  return { cost, grad };
}

/**
 * Local gradient sharing: each region pixel's gradient becomes the bilateral
 * average of the gradients in its window (weights fall with distance and with
 * colour difference in `guide`), so pixels of one surface move together.
 */
export function shareGradient(
  grad: Float32Array,
  guide: Float32Array,
  width: number,
  height: number,
  region: Uint8Array,
  opts: F2padSettings['sharing'],
): Float32Array {
  const out = new Float32Array(grad.length);
  const r = opts.radius;
  const spatial: number[] = [];
  for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) spatial.push(Math.exp(-(dx * dx + dy * dy) / (2 * opts.sigmaSpace ** 2)));
  const colourScale = 1 / (2 * opts.sigmaColour ** 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (!region[p]) continue;
      let total = 0;
      const acc = [0, 0, 0];
      let k = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++, k++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= height || xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (!region[q]) continue;
          let d2 = 0;
          for (let c = 0; c < 3; c++) d2 += (guide[p * 3 + c]! - guide[q * 3 + c]!) ** 2;
          const wgt = spatial[k]! * Math.exp(-d2 * colourScale);
          total += wgt;
          for (let c = 0; c < 3; c++) acc[c]! += wgt * grad[q * 3 + c]!;
        }
      }
      for (let c = 0; c < 3; c++) out[p * 3 + c] = acc[c]! / total;
    }
  }
  return out;
}

/** Pixels whose largest channel of |x - x_n| exceeds tau, inside the region. */
export function anomalyMask(x: Float32Array, xn: Float32Array, region: Uint8Array, tau: number): Uint8Array {
  const mask = new Uint8Array(region.length);
  for (let p = 0; p < region.length; p++) {
    if (!region[p]) continue;
    let m = 0;
    for (let c = 0; c < 3; c++) m = Math.max(m, Math.abs(x[p * 3 + c]! - xn[p * 3 + c]!));
    mask[p] = m > tau ? 1 : 0;
  }
  return mask;
}

export async function refineF2pad(input: F2padInput, settings: F2padSettings, now: () => number = () => performance.now()): Promise<F2padResult> {
  const start = now();
  const { image: x, width, height } = input;
  if (!input.initialMask.some((v) => v)) {
    return { mask: new Uint8Array(width * height), normal: x.slice(), iterations: 0, losses: [], stoppedBy: 'empty' };
  }
  const region = dilateMask(input.initialMask, width, height, settings.dilation);
  const inpaintRegion = dilateMask(input.initialMask, width, height, settings.inpaintDilation);
  const ring = maskDifference(dilateMask(inpaintRegion, width, height, 6), inpaintRegion);
  const xn = inpaintFromReferences(x, width, height, inpaintRegion, ring, input.references, settings.maxShift).image;
  const objective = await input.objective(xn, region);

  const m1 = new Float32Array(xn.length);
  const m2 = new Float32Array(xn.length);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const losses: number[] = [];
  let stoppedBy: F2padResult['stoppedBy'] = 'iterations';
  let iterations = 0;
  for (let it = 0; it < settings.maxIterations; it++) {
    const feature = await objective.evaluate(xn);
    const sparse = sparsityCost(x, xn, region, settings.epsilon);
    const prior = pixelPriorCost(input.prior, xn, region);
    const tv = totalVariation(xn, width, height, region);
    const loss = feature.loss + settings.sparsity * sparse.cost + settings.prior * prior.cost + settings.tv * tv.cost;
    losses.push(loss);
    if (it > 0) {
      const previous = losses[it - 1]!;
      if (previous - loss < settings.tolerance * Math.abs(previous)) {
        stoppedBy = 'tolerance';
        break;
      }
    }
    const grad = new Float32Array(xn.length);
    for (let p = 0; p < region.length; p++) {
      if (!region[p]) continue;
      for (let c = 0; c < 3; c++) {
        const i = p * 3 + c;
        grad[i] = feature.grad[i]! + settings.sparsity * sparse.grad[i]! + settings.prior * prior.grad[i]! + settings.tv * tv.grad[i]!;
      }
    }
    const shared = shareGradient(grad, xn, width, height, region, settings.sharing);
    iterations = it + 1;
    const t = it + 1;
    for (let p = 0; p < region.length; p++) {
      if (!region[p]) continue;
      for (let c = 0; c < 3; c++) {
        const i = p * 3 + c;
        const g = shared[i]!;
        m1[i] = beta1 * m1[i]! + (1 - beta1) * g;
        m2[i] = beta2 * m2[i]! + (1 - beta2) * g * g;
        const stepped = xn[i]! - (settings.step * (m1[i]! / (1 - beta1 ** t))) / (Math.sqrt(m2[i]! / (1 - beta2 ** t)) + 1e-8);
        xn[i] = Math.min(255, Math.max(0, stepped));
      }
    }
    if (now() - start >= settings.budgetMs) {
      stoppedBy = 'budget';
      break;
    }
  }
  return { mask: anomalyMask(x, xn, region, settings.tau), normal: xn, iterations, losses, stoppedBy };
}
