/**
 * The reject threshold of an updated product, chosen with the method, target
 * false-reject rate and margin of the version it was updated from
 * (trainer/calibrate.ts). The artifact keeps the held-out golden samples'
 * names and sha256, not their images and not their raw scores, so:
 *
 * - with the golden-sample folder given, the held-out samples found there
 *   (same name, same sha256) are aligned as the product aligns and scored
 *   with the updated model, and synthetic negatives are made from them, as
 *   enrollment does; for the memory bank, the bank samples (when all are
 *   found) and the new good images, each scored against the updated bank
 *   without its own rows (left-out.ts), join the good scores the Gumbel fit
 *   sees, as enrollment's left-out scores do. PaDiM calibrates on the
 *   held-out samples only, as enrollment does. A version calibrated with
 *   camera jitter scores as many jittered views of each held-out sample,
 *   within the same ranges.
 * - without it (or when no held-out sample is found), the earlier version's
 *   thresholds are kept: the new good images pass because their patches are
 *   now covered, not because the threshold moved.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Manifest } from '../../product/manifest.ts';
import { goldenRoot, goldenSetNames } from '../../product/golden-folders.ts';
import { readImage } from '../../product/image-io.ts';
import type { PatchScorer } from '../../models/features/patch-scorer.ts';
import type { Aligner } from '../../models/stn/model.ts';
import type { SaliencyExtractor } from '../../models/saliency/layer-cam.ts';
import { seededRandom } from '../../models/components/random.ts';
import { jitteredViews } from '../../models/augment/camera-jitter.ts';
import { valueRange } from '../../models/components/value-range.ts';
import { pixelThreshold, summarise, thresholdChoices } from '../calibrate.ts';
import { makeNegatives, type NegativeMethod } from '../synthetic-negatives.ts';

export interface Recalibration {
  thresholds: Manifest['thresholds'];
  calibration: Manifest['calibration'];
  how: 'recalibrated' | 'kept';
  /** Golden samples of the manifest not found (or changed) in the golden folder. */
  missing: string[];
}

/** The golden samples of `manifest` found unchanged (same name, same sha256) in `goldenDir`, by role, and those not found. */
export async function findGoldenSamples(manifest: Manifest, goldenDir: string): Promise<{ heldOut: string[]; bank: string[]; missing: string[] }> {
  const out = { heldOut: [] as string[], bank: [] as string[], missing: [] as string[] };
  for (const f of manifest.goldenSamples.files) {
    const path = join(goldenDir, f.name);
    const bytes = await readFile(path).catch(() => undefined);
    if (bytes && createHash('sha256').update(bytes).digest('hex') === f.sha256) out[f.role].push(path);
    else out.missing.push(f.name);
  }
  return out;
}

/**
 * The device's golden-sample set (`<dataDir>/golden/<product>/<set>/`) that
 * holds the most held-out samples of `manifest` unchanged (then the most
 * samples in all; the newer set on a tie), or undefined when none holds a
 * held-out sample: the folder an update on the device recalibrates with.
 */
export async function deviceGoldenSet(dataDir: string, product: string, manifest: Manifest): Promise<string | undefined> {
  let best: { dir: string; heldOut: number; all: number } | undefined;
  for (const set of (await goldenSetNames(dataDir, product)).reverse()) {
    const dir = join(goldenRoot(dataDir, product), set);
    const found = await findGoldenSamples(manifest, dir);
    const score = { dir, heldOut: found.heldOut.length, all: found.heldOut.length + found.bank.length };
    if (score.heldOut > 0 && (!best || score.heldOut > best.heldOut || (score.heldOut === best.heldOut && score.all > best.all))) best = score;
  }
  return best?.dir;
}

export interface RecalibrateInput {
  manifest: Manifest;
  /** The updated model's patch scorer (no alignment: images are aligned first). */
  candidate: PatchScorer;
  aligner?: Aligner;
  /** Held-out golden sample files (verified); empty: thresholds kept. */
  heldOut: string[];
  missing: string[];
  /** Left-out scores: bank samples (when found) and new good images scored without their own bank rows. */
  leftOut: number[];
  negativesPerSample: number;
  negativeMethod: NegativeMethod;
  saliency?: SaliencyExtractor;
  seed: number;
  onProgress?: (done: number, total: number) => void;
}

/** The earlier version's thresholds and calibration record, kept (no held-out golden sample at hand). */
export function keptCalibration(manifest: Manifest, missing: string[]): Recalibration {
  return { thresholds: manifest.thresholds, calibration: manifest.calibration, how: 'kept', missing };
}

export async function recalibrate(input: RecalibrateInput): Promise<Recalibration> {
  const { manifest } = input;
  if (input.heldOut.length === 0) return keptCalibration(manifest, input.missing);
  const heldOutScores: number[] = [];
  const pixelMaxima: number[] = [];
  const negativeScores: number[] = [];
  const jitterScores: number[] = [];
  const random = seededRandom(input.seed + 5);
  const jitter = manifest.calibration.jitter;
  const jitterRandom = seededRandom(input.seed + 6);
  for (const [i, path] of input.heldOut.entries()) {
    const image = await readImage(path, manifest.inputSize);
    const data = input.aligner ? (await input.aligner.align(image)).data : image.data;
    const r = await input.candidate.score({ data });
    heldOutScores.push(r.score);
    pixelMaxima.push(valueRange(r.map).max);
    for (const view of jitter ? await jitteredViews({ ...image, data }, jitter.views, jitter.ranges, jitterRandom) : []) jitterScores.push((await input.candidate.score(view)).score);
    if (input.negativesPerSample > 0) {
      const made = await makeNegatives({ ...image, data }, input.negativesPerSample, input.negativeMethod, random, input.saliency);
      for (const n of made.negatives) negativeScores.push((await input.candidate.score(n.image)).score);
    }
    input.onProgress?.(i + 1, input.heldOut.length);
  }
  const c = manifest.calibration;
  const method = c.method ?? 'maxnormal';
  const targetFrr = c.targetFrr ?? 0.005;
  const { leftOut } = input;
  const choices = thresholdChoices({ heldOut: heldOutScores, jittered: jitterScores, leftOut, negative: negativeScores }, { targetFrr, margin: c.margin });
  return {
    how: 'recalibrated',
    missing: input.missing,
    thresholds: { image: choices[method].threshold, pixel: pixelThreshold(pixelMaxima, c.margin) },
    calibration: {
      heldOut: heldOutScores.length,
      margin: c.margin,
      imageScores: summarise(heldOutScores),
      pixelMax: Math.max(...pixelMaxima),
      method,
      targetFrr,
      leftOut: leftOut.length,
      ...(leftOut.length ? { leftOutScores: summarise(leftOut) } : {}),
      negatives: { method: input.negativeMethod, count: negativeScores.length, ...(negativeScores.length ? { scores: summarise(negativeScores) } : {}) },
      ...(jitter && jitterScores.length ? { jitter: { ...jitter, scores: heldOutScores.length + jitterScores.length, jitteredScores: summarise(jitterScores) } } : {}),
      choices,
    },
  };
}
