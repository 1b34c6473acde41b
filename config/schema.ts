/**
 * The one schema of linesight's settings. Every config file, CLI flag and
 * artifact manifest is validated against a schema from this folder at start-up,
 * and an unknown or invalid key is reported by its full path.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { cameraSettingsSchema } from './camera-settings.ts';
import { mqttConfigSchema } from './mqtt.ts';
import { CALIBRATION_METHODS, STN_LOSSES } from './enroll.ts';
import { productIdSchema } from './names.ts';
import { DEFAULT_F2PAD as F2, REFINE_MODES } from './refine.ts';

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
    aggregation: z.enum(['patchcore', 'sppm']).default('patchcore'),
    /** Share of all golden-sample patch features kept in the memory bank. */
    coresetRatio: z.number().gt(0).max(1).default(0.1),
    /** Patch features are reduced to this many principal components at enrollment (0 = keep all). */
    featureDim: z.number().int().min(0).max(4096).default(48),
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
    /** Synthetic negatives (CutSwap and scar) made from each held-out golden sample for calibration (0 = none). */
    calibrationNegatives: z.number().int().min(0).max(64).default(8),
    /** Feature adaptation before the memory bank is built: none, or self-supervised on CutSwap or CutPaste negatives. */
    adapt: z.enum(['none', 'cutswap', 'cutpaste']).default('none'),
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
  })
  .strict();

export type EnrollSettings = z.output<typeof enrollSettingsSchema>;
export type StnSettings = z.output<typeof stnSettingsSchema>;

export const inferenceSettingsSchema = z
  .object({
    executionProviders: z.array(executionProviderSchema).min(1).default(['cpu']),
    /** ONNX Runtime intra-op threads; 0 = one per CPU core. */
    threads: z.number().int().min(0).max(256).default(0),
  })
  .strict();

export type InferenceSettings = z.output<typeof inferenceSettingsSchema>;

/** F2PAD mask refinement (models/refine/f2pad.ts): bounds and weights. */
export const f2padSettingsSchema = z
  .object({
    /** Iteration cap per frame. */
    maxIterations: z.number().int().min(0).max(1000).default(F2.maxIterations),
    /** Wall-clock budget per frame, ms. */
    budgetMs: z.number().int().min(1).max(600_000).default(F2.budgetMs),
    /** Stop when the loss falls by less than this share in one iteration. */
    tolerance: z.number().min(-1).max(1).default(F2.tolerance),
    /** Pixels the optimised region extends beyond the backbone's mask. */
    dilation: z.number().int().min(0).max(64).default(F2.dilation),
    /** Pixels the in-painted region extends beyond the backbone's mask. */
    inpaintDilation: z.number().int().min(0).max(64).default(F2.inpaintDilation),
    /** Largest shift (pixels) tried when aligning a golden sample for in-painting. */
    maxShift: z.number().int().min(0).max(32).default(F2.maxShift),
    /** Weights of the sparsity, pixel-prior and total-variation terms. */
    sparsity: z.number().min(0).default(F2.sparsity),
    prior: z.number().min(0).default(F2.prior),
    tv: z.number().min(0).default(F2.tv),
    /** Scale of the sparsity term, in 0..255 grey levels. */
    epsilon: z.number().gt(0).default(F2.epsilon),
    /** Step per iteration, in 0..255 grey levels. */
    step: z.number().gt(0).max(255).default(F2.step),
    sharing: z
      .object({
        radius: z.number().int().min(0).max(8).default(F2.sharing.radius),
        sigmaSpace: z.number().gt(0).default(F2.sharing.sigmaSpace),
        sigmaColour: z.number().gt(0).default(F2.sharing.sigmaColour),
      })
      .strict()
      .default(F2.sharing),
    /** A pixel is defective when the frame differs from the estimated good part by more than this (0..255). */
    tau: z.number().min(0).max(255).default(F2.tau),
    /** Candidate bank features per position, chosen at the initial estimate. */
    candidates: z.number().int().min(1).max(64).default(4),
  })
  .strict();

/** How defect masks are refined (product/refine-mask.ts). */
export const refineSettingsSchema = z
  .object({
    /**
     * none: fixed threshold; filter: plus the small-region filter; threshold:
     * per-image threshold plus the filter; f2pad: F2PAD from the fixed-threshold
     * mask plus the filter (products enrolled before F2PAD fall back to threshold).
     */
    mode: z.enum(REFINE_MODES).default('threshold'),
    /** Defect regions smaller than this many original-image pixels are dropped. */
    minRegionArea: z.number().int().min(1).max(1_000_000).default(25),
    /** Thresholds tried by the per-image threshold search. */
    iterTimes: z.number().int().min(1).max(1000).default(10),
    /** The five known-anomaly rectangles of the per-image threshold. */
    rectangles: z
      .object({
        /** Side as a share of the shorter image side. */
        size: z.number().gt(0).max(0.3).default(0.12),
        fill: z.enum(['noise', 'invert']).default('noise'),
      })
      .strict()
      .default({ size: 0.12, fill: 'noise' }),
    seed: z.number().int().default(0),
    f2pad: f2padSettingsSchema.default(() => f2padSettingsSchema.parse({})),
  })
  .strict();

export type RefineSettings = z.output<typeof refineSettingsSchema>;

/** When a camera's frames become one reject signal (see runtime/decision.ts). */
export const decisionSettingsSchema = z
  .object({
    /** Consecutive frames over the threshold before a part is rejected (filters single-frame glitches). */
    debounceFrames: z.number().int().min(1).max(1000).default(2),
    /** Least time between two rejects of one camera, in ms (a flickering bad part still makes one reject). */
    cooldownMs: z.number().int().min(0).max(3_600_000).default(1000),
  })
  .strict();

export type DecisionSettingsConfig = z.output<typeof decisionSettingsSchema>;

/** One camera of the device and the product it inspects. */
export const stationSchema = cameraSettingsSchema.extend({
  /** Product id scored on this camera (enrolled with `linesight enroll`). */
  product: productIdSchema,
  /** Overrides the device's `decision` settings for this camera. */
  decision: decisionSettingsSchema.partial().strict().optional(),
  /** Publish the defect mask (RLE JSON on `<camera>/mask`) of every frame over the threshold. */
  publishMasks: z.boolean().default(true),
});

export type StationConfig = z.output<typeof stationSchema>;

/** Who may use the web UI and its API (/health and /metrics stay open to monitoring probes). */
export const httpAuthSchema = z
  .object({
    /** A shared secret: `Authorization: Bearer <token>`, or typed into the login page. */
    token: z.string().min(16, 'use at least 16 characters').optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(8, 'use at least 8 characters').optional(),
  })
  .strict()
  .superRefine((auth, ctx) => {
    if ((auth.username === undefined) !== (auth.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: [auth.username === undefined ? 'username' : 'password'], message: 'set username and password together' });
    }
  });

export type HttpAuthSettings = z.output<typeof httpAuthSchema>;

/** Host names and addresses that only the device itself can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The device's HTTP endpoint: health, metrics and the technician's web UI. */
export const httpSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** 127.0.0.1 keeps it on the device; 0.0.0.0 exposes it to the plant network (then http.auth is required for the UI). */
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9464),
    /** Serve the web UI and its JSON API next to /health and /metrics. */
    ui: z.boolean().default(true),
    auth: httpAuthSchema.optional(),
  })
  .strict()
  .superRefine((http, ctx) => {
    const hasAuth = http.auth?.token !== undefined || http.auth?.username !== undefined;
    if (http.enabled && http.ui && !hasAuth && !isLoopbackHost(http.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth'],
        message: `the UI is reachable from the network at ${http.host}; set http.auth.token or username/password (or http.ui: false, or host 127.0.0.1)`,
      });
    }
  });

export type HttpSettings = z.output<typeof httpSettingsSchema>;

/** A device id valid as an MQTT topic level, from the host name. */
export function defaultDeviceId(host = hostname()): string {
  const id = host.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return id || 'linesight';
}

/** The device config file (`linesight.yaml` / `.json`). */
export const deviceConfigSchema = z
  .object({
    /** Where products and the reject outbox live (systemd installs use /var/lib/linesight). */
    dataDir: z.string().min(1).default('.linesight'),
    enroll: enrollSettingsSchema.default(() => enrollSettingsSchema.parse({})),
    inference: inferenceSettingsSchema.default(() => inferenceSettingsSchema.parse({})),
    /** Broker and topics; without `url` an embedded broker runs on 127.0.0.1:1883. */
    mqtt: z.preprocess(
      (v) => (v === undefined ? { deviceId: defaultDeviceId() } : v !== null && typeof v === 'object' && !('deviceId' in v) ? { deviceId: defaultDeviceId(), ...v } : v),
      mqttConfigSchema,
    ),
    http: httpSettingsSchema.default(() => httpSettingsSchema.parse({})),
    /** Mask refinement of flagged frames. */
    refine: refineSettingsSchema.default(() => refineSettingsSchema.parse({})),
    /** Default decision settings of every camera. */
    decision: decisionSettingsSchema.default(() => decisionSettingsSchema.parse({})),
    /** How often each camera's health is published over MQTT, in ms. */
    healthIntervalMs: z.number().int().min(500).max(3_600_000).default(5000),
    /** How often the active version of each product is checked for a hot swap, in ms. */
    productPollMs: z.number().int().min(200).max(3_600_000).default(2000),
    cameras: z.array(stationSchema).default([]),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.cameras.forEach((camera, i) => {
      const first = seen.get(camera.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['cameras', i, 'id'], message: `camera id "${camera.id}" is already used by cameras[${first}]; every camera needs its own id` });
      else seen.set(camera.id, i);
    });
  });

export type DeviceConfig = z.output<typeof deviceConfigSchema>;
