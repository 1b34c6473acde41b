/**
 * Feature adaptation (papers/cutswap.txt §III-B), trained with tfjs: a
 * self-supervised 3-way classification — normal / patch defect / scar — of
 * golden samples and their synthetic defects, learned by a light adaptor on
 * top of the frozen backbone's aggregated patch features plus a small head
 * that is thrown away afterwards:
 *
 *   z  = (x - u) / s                    standardised features, per position
 *   z' = z + z . W                      the adaptor (W starts at zero)
 *   h  = ReLU(z' . U + c)               per-position hidden units
 *   logits = [mean_p h, max_p h] . V + d
 *
 * loss = class-balanced cross-entropy + weightDecay * |W|^2 (the decay keeps
 * the adapted features near the pretrained ones the memory bank relies on).
 * The adaptor is linear, so features are pooled 2x2 before training (pooling
 * commutes with it): four times less work for the same W.
 *
 * The backbone stays frozen and never runs in tfjs: its features come from
 * ONNX Runtime. tfjs runs on the fastest backend that is installed:
 * tfjs-node(-gpu) if present, else WebAssembly, else plain JavaScript.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { adaptorFromWeights, type FeatureAdaptor } from './feature-adaptor.ts';
import { seededRandom } from '../components/random.ts';
import { tfjsSeed, trainingBackend } from '../components/tfjs-backend.ts';

export interface AdaptSample {
  /** Pooled patch features [positions, channels]. */
  rows: Float32Array;
  /** 0 normal, 1 patch defect, 2 scar. */
  label: 0 | 1 | 2;
}

export interface AdaptTrainingOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  hidden: number;
  seed: number;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export interface AdaptTrainingResult {
  adaptor: FeatureAdaptor;
  /** Mean training loss per epoch. */
  losses: number[];
  /** Share of training samples the head classifies right after the last epoch. */
  accuracy: number;
  backend: string;
  trainMs: number;
  /** |W|_F / sqrt(C): how far the adaptor moved from the identity. */
  change: number;
}

/** Averages a [h*w, C] feature grid over factor x factor cells -> [(h/f)*(w/f), C] (edges dropped). */
export function poolRows(rows: Float32Array, grid: { width: number; height: number }, channels: number, factor: number): Float32Array {
  const ow = Math.floor(grid.width / factor);
  const oh = Math.floor(grid.height / factor);
  if (ow < 1 || oh < 1) throw new Error(`a ${grid.width}x${grid.height} grid cannot be pooled by ${factor}`);
  const out = new Float32Array(ow * oh * channels);
  const inv = 1 / (factor * factor);
  for (let y = 0; y < oh * factor; y++) {
    for (let x = 0; x < ow * factor; x++) {
      const src = (y * grid.width + x) * channels;
      const dst = (Math.floor(y / factor) * ow + Math.floor(x / factor)) * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = out[dst + c]! + rows[src + c]! * inv;
    }
  }
  return out;
}

/** Per-channel mean and scale (standard deviation, floored) of the normal samples' rows. */
export function channelStatistics(samples: AdaptSample[], channels: number): { mean: Float32Array; scale: Float32Array } {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  let n = 0;
  for (const s of samples) {
    if (s.label !== 0) continue;
    for (let i = 0; i < s.rows.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        const v = s.rows[i + c]!;
        sum[c] = sum[c]! + v;
        sq[c] = sq[c]! + v * v;
      }
      n++;
    }
  }
  if (n === 0) throw new Error('feature adaptation needs normal samples');
  const mean = Float32Array.from(sum, (v) => v / n);
  const std = Float32Array.from(sq, (v, c) => Math.sqrt(Math.max(0, v / n - mean[c]! ** 2)));
  // Dead channels (always zero after a ReLU) would divide by zero.
  const floor = 1e-3 * (std.reduce((a, b) => a + b, 0) / channels || 1);
  return { mean, scale: std.map((s) => Math.max(s, floor)) };
}

export async function trainFeatureAdaptor(samples: AdaptSample[], channels: number, opts: AdaptTrainingOptions): Promise<AdaptTrainingResult> {
  if (samples.length === 0) throw new Error('feature adaptation needs training samples');
  const positions = samples[0]!.rows.length / channels;
  for (const s of samples) if (s.rows.length !== positions * channels) throw new Error('adaptation samples differ in size');
  const backend = await trainingBackend();
  const t0 = performance.now();
  const { mean, scale } = channelStatistics(samples, channels);
  const counts = [0, 0, 0];
  for (const s of samples) counts[s.label]!++;
  const classWeight = counts.map((n) => (n > 0 ? samples.length / (3 * n) : 0));

  const random = seededRandom(opts.seed);
  const W = tf.variable(tf.zeros([channels, channels]), true, 'adaptor_w');
  const U = tf.variable(tf.randomNormal([channels, opts.hidden], 0, Math.sqrt(2 / channels), 'float32', tfjsSeed(opts.seed, 0)), true, 'head_u');
  const c = tf.variable(tf.zeros([opts.hidden]), true, 'head_c');
  const V = tf.variable(tf.randomNormal([2 * opts.hidden, 3], 0, Math.sqrt(1 / opts.hidden), 'float32', tfjsSeed(opts.seed, 1)), true, 'head_v');
  const d = tf.variable(tf.zeros([3]), true, 'head_d');
  const meanT = tf.tensor1d(mean);
  const scaleT = tf.tensor1d(scale);
  const optimizer = tf.train.adam(opts.learningRate);

  const batchOf = (idx: number[]) => {
    const x = new Float32Array(idx.length * positions * channels);
    idx.forEach((k, i) => x.set(samples[k]!.rows, i * positions * channels));
    return {
      x: tf.tensor2d(x, [idx.length * positions, channels]),
      y: tf.oneHot(tf.tensor1d(idx.map((k) => samples[k]!.label), 'int32'), 3),
      w: tf.tensor1d(idx.map((k) => classWeight[samples[k]!.label]!)),
    };
  };
  const logitsOf = (x: tf.Tensor2D, n: number) => {
    const z = x.sub(meanT).div(scaleT) as tf.Tensor2D;
    const adapted = z.add(z.matMul(W as tf.Tensor2D));
    const h = tf.relu(adapted.matMul(U as tf.Tensor2D).add(c)).reshape([n, positions, opts.hidden]);
    return tf.concat([h.mean(1), h.max(1)], 1).matMul(V as tf.Tensor2D).add(d) as tf.Tensor2D;
  };

  const losses: number[] = [];
  const order = samples.map((_, i) => i);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let total = 0;
    for (let b = 0; b < order.length; b += opts.batchSize) {
      const idx = order.slice(b, b + opts.batchSize);
      const batch = batchOf(idx);
      const loss = optimizer.minimize(
        () =>
          tf.tidy(() => {
            const ce = tf.losses.softmaxCrossEntropy(batch.y, logitsOf(batch.x, idx.length), batch.w);
            return ce.add(W.square().sum().mul(opts.weightDecay)) as tf.Scalar;
          }),
        true,
      )!;
      total += (await loss.data())[0]! * idx.length;
      tf.dispose([loss, batch.x, batch.y, batch.w]);
    }
    losses.push(total / order.length);
    opts.onEpoch?.(epoch + 1, opts.epochs, losses[losses.length - 1]!);
  }

  let correct = 0;
  for (let b = 0; b < samples.length; b += opts.batchSize) {
    const idx = order.slice(b, b + opts.batchSize);
    const batch = batchOf(idx);
    const predicted = tf.tidy(() => logitsOf(batch.x, idx.length).argMax(1));
    const labels = await predicted.data();
    idx.forEach((k, i) => (correct += labels[i] === samples[k]!.label ? 1 : 0));
    tf.dispose([predicted, batch.x, batch.y, batch.w]);
  }
  const weights = (await W.data()) as Float32Array;
  tf.dispose([W, U, c, V, d, meanT, scaleT]);
  optimizer.dispose();
  let norm = 0;
  for (const v of weights) norm += v * v;
  return {
    adaptor: adaptorFromWeights(weights, mean, scale),
    losses,
    accuracy: correct / samples.length,
    backend,
    trainMs: performance.now() - t0,
    change: Math.sqrt(norm / channels),
  };
}
