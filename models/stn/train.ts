/**
 * Self-supervised training of the spatial transformer (tfjs), on golden
 * samples only, already put into the product's canonical pose
 * (models/stn/canonical-pose.ts). Every step poses samples at random within the
 * product's ranges and trains the localisation net to undo the pose. Two
 * registration losses:
 *
 * - `image` (papers/stn-padim.txt): the corrected image against the
 *   untransformed one, L1 + l2Weight * L2 + ssimWeight * (1 - SSIM);
 * - `siamese` (papers/stn-registration-memory-bank.txt §3.1): the backbone's
 *   patch features of two posed golden samples, each warped by the pose the
 *   localisation net predicts for it, compared by negative cosine similarity
 *   with stop-gradient on the second branch (SimSiam). The features come from
 *   ONNX Runtime beforehand (views below); the warp acts on the feature map.
 *
 * Both add poseWeight * |predicted - true inverse pose|^2: the random pose is
 * known, and this term is what lets a small net learn full turns in a few
 * hundred steps (image losses alone have a local minimum at every symmetry of
 * the part's outline). poseWeight 0 gives the papers' losses alone.
 *
 * Images are the frame average-pooled by INPUT_FACTOR, as the runtime's
 * localisation net sees them; posing and warping use one bilinear sampler
 * with border padding, the same GridSample the ONNX graph runs.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../components/random.ts';
import { concatenate } from '../components/concatenate.ts';
import { baseGrid } from './graph.ts';
import type { StnLoss } from '../../config/enroll.ts';
import { CONV_CHANNELS, CONV_KERNELS, type LocalisationShape, type LocalisationWeights } from './localisation-net.ts';
import { downscaleImage, invert, randomPose, warpImage, IDENTITY, type PoseRanges, type Similarity } from './pose.ts';
import { tfjsSeed, trainingBackend } from '../components/tfjs-backend.ts';


export interface StnTrainingOptions {
  loss: StnLoss;
  ranges: PoseRanges;
  steps: number;
  batchSize: number;
  learningRate: number;
  l2Weight: number;
  ssimWeight: number;
  poseWeight: number;
  seed: number;
  onStep?: (step: number, steps: number) => void;
}

/** A posed golden sample for the siamese loss: its pooled image and its patch features. */
export interface FeatureView {
  sample: number;
  /** The pose the sample was put in (sampling matrix from canonical). */
  pose: Similarity;
  /** Pooled image [h, w, 3], 0..255. */
  pooled: Float32Array;
  /** Patch features [gh, gw, d]. */
  features: Float32Array;
}

export interface SiameseViews {
  views: FeatureView[];
  /** Shape of every view's feature map. */
  grid: { height: number; width: number; channels: number };
}

export interface StnTrainingResult {
  weights: LocalisationWeights;
  /** Mean loss over each tenth of training (the loss curve in the manifest). */
  lossCurve: number[];
  backend: string;
  trainMs: number;
}

/**
 * Share of training poses drawn from a narrow range (FINE_RANGE of the
 * product's): the runtime applies the transformer several times over, and the
 * later passes, which see nearly aligned parts, need precision there.
 */
export const FINE_SHARE = 0.5;
const FINE_RANGE = 0.15;

/** The narrow ranges of nearly aligned training poses. */
export function fineRanges(ranges: PoseRanges): PoseRanges {
  return { rotation: ranges.rotation * FINE_RANGE, translation: ranges.translation * FINE_RANGE, scale: ranges.scale * FINE_RANGE };
}

/** Bilinear sampling of [B, H, W, C] images with similarity parameters [B, 4] (border padding, align_corners 0). */
export function gridSample(images: tf.Tensor4D, params: tf.Tensor2D, outHeight: number, outWidth: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, W, C] = images.shape;
    const n = outHeight * outWidth;
    const base = tf.tensor3d(baseGrid(outWidth, outHeight), [1, n, 3]).tile([B, 1, 1]) as tf.Tensor3D;
    const [a, b, tx, ty] = tf.split(params, 4, 1) as tf.Tensor2D[];
    const thetaT = tf.stack([tf.concat([a!, b!], 1), tf.concat([b!.neg(), a!], 1), tf.concat([tx!, ty!], 1)], 1) as tf.Tensor3D;
    const coords = tf.matMul(base, thetaT);
    const [x, y] = tf.split(coords, 2, 2);
    const px = x!.add(1).mul(W).sub(1).div(2).clipByValue(0, W - 1);
    const py = y!.add(1).mul(H).sub(1).div(2).clipByValue(0, H - 1);
    // Cell corners are read back, so no gradient flows into the integer indices
    // (they have none); gradients reach the pose through the weights wx, wy.
    const x0 = tf.tensor(px.dataSync().map(Math.floor), px.shape);
    const y0 = tf.tensor(py.dataSync().map(Math.floor), py.shape);
    const x1 = tf.minimum(x0.add(1), W - 1);
    const y1 = tf.minimum(y0.add(1), H - 1);
    const wx = px.sub(x0);
    const wy = py.sub(y0);
    const offset = tf.range(0, B).reshape([B, 1, 1]).mul(H * W);
    const flat = images.reshape([B * H * W, C]);
    const at = (yy: tf.Tensor, xx: tf.Tensor) => tf.gather(flat, yy.mul(W).add(xx).add(offset).reshape([B * n]).toInt()).reshape([B, n, C]);
    const top = at(y0, x0).mul(tf.sub(1, wx)).add(at(y0, x1).mul(wx));
    const bottom = at(y1, x0).mul(tf.sub(1, wx)).add(at(y1, x1).mul(wx));
    return top.mul(tf.sub(1, wy)).add(bottom.mul(wy)).reshape([B, outHeight, outWidth, C]) as tf.Tensor4D;
  });
}

/** Mean SSIM of [B, H, W, C] images in 0..1 (uniform 7x7 windows, valid region). */
function ssimTf(x: tf.Tensor4D, y: tf.Tensor4D): tf.Scalar {
  const pool = (t: tf.Tensor4D) => tf.avgPool(t, 7, 1, 'valid');
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const mx = pool(x);
  const my = pool(y);
  const vx = pool(x.square() as tf.Tensor4D).sub(mx.square());
  const vy = pool(y.square() as tf.Tensor4D).sub(my.square());
  const cov = pool(x.mul(y) as tf.Tensor4D).sub(mx.mul(my));
  const num = mx.mul(my).mul(2).add(c1).mul(cov.mul(2).add(c2));
  const den = mx.square().add(my.square()).add(c1).mul(vx.add(vy).add(c2));
  return num.div(den).mean() as tf.Scalar;
}

interface Net {
  conv: { kernel: tf.Variable; bias: tf.Variable }[];
  hidden: { weight: tf.Variable; bias: tf.Variable };
  pose: { weight: tf.Variable; bias: tf.Variable };
}

function createNet(shape: LocalisationShape, seed: number): Net {
  let inC = 3;
  const conv = CONV_CHANNELS.map((outC, i) => {
    const k = CONV_KERNELS[i]!;
    const kernel = tf.variable(tf.randomNormal([k, k, inC, outC], 0, Math.sqrt(2 / (k * k * inC)), 'float32', tfjsSeed(seed, i)));
    inC = outC;
    return { kernel, bias: tf.variable(tf.zeros([outC])) };
  });
  return {
    conv,
    hidden: { weight: tf.variable(tf.randomNormal([shape.flat, shape.hidden], 0, Math.sqrt(2 / shape.flat), 'float32', tfjsSeed(seed, 10))), bias: tf.variable(tf.zeros([shape.hidden])) },
    // Zero last weights and the identity as bias: training starts from "leave the frame as it is".
    pose: { weight: tf.variable(tf.zeros([shape.hidden, 4])), bias: tf.variable(tf.tensor1d(IDENTITY)) },
  };
}

/**
 * The first convolution's 3x3 stride-2 windows of pooled images, built in
 * plain JS: [batch * oh * ow, 27] rows in (ky, kx, channel) order, scaled as
 * the localisation net reads them. Its input needs no gradient, and the
 * WebAssembly backend has no convolution gradients at all.
 */
export function firstLayerWindows(images: Float32Array[], h: number, w: number): Float32Array {
  const oh = Math.floor((h - 3) / 2) + 1;
  const ow = Math.floor((w - 3) / 2) + 1;
  const out = new Float32Array(images.length * oh * ow * 27);
  let k = 0;
  for (const im of images)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++)
        for (let ky = 0; ky < 3; ky++)
          for (let kx = 0; kx < 3; kx++)
            for (let c = 0; c < 3; c++) out[k++] = im[((2 * y + ky) * w + 2 * x + kx) * 3 + c]! / 255 - 0.5;
  return out;
}

/** A 2x2 stride-2 convolution as space-to-depth and one matMul (a last odd row/column is left out, as ONNX does). */
function conv2x2Stride2(x: tf.Tensor4D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor4D {
  const [batch, h, w, inC] = x.shape;
  const oh = Math.floor(h / 2);
  const ow = Math.floor(w / 2);
  const blocks = x
    .slice([0, 0, 0, 0], [batch, 2 * oh, 2 * ow, inC])
    .reshape([batch, oh, 2, ow, 2, inC])
    .transpose([0, 1, 3, 2, 4, 5])
    .reshape([batch * oh * ow, 4 * inC]) as tf.Tensor2D;
  return tf.relu(blocks.matMul(kernel.reshape([4 * inC, kernel.shape[3]!]) as tf.Tensor2D).add(bias)).reshape([batch, oh, ow, kernel.shape[3]!]) as tf.Tensor4D;
}

/** Similarity parameters [batch, 4] from first-layer windows (firstLayerWindows). */
function predictPose(net: Net, shape: LocalisationShape, windows: tf.Tensor2D): tf.Tensor2D {
  const [oh, ow, c1] = shape.convs[0]!;
  const batch = windows.shape[0] / (oh * ow);
  const first = net.conv[0]!;
  let x = tf.relu(windows.matMul(first.kernel.reshape([27, c1]) as tf.Tensor2D).add(first.bias)).reshape([batch, oh, ow, c1]) as tf.Tensor4D;
  for (const c of net.conv.slice(1)) x = conv2x2Stride2(x, c.kernel, c.bias);
  const flat = x.reshape([batch, -1]) as tf.Tensor2D;
  const hidden = tf.relu(flat.matMul(net.hidden.weight as tf.Tensor2D).add(net.hidden.bias)) as tf.Tensor2D;
  return hidden.matMul(net.pose.weight as tf.Tensor2D).add(net.pose.bias) as tf.Tensor2D;
}

/**
 * Trains the localisation net. `canonical` holds the pooled golden samples in
 * canonical pose ([h, w, 3] each, 0..255); the siamese loss also needs `views`.
 */
export async function trainSpatialTransformer(shape: LocalisationShape, canonical: Float32Array[], opts: StnTrainingOptions, siamese?: SiameseViews): Promise<StnTrainingResult> {
  const views = siamese?.views ?? [];
  if (canonical.length === 0) throw new Error('the spatial transformer needs golden samples');
  if (opts.loss === 'siamese' && views.length < 2) throw new Error('the siamese registration loss needs posed feature views of at least two samples');
  const backend = await trainingBackend();
  const t0 = performance.now();
  const [h, w] = shape.input;
  const random = seededRandom(opts.seed);
  const net = createNet(shape, opts.seed);
  const variables = [...net.conv.flatMap((c) => [c.kernel, c.bias]), net.hidden.weight, net.hidden.bias, net.pose.weight, net.pose.bias];
  const optimizer = tf.train.adam(opts.learningRate);
  // The image loss compares at half the pooled resolution: a quarter of the sampling work.
  const lh = Math.floor(h / 2);
  const lw = Math.floor(w / 2);
  const lossTargets = tf.tensor4d(concatenate(canonical.map((c) => downscaleImage(c, w, h, 3, 2).data), Float32Array), [canonical.length, lh, lw, 3]);
  const poseLoss = (predicted: tf.Tensor2D, target: Similarity[]) => predicted.sub(tf.tensor2d(target.flat(), [target.length, 4])).square().sum(1).mean();

  const windowsOf = (images: Float32Array[]) => tf.tensor2d(firstLayerWindows(images, h, w), [images.length * shape.convs[0]![0] * shape.convs[0]![1], 27]);
  const fine = fineRanges(opts.ranges);
  const batch = Math.min(opts.batchSize, Math.max(canonical.length, 2));
  const perStep: number[] = [];
  for (let step = 0; step < opts.steps; step++) {
    let lossValue: tf.Scalar;
    if (opts.loss === 'image') {
      const idx = Array.from({ length: batch }, () => Math.floor(random() * canonical.length));
      const poses = idx.map(() => randomPose(random() < FINE_SHARE ? fine : opts.ranges, random));
      // Posing needs no gradient: done in plain JS with the same sampler.
      const posedImages = idx.map((k, i) => warpImage(canonical[k]!, w, h, 3, poses[i]!));
      const posed = tf.tensor4d(concatenate(posedImages, Float32Array), [batch, h, w, 3]);
      const windows = windowsOf(posedImages);
      const target = tf.tidy(() => tf.gather(lossTargets, idx).div(255) as tf.Tensor4D);
      lossValue = optimizer.minimize(
        () =>
          tf.tidy(() => {
            const predicted = predictPose(net, shape, windows);
            const restored = gridSample(posed, predicted, lh, lw).div(255) as tf.Tensor4D;
            const diff = restored.sub(target);
            const image = diff.abs().mean().add(diff.square().mean().mul(opts.l2Weight)).add(tf.sub(1, ssimTf(restored, target)).mul(opts.ssimWeight));
            return image.add(poseLoss(predicted, poses.map(invert)).mul(opts.poseWeight)) as tf.Scalar;
          }),
        true,
        variables,
      )!;
      tf.dispose([target, posed, windows]);
    } else {
      const { height: gh, width: gw, channels: d } = siamese!.grid;
      const pick = () => views[Math.floor(random() * views.length)]!;
      const first = Array.from({ length: batch }, pick);
      // The second branch: another golden sample (SimSiam's second view), no gradient.
      const second = first.map((v) => {
        let o = pick();
        for (let k = 0; k < 8 && o.sample === v.sample; k++) o = pick();
        return o;
      });
      const imagesOf = (vs: FeatureView[]) => windowsOf(vs.map((v) => v.pooled));
      const featuresOf = (vs: FeatureView[]) => tf.tensor4d(concatenate(vs.map((v) => v.features), Float32Array), [vs.length, gh, gw, d]);
      const imagesA = imagesOf(first);
      const featuresA = featuresOf(first);
      const targetB = tf.tidy(() => {
        const f = gridSample(featuresOf(second), predictPose(net, shape, imagesOf(second)), gh, gw);
        return f.div(f.norm('euclidean', 3, true).add(1e-6)) as tf.Tensor4D;
      });
      lossValue = optimizer.minimize(
        () =>
          tf.tidy(() => {
            const predicted = predictPose(net, shape, imagesA);
            const f = gridSample(featuresA, predicted, gh, gw);
            const cosine = f.div(f.norm('euclidean', 3, true).add(1e-6)).mul(targetB).sum(3).mean();
            return cosine.neg().add(poseLoss(predicted, first.map((v) => invert(v.pose))).mul(opts.poseWeight)) as tf.Scalar;
          }),
        true,
        variables,
      )!;
      tf.dispose([imagesA, featuresA, targetB]);
    }
    perStep.push((await lossValue.data())[0]!);
    lossValue.dispose();
    opts.onStep?.(step + 1, opts.steps);
  }

  const read = async (v: tf.Variable) => (await v.data()) as Float32Array;
  const weights: LocalisationWeights = {
    conv: await Promise.all(net.conv.map(async (c) => ({ kernel: await read(c.kernel), bias: await read(c.bias) }))),
    hidden: { weight: await read(net.hidden.weight), bias: await read(net.hidden.bias) },
    pose: { weight: await read(net.pose.weight), bias: await read(net.pose.bias) },
  };
  tf.dispose([lossTargets, ...variables]);
  optimizer.dispose();
  const lossCurve: number[] = [];
  for (let k = 0; k < Math.min(10, perStep.length); k++) {
    const part = perStep.slice(Math.floor((k * perStep.length) / 10), Math.floor(((k + 1) * perStep.length) / 10));
    if (part.length) lossCurve.push(part.reduce((s, v) => s + v, 0) / part.length);
  }
  return { weights, lossCurve, backend, trainMs: performance.now() - t0 };
}
