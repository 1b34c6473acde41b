/**
 * Enrollment settings: how a product is learnt from its golden samples
 * (backbone, memory bank, calibration, feature adaptation, pose alignment)
 * and how inference runs.
 */
import { z } from 'zod';

/** Registration losses the spatial transformer can be trained with (models/stn/train.ts). */
export const STN_LOSSES = ['image', 'siamese'] as const;
export type StnLoss = (typeof STN_LOSSES)[number];

/** Arithmetic of the backbone (models/onnx/emit-int8.ts for int8), as a product's manifest records it. */
export const BACKBONE_PRECISIONS = ['float32', 'int8'] as const;
export type BackbonePrecision = (typeof BACKBONE_PRECISIONS)[number];

/**
 * Backbone arithmetic an enrollment can ask for: a concrete one, or `auto`,
 * resolved at enrollment from the backbone (models/backbones/registry.ts,
 * `resolvePrecision`) and recorded in the manifest as float32 or int8.
 */
export const ENROLL_PRECISIONS = ['auto', ...BACKBONE_PRECISIONS] as const;
export type EnrollPrecision = (typeof ENROLL_PRECISIONS)[number];

/** Ways of choosing the image (reject) threshold (trainer/calibrate.ts). */
export const CALIBRATION_METHODS = ['maxnormal', 'f1synthetic', 'cutswap'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** How patch features are reduced before the memory bank (models/features/reduction.ts). */
export const FEATURE_REDUCTIONS = ['pca', 'random'] as const;
export type FeatureReductionMethod = (typeof FEATURE_REDUCTIONS)[number];

/** Views of every bank sample added to the memory bank (models/augment/dihedral.ts). */
export const BANK_AUGMENTATIONS = ['none', 'flips', 'dihedral'] as const;
export type BankAugmentation = (typeof BANK_AUGMENTATIONS)[number];

/** How synthetic negatives are made, for feature adaptation and for calibration (trainer/synthetic-negatives.ts). */
export const SYNTHETIC_NEGATIVE_METHODS = ['cutswap', 'cutpaste'] as const;

export const executionProviderSchema = z.enum(['tensorrt', 'cuda', 'cpu']);

/** Training of the CutSwap / CutPaste feature adaptor (models/adapt/train.ts). */
export const adaptationSettingsSchema = z
  .object({
    epochs: z.number().int().min(1).max(1000).default(30),
    /** Synthetic negatives per bank golden sample, half patch, half scar. */
    negativesPerImage: z.number().int().min(2).max(32).default(4),
    batchSize: z.number().int().min(1).max(512).default(16),
    learningRate: z.number().gt(0).max(1).default(0.003),
    /** Pull of the adaptor towards the identity (pretrained features). */
    weightDecay: z.number().min(0).default(0.01),
    /** Hidden units of the classification head (discarded after training). */
    hidden: z.number().int().min(1).max(1024).default(32),
  })
  .strict();

/** The spatial transformer that puts every frame into the product's canonical pose (models/stn/train.ts). */
export const stnSettingsSchema = z
  .object({
    /** Largest rotation of a part either way, degrees (180: parts can turn fully). */
    rotation: z.number().min(0).max(180).default(30),
    /** Largest shift of a part either way, as a fraction of the frame. */
    translation: z.number().min(0).max(0.5).default(0.15),
    /** Largest size change either way (0.05 = +-5 %). */
    scale: z.number().min(0).max(0.5).default(0.05),
    /** Registration loss: image (L1 + L2 + SSIM to the unposed sample) or siamese (negative cosine of backbone features). */
    loss: z.enum(STN_LOSSES).default('image'),
    steps: z.number().int().min(1).max(100000).default(500),
    batchSize: z.number().int().min(2).max(512).default(32),
    learningRate: z.number().gt(0).max(1).default(0.005),
    l2Weight: z.number().min(0).default(1),
    ssimWeight: z.number().min(0).default(1),
    /** Weight of the known-pose term (0: the papers' registration losses alone). */
    poseWeight: z.number().min(0).default(1),
    hidden: z.number().int().min(4).max(1024).default(64),
    /**
     * PaDiM: extra views of every bank sample, posed at random within the
     * ranges and put back by the trained transformer, added to the Gaussians
     * so they learn what the alignment leaves a few pixels off (the
     * position-free memory bank does not use them).
     */
    posedViews: z.number().int().min(0).max(16).default(3),
    /**
     * What the aligned frame shows: `part` turns the part square to the frame
     * and zooms onto it (its extent over the golden samples, with a margin),
     * so the backbone's patches fall on the part rather than the belt;
     * `frame` keeps the whole frame in canonical pose.
     */
    framing: z.enum(['part', 'frame']).default('part'),
  })
  .strict();

/**
 * How far the camera jitters of calibration go either way
 * (models/augment/camera-jitter.ts): what a camera adds between the golden
 * samples' capture session and later parts.
 */
export const calibrationJitterSchema = z
  .object({
    /** Largest rotation either way, degrees. */
    rotation: z.number().min(0).max(45).default(3),
    /** Largest zoom change either way (0.03 = 0.97..1.03). */
    zoom: z.number().min(0).max(0.5).default(0.03),
    /** Largest shift either way, as a fraction of the frame. */
    shift: z.number().min(0).max(0.25).default(0.03),
    /** Largest gain change either way (0.08 = 0.92..1.08). */
    gain: z.number().min(0).max(0.5).default(0.08),
    /** Largest offset either way, grey levels (0..255). */
    offset: z.number().min(0).max(64).default(6),
    /** Largest standard deviation of added sensor noise, grey levels. */
    noise: z.number().min(0).max(32).default(3),
  })
  .strict();

/** How a product is enrolled: backbone, features, memory bank, calibration. */
export const enrollSettingsSchema = z
  .object({
    backbone: z.string().min(1).default('mobilenet_v2'),
    /** Backbone layers whose features are combined; default: the backbone's measured best pair. */
    layers: z.array(z.string().min(1)).min(1).max(4).optional(),
    /** Square input size in pixels the images are resized to. */
    inputSize: z.number().int().min(32).max(1024).default(224),
    /**
     * Backbone arithmetic: int8 (QDQ from the same layer IR, activation ranges
     * calibrated on the golden samples), float32, or auto: int8 for
     * MobileNetV2, whose int8 accuracy was measured, float32 for the others
     * (models/backbones/registry.ts `resolvePrecision`).
     */
    precision: z.enum(ENROLL_PRECISIONS).default('auto'),
    aggregation: z.enum(['patchcore', 'sppm']).default('patchcore'),
    /** Share of all golden-sample patch features kept in the memory bank. */
    coresetRatio: z.number().gt(0).max(1).default(0.1),
    /** Patch features are reduced to this many dimensions at enrollment (0 = keep all). */
    featureDim: z.number().int().min(0).max(4096).default(48),
    /**
     * How they are reduced: pca (the leading principal axes of the golden
     * samples' features) or random (a Gaussian random projection, which keeps
     * distances in every direction alike, Johnson-Lindenstrauss).
     */
    featureReduction: z.enum(FEATURE_REDUCTIONS).default('pca'),
    /**
     * Views of every bank sample whose patches join the memory bank's
     * candidates: none, flips (mirrored left-right and top-bottom) or dihedral
     * (all four quarter turns, each also mirrored). The bank keeps
     * `coresetRatio` of the unaugmented patch count, so scoring costs the same.
     */
    bankAugment: z.enum(BANK_AUGMENTATIONS).default('none'),
    /**
     * PatchCore's image-score reweighting (Roth et al. 2022, eq. 7) over this
     * many bank neighbours of the nearest bank feature of the worst patch;
     * 0 = the image score is the worst patch's distance. 1 is refused (the
     * weight would always be 0).
     */
    reweightNeighbours: z
      .number()
      .int()
      .min(0)
      .max(64)
      .refine((b) => b !== 1, 'use 0 (off) or at least 2 neighbours')
      .default(0),
    /** Random-projection dimension used by the coreset selection (0 = none). */
    projectionDim: z.number().int().min(0).max(4096).default(32),
    /** Gaussian smoothing of the anomaly map, in input pixels. */
    sigma: z.number().min(0).max(32).default(4),
    /** Share of golden samples held out of the bank to calibrate thresholds. */
    holdoutFraction: z.number().min(0.05).max(0.5).default(0.15),
    minGoldenSamples: z.number().int().min(2).default(10),
    /** maxnormal: the image threshold sits this far above the highest held-out good score; also the pixel threshold's margin (0.1 = 10 %). */
    thresholdMargin: z.number().min(0).max(10).default(0.1),
    /**
     * How the image (reject) threshold is chosen: cutswap = meet `targetFrr`
     * on good parts, catching the most synthetic negatives; f1synthetic = best
     * F1 against synthetic negatives; maxnormal = `thresholdMargin` above the
     * highest held-out good score.
     */
    calibrate: z.enum(CALIBRATION_METHODS).default('cutswap'),
    /** Target false-reject rate on good parts for `calibrate: cutswap` (0.005 = 0.5 %). */
    targetFrr: z.number().gt(0).lt(0.5).default(0.005),
    /**
     * Camera-jittered views of each held-out golden sample scored for
     * calibration besides the sample as captured (0 = none): the threshold is
     * then fitted to held-out x (1 + views) good scores, so it covers how good
     * parts vary between captures and not one capture session alone.
     */
    calibrationJitterViews: z.number().int().min(0).max(32).default(0),
    calibrationJitter: calibrationJitterSchema.default(() => calibrationJitterSchema.parse({})),
    /** Synthetic negatives (CutSwap and scar) made from each held-out golden sample for calibration (0 = none). */
    calibrationNegatives: z.number().int().min(0).max(64).default(8),
    /** Feature adaptation before the memory bank is built: none, or self-supervised on CutSwap or CutPaste negatives. */
    adapt: z.enum(['none', ...SYNTHETIC_NEGATIVE_METHODS]).default('none'),
    adaptation: adaptationSettingsSchema.default(() => adaptationSettingsSchema.parse({})),
    /** How patches are scored: patchcore (nearest memory-bank feature) or padim (Gaussian per position; needs aligned parts). */
    scorer: z.enum(['patchcore', 'padim']).default('patchcore'),
    /** PaDiM's covariance regularisation (added to the diagonal). */
    padimEpsilon: z.number().gt(0).default(0.01),
    /** PaDiM: cells (feature-grid steps) either way a patch may sit from its position and still match its Gaussian; absorbs alignment left a few pixels off. */
    padimTolerance: z.number().int().min(0).max(2).default(2),
    /** Pose alignment before the backbone: none (parts arrive in one pose) or stn (a spatial transformer trained on the golden samples). */
    align: z.enum(['none', 'stn']).default('none'),
    stn: stnSettingsSchema.default(() => stnSettingsSchema.parse({})),
    /** Write contact sheet PNGs (synthetic negatives, alignment) next to the artifact. */
    contactSheet: z.boolean().default(true),
    /** Golden samples stored in the artifact for F2PAD's in-painting (0 = no F2PAD for this product). */
    refineReferences: z.number().int().min(0).max(64).default(16),
    /** Gaussian components of F2PAD's pixel prior over golden-sample colours. */
    priorComponents: z.number().int().min(1).max(16).default(5),
    seed: z.number().int().default(0),
    /**
     * Versions kept per product after each enrollment (`linesight prune` applies
     * it on demand); older ones are deleted, never the active one nor the one a
     * rollback would pick. 0 = keep every version.
     */
    keepVersions: z.number().int().min(0).max(10000).default(10),
  })
  .strict();

export type EnrollSettings = z.output<typeof enrollSettingsSchema>;
export type StnSettings = z.output<typeof stnSettingsSchema>;
export type CalibrationJitterSettings = z.output<typeof calibrationJitterSchema>;

export const inferenceSettingsSchema = z
  .object({
    executionProviders: z.array(executionProviderSchema).min(1).default(['cpu']),
    /** ONNX Runtime intra-op threads; 0 = one per CPU core. */
    threads: z.number().int().min(0).max(256).default(0),
    /**
     * Frames of several cameras waiting at the same moment that one backbone
     * run scores together; 1 = one frame per run. One by one is the default:
     * on a 2-core CPU a batch measured no cheaper per frame than single runs
     * (the backbone already fills every core with one frame), and a batch
     * holds every frame until the last is scored. Larger batches pay on
     * execution providers that run a batch in parallel (GPUs).
     */
    maxBatch: z.number().int().min(1).max(64).default(1),
    /**
     * The runtime scores frames on a thread of its own (runtime/scoring/):
     * ONNX Runtime's Node binding holds the thread that runs a model for the
     * whole inference, and on the main thread that delayed MQTT, part
     * deadlines and OPC UA by a frame's inference time. `false` scores on the
     * main thread (one copy of each model in memory instead of two).
     */
    scoringThread: z.boolean().default(true),
    /**
     * Scoring threads, each with its own lane and its own copy of every
     * model; camera i scores on thread i mod n, so a camera's frames keep
     * their order. With more than one, each thread runs ONNX Runtime on
     * `threads` intra-op threads (0 = the cores shared out among them): two
     * single-threaded runs side by side waste less of a 2-core CPU than one
     * run split over both cores, whose halves wait for each other whenever
     * another process holds a core. Needs `scoringThread`.
     */
    scoringThreads: z.number().int().min(1).max(16).default(1),
  })
  .strict()
  .superRefine((inference, ctx) => {
    if (inference.scoringThreads > 1 && !inference.scoringThread) {
      ctx.addIssue({ code: 'custom', path: ['scoringThreads'], message: `${inference.scoringThreads} scoring threads need scoringThread: true (frames scored on the main thread take one lane)` });
    }
  });

export type InferenceSettings = z.output<typeof inferenceSettingsSchema>;

/** Where a command-line flag puts its value: a setting of `enroll`, or of its `stn` section. */
export type EnrollSettingPath = readonly [keyof EnrollSettings] | readonly ['stn', keyof StnSettings];

/**
 * A command-line flag of `linesight enroll` and `eval` that sets one enroll
 * setting. The value's kind (number, text, list, one of a set) comes from the
 * schema, so a new flag is the schema field plus one entry here.
 */
export interface EnrollSettingFlag {
  /** Flag and value placeholder as shown in the help, e.g. `--stn-loss <loss>`. */
  flag: string;
  setting: EnrollSettingPath;
  help: string;
  /** A setting with a fixed set of values lists them as the flag's choices, unless false (eval's `--align` takes a list). */
  choices?: false;
}

/** The enroll settings a technician can set on the command line, in the order the help lists them. */
export const ENROLL_SETTING_FLAGS: readonly EnrollSettingFlag[] = [
  { flag: '--backbone <id>', setting: ['backbone'], help: 'backbone: mobilenet_v2 (default), mobilenet_v2_mid, inception_v3, resnet18, wide_resnet50_2, onnx:<file>' },
  { flag: '--layers <a,b>', setting: ['layers'], help: 'backbone layers to combine, comma separated' },
  { flag: '--input-size <px>', setting: ['inputSize'], help: 'square input size in pixels' },
  {
    flag: '--precision <p>',
    setting: ['precision'],
    help: 'backbone arithmetic; auto (default): int8, calibrated on the golden samples, for mobilenet_v2, float32 for the others',
  },
  { flag: '--aggregation <kind>', setting: ['aggregation'], help: 'patch aggregation' },
  { flag: '--coreset <ratio>', setting: ['coresetRatio'], help: 'share of patch features kept in the memory bank (0-1)' },
  { flag: '--feature-dim <n>', setting: ['featureDim'], help: 'dimension patch features are reduced to (0 = keep all)' },
  { flag: '--feature-reduction <kind>', setting: ['featureReduction'], help: 'how patch features are reduced: pca or random (Gaussian projection)' },
  { flag: '--bank-augment <views>', setting: ['bankAugment'], help: 'flipped / turned views of the golden samples added to the memory bank candidates' },
  { flag: '--reweight <b>', setting: ['reweightNeighbours'], help: "PatchCore's image-score reweighting over b bank neighbours (0 = off)" },
  { flag: '--sigma <px>', setting: ['sigma'], help: 'Gaussian smoothing of the anomaly map' },
  { flag: '--seed <n>', setting: ['seed'], help: 'random seed of hold-out split, synthetic negatives and coreset' },
  { flag: '--adapt <method>', setting: ['adapt'], help: 'feature adaptation on synthetic negatives before the memory bank is built' },
  { flag: '--calibrate <method>', setting: ['calibrate'], help: 'how the reject threshold is chosen' },
  { flag: '--target-frr <rate>', setting: ['targetFrr'], help: 'target false-reject rate on good parts for --calibrate cutswap, e.g. 0.005' },
  { flag: '--calibration-views <n>', setting: ['calibrationJitterViews'], help: 'camera-jittered views of each held-out golden sample scored for calibration (0 = none)' },
  { flag: '--scorer <kind>', setting: ['scorer'], help: 'how patches are scored: patchcore (memory bank) or padim (Gaussian per position)' },
  { flag: '--padim-tolerance <cells>', setting: ['padimTolerance'], help: 'PaDiM: feature-grid cells either way a patch may sit from its position (0-2)' },
  {
    flag: '--align <method>',
    setting: ['align'],
    help: 'pose alignment before scoring: none, or stn (a spatial transformer trained on the golden samples); eval takes both, e.g. stn,none',
    choices: false,
  },
  { flag: '--stn-loss <loss>', setting: ['stn', 'loss'], help: 'registration loss of the spatial transformer' },
  { flag: '--stn-rotation <deg>', setting: ['stn', 'rotation'], help: 'largest rotation of a part either way, degrees (180: parts turn fully)' },
  { flag: '--stn-translation <fraction>', setting: ['stn', 'translation'], help: 'largest shift of a part either way, as a fraction of the frame' },
  { flag: '--stn-steps <n>', setting: ['stn', 'steps'], help: 'spatial transformer training steps' },
  { flag: '--stn-posed-views <n>', setting: ['stn', 'posedViews'], help: 'PaDiM: extra posed-and-realigned views of each golden sample in the Gaussians' },
  { flag: '--stn-framing <what>', setting: ['stn', 'framing'], help: 'what the aligned frame shows: part (turned square and zoomed onto) or frame (the whole frame)' },
];
