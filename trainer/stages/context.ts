/**
 * What the stages of an enrollment hand one another: the run's options and
 * settings, and each stage's output once that stage has run. A stage reads
 * what earlier stages left through `need`, so a stage run out of order says
 * what it is missing instead of working on nothing.
 */
import type { ActivationRanges } from '../../models/onnx/emit-int8.ts';
import { performance } from 'node:perf_hooks';
import type { BackbonePrecision, EnrollSettings, InferenceSettings } from '../../config/enroll.ts';
import type { ManifestDraft } from '../../product/artifact.ts';
import type { EnrollProgress, EnrollResult, EnrollStage } from '../../product/enrollment-progress.ts';
import type { Backbone } from '../../models/backbones/registry.ts';
import type { FeatureExtractor } from '../../models/features/extractor.ts';
import type { FeatureReduction } from '../../models/features/reduction.ts';
import type { SessionOptions } from '../../models/session.ts';
import type { SaliencyExtractor } from '../../models/saliency/layer-cam.ts';
import type { LocalisationWeights } from '../../models/stn/localisation-net.ts';
import type { FeatureAdaptor } from '../../models/adapt/feature-adaptor.ts';
import type { AdaptSample } from '../../models/adapt/train.ts';
import type { MemoryBank } from '../../models/patchcore/fit.ts';
import type { PositionGaussians } from '../../models/padim/gaussian.ts';
import type { CalibrationMethod } from '../../config/enroll.ts';
import type { ThresholdChoice } from '../calibrate.ts';
import type { GoldenSet } from '../golden-samples.ts';
import type { NegativeMethod } from '../synthetic-negatives.ts';
import type { ContactSheetRow } from '../contact-sheet.ts';

export interface EnrollOptions {
  productId: string;
  imagesDir: string;
  dataDir: string;
  settings: EnrollSettings;
  inference: InferenceSettings;
  activate?: boolean;
  onProgress?: (p: EnrollProgress) => void;
}

/** The backbone and the sessions every later stage runs images through. */
export interface EnrollModels {
  backbone: Backbone;
  extractor: FeatureExtractor;
  /** The backbone's saliency maps, for CutSwap negatives (backbones with a layer IR only). */
  saliency?: SaliencyExtractor;
  /** How calibration makes its synthetic negatives: CutSwap when saliency maps exist. */
  calibrationMethod: NegativeMethod;
  /** The backbone arithmetic the enrollment resolved (`auto` made concrete); the manifest records it. */
  precision: BackbonePrecision;
  /** int8 backbone: activation ranges calibrated on the bank samples (absent: float32, or int8 before the align stage calibrated them). */
  int8?: { samples: number; ranges: ActivationRanges };
}

/**
 * Patch features of the bank samples, then of their flipped / turned views
 * (view-major: every sample's first view, then every sample's second, ...),
 * then of the posed views (PaDiM's Gaussians only).
 */
export interface PatchFeatures {
  /** Raw patch rows, [images * positions, channels]. */
  raw: Float32Array;
  images: number;
  positions: number;
  channels: number;
  /** Images per bank sample among the memory bank's candidates: 1 + its added views. */
  bankViews: number;
}

/** What the scorer compares patches with, fitted on the (adapted, reduced) features. */
export interface FittedModel {
  dim: number;
  /** The reduction the scoring graphs apply (the PCA, with the adaptor folded in). */
  reduction?: FeatureReduction;
  reductionInfo: ManifestDraft['reduction'];
  bank: MemoryBank;
  padim?: PositionGaussians;
}

export interface Calibration {
  heldOutScores: number[];
  /** Scores of the held-out samples' camera-jittered views, sample by sample (`calibrationJitterViews` each). */
  jitterScores: number[];
  leftOutScores: number[];
  negativeScores: number[];
  pixelMaxima: number[];
  choices: Record<CalibrationMethod, ThresholdChoice>;
  sheet: ContactSheetRow[];
}

export interface EnrollContext {
  readonly opts: EnrollOptions;
  readonly settings: EnrollSettings;
  readonly size: { width: number; height: number };
  readonly session: SessionOptions;
  /** Milliseconds per step, as the manifest records them. */
  readonly timings: Record<string, number>;
  readonly notes: string[];
  /** Files stored next to the manifest (contact sheets). */
  readonly attachments: Record<string, Uint8Array>;
  golden?: GoldenSet;
  split?: { heldOut: number[]; bank: number[] };
  models?: EnrollModels;
  alignment: ManifestDraft['alignment'];
  stn?: LocalisationWeights;
  /** Posed-and-realigned views of the bank samples, for PaDiM's Gaussians. */
  posedViews: Float32Array[];
  features?: PatchFeatures;
  adaptSamples: AdaptSample[];
  adaptor?: FeatureAdaptor;
  adaptation: ManifestDraft['adaptation'];
  model?: FittedModel;
  calibration?: Calibration;
  result?: EnrollResult;
}

/** Reports a stage's progress: `done` of `total` steps. */
export type StageProgress = (done: number, total: number) => void;

/** One stage of enrollment, given the run so far and its progress callback. */
export type StageRun = (ctx: EnrollContext, progress: StageProgress) => Promise<void>;

/** The stages' runs, one per stage of the product's stage list. */
export type StageRuns = Record<EnrollStage, StageRun>;

export function newContext(opts: EnrollOptions, session: SessionOptions): EnrollContext {
  const size = { width: opts.settings.inputSize, height: opts.settings.inputSize };
  return { opts, settings: opts.settings, size, session, timings: {}, notes: [], attachments: {}, alignment: null, posedViews: [], adaptSamples: [], adaptation: null };
}

/** What an earlier stage left, or an error naming the stage that should have run. */
export function need<T>(value: T | undefined, what: string, stage: EnrollStage): T {
  if (value === undefined) throw new Error(`enrollment needs ${what} from the ${stage} stage, which has not run`);
  return value;
}

/** Raw patch rows of the i-th image of `features`. */
export function imageRows(features: PatchFeatures, i: number): Float32Array {
  const n = features.positions * features.channels;
  return features.raw.subarray(i * n, (i + 1) * n);
}

/** Milliseconds since `start`. */
export function since(start: number): number {
  return performance.now() - start;
}
