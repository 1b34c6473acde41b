/**
 * The one schema of linesight's settings. Every config file, CLI flag and
 * artifact manifest is validated against a schema from this folder at start-up,
 * and an unknown or invalid key is reported by its full path.
 */
import { z } from 'zod';

export const productIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1-64 lowercase letters, digits, "-" or "_", starting with a letter or digit');

export const executionProviderSchema = z.enum(['tensorrt', 'cuda', 'cpu']);

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
    /** Thresholds sit this far above the highest held-out golden score (0.1 = 10 %). */
    thresholdMargin: z.number().min(0).max(10).default(0.1),
    seed: z.number().int().default(0),
  })
  .strict();

export type EnrollSettings = z.output<typeof enrollSettingsSchema>;

export const inferenceSettingsSchema = z
  .object({
    executionProviders: z.array(executionProviderSchema).min(1).default(['cpu']),
    /** ONNX Runtime intra-op threads; 0 = one per CPU core. */
    threads: z.number().int().min(0).max(256).default(0),
  })
  .strict();

export type InferenceSettings = z.output<typeof inferenceSettingsSchema>;

/** The device config file (`linesight.yaml` / `.json`). */
export const deviceConfigSchema = z
  .object({
    /** Where products and the reject outbox live (systemd installs use /var/lib/linesight). */
    dataDir: z.string().min(1).default('.linesight'),
    enroll: enrollSettingsSchema.default(() => enrollSettingsSchema.parse({})),
    inference: inferenceSettingsSchema.default(() => inferenceSettingsSchema.parse({})),
  })
  .strict();

export type DeviceConfig = z.output<typeof deviceConfigSchema>;
