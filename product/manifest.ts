/**
 * The product artifact manifest (`<dataDir>/products/<id>/<version>/manifest.json`):
 * everything the runtime needs to rebuild the scorer exactly as enrollment
 * built it, plus what a technician wants to know about the enrollment.
 */
import { z } from 'zod';
import { productIdSchema } from '../config/names.ts';
import { BACKBONE_PRECISIONS, type BackbonePrecision, BANK_AUGMENTATIONS, CALIBRATION_METHODS, calibrationJitterSchema, FEATURE_REDUCTIONS, STN_LOSSES, SYNTHETIC_NEGATIVE_METHODS } from '../config/enroll.ts';

export const MANIFEST_SCHEMA_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest');

const scoreSummary = z.object({ min: z.number(), max: z.number(), mean: z.number() }).strict();
const thresholdChoice = z.object({ threshold: z.number(), expectedFrr: z.number(), expectedMiss: z.number().nullable() }).strict();

export const featureLayerSchema = z
  .object({ name: z.string(), channels: z.number().int().positive(), height: z.number().int().positive(), width: z.number().int().positive() })
  .strict();

export const manifestSchema = z
  .object({
    schemaVersion: z.number().int(),
    productId: productIdSchema,
    version: z.string().regex(/^v\d+$/),
    createdAt: z.string(),
    trainerVersion: z.string(),
    backbone: z.object({ id: z.string(), sha256 }).strict(),
    /** Backbone arithmetic; absent: float32 (products enrolled before int8). */
    precision: z.enum(BACKBONE_PRECISIONS).optional(),
    /**
     * int8 only: calibrated [min, max] of every quantized tensor (by layer IR
     * value name), from which the QDQ graph is emitted at load; the sha256
     * above is still that of the float source weights.
     */
    int8: z
      .object({
        calibration: z.literal('minmax'),
        samples: z.number().int().positive(),
        ranges: z.record(z.string(), z.tuple([z.number(), z.number()])),
      })
      .strict()
      .optional(),
    inputSize: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).strict(),
    layers: z.array(featureLayerSchema).min(1),
    aggregation: z.enum(['patchcore', 'sppm']),
    /** Length of a bank row: the reduced feature dimension, or the raw one without reduction. */
    featureDim: z.number().int().positive(),
    /**
     * Reduction of raw patch features (stored as reduction_mean / reduction_axes tensors): a PCA (method
     * absent or pca; explainedVariance: share of the variance its axes keep) or a random projection
     * (method random; explainedVariance: projected variance over the original, 1 in expectation).
     */
    reduction: z
      .object({ from: z.number().int().positive(), to: z.number().int().positive(), explainedVariance: z.number(), method: z.enum(FEATURE_REDUCTIONS).optional() })
      .strict()
      .nullable(),
    /** PatchCore's image-score reweighting (eq. 7 of Roth et al. 2022) over `neighbours` bank neighbours; absent: the image score is the largest patch distance. */
    reweight: z.object({ neighbours: z.number().int().min(2) }).strict().optional(),
    /** Feature adaptation on synthetic negatives, folded into the reduction tensors; null: plain backbone features. */
    adaptation: z
      .object({
        method: z.enum(SYNTHETIC_NEGATIVE_METHODS),
        samples: z.number().int().positive(),
        epochs: z.number().int().positive(),
        backend: z.string(),
        trainSeconds: z.number(),
        finalLoss: z.number(),
        accuracy: z.number(),
        change: z.number(),
      })
      .strict()
      .nullable()
      .optional(),
    /**
     * Spatial transformer run before the backbone (tensors stn_*); null or absent: frames are scored as they come.
     * ssim / msSsim: golden samples posed at random and put back by the transformer, against their canonical pose.
     */
    alignment: z
      .object({
        method: z.literal('stn'),
        loss: z.enum(STN_LOSSES),
        ranges: z.object({ rotation: z.number(), translation: z.number(), scale: z.number() }).strict(),
        hidden: z.number().int().positive(),
        reference: z.string(),
        steps: z.number().int().positive(),
        backend: z.string(),
        trainSeconds: z.number(),
        lossCurve: z.array(z.number()),
        ssim: z.object({ train: z.number(), validation: z.number() }).strict(),
        msSsim: z.object({ train: z.number(), validation: z.number() }).strict(),
        /** 1 - correlation of each golden sample with the reference after registration. */
        residuals: z.object({ median: z.number(), max: z.number() }).strict(),
        /** Posed-and-realigned views of each bank sample PaDiM's Gaussians were also fitted on (absent: none). */
        posedViews: z.number().int().min(0).optional(),
        /** Sampling similarity [a, b, tx, ty] composed after the canonical pose: the part turned square and zoomed onto (absent: the whole frame). */
        framing: z.tuple([z.number(), z.number(), z.number(), z.number()]).optional(),
      })
      .strict()
      .nullable()
      .optional(),
    /** How patches are scored; padim: Gaussians per position (tensors padim_mean, padim_precision) instead of the bank. Absent: patchcore. */
    scorer: z.enum(['patchcore', 'padim']).optional(),
    padim: z.object({ epsilon: z.number(), dim: z.number().int().positive(), tolerance: z.number().int().min(0).optional() }).strict().optional(),
    grid: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).strict(),
    sigma: z.number().min(0),
    coreset: z
      .object({
        ratio: z.number(),
        size: z.number().int().positive(),
        totalPatches: z.number().int().positive(),
        projectionDim: z.number().int(),
        seed: z.number().int(),
        /** Flipped / turned views of every bank sample among the candidates (absent: none); `ratio` is of the samples' own patches. */
        augment: z.enum(BANK_AUGMENTATIONS).exclude(['none']).optional(),
      })
      .strict(),
    thresholds: z.object({ image: z.number(), pixel: z.number() }).strict(),
    calibration: z
      .object({
        heldOut: z.number().int().min(0),
        margin: z.number(),
        imageScores: scoreSummary.optional(),
        pixelMax: z.number().optional(),
        /** How the image threshold was chosen (trainer/calibrate.ts); absent in products enrolled before calibration methods. */
        method: z.enum(CALIBRATION_METHODS).optional(),
        targetFrr: z.number().optional(),
        /** Bank samples scored with their own patches left out of the bank. */
        leftOut: z.number().int().min(0).optional(),
        leftOutScores: scoreSummary.optional(),
        negatives: z.object({ method: z.enum(SYNTHETIC_NEGATIVE_METHODS), count: z.number().int().min(0), scores: scoreSummary.optional() }).strict().optional(),
        /**
         * Camera jitter of the held-out samples: views per sample, the ranges they
         * were drawn in, and the good scores the threshold was fitted to from the
         * held-out samples (held-out x (1 + views)); absent: no jitter.
         */
        jitter: z
          .object({ views: z.number().int().min(1), ranges: calibrationJitterSchema.required(), scores: z.number().int().min(0), jitteredScores: scoreSummary.optional() })
          .strict()
          .optional(),
        /**
         * Every method's threshold, side by side, with what the technician is told at
         * the end of enrollment: expected false-reject rate on good parts and share of
         * synthetic negatives missed (`choices[method]` is the product's).
         */
        choices: z.record(z.enum(CALIBRATION_METHODS), thresholdChoice).optional(),
      })
      .strict(),
    /** F2PAD's pixel prior and golden references (tensors prior_means, prior_precisions, references); absent: no F2PAD. */
    refine: z.object({ priorComponents: z.number().int().positive(), references: z.number().int().positive() }).strict().optional(),
    goldenSamples: z
      .object({
        count: z.number().int(),
        files: z.array(z.object({ name: z.string(), sha256, role: z.enum(['bank', 'heldOut']) }).strict()),
        skipped: z.array(z.object({ name: z.string(), reason: z.string() }).strict()),
      })
      .strict(),
    /**
     * Set when this version was built by a product update from an earlier one
     * and the operator's reviewed records (trainer/update-product.ts), not by
     * an enrollment: what was added, and how the threshold was chosen.
     */
    update: z
      .object({
        updatedFrom: z.string().regex(/^v\d+$/),
        /** Images marked good that joined the golden set. */
        addedImages: z.number().int().min(0),
        /** Reviewed records the version was built and replayed on. */
        review: z.object({ good: z.number().int().min(0), defects: z.number().int().min(0), missed: z.number().int().min(0) }).strict(),
        /** Rows the memory bank's coreset top-up added. */
        bankRowsAdded: z.number().int().min(0),
        /** Coverage radius of the bank the top-up worked to (estimated from the bank, then carried from update to update). */
        coverageRadius: z.number().min(0),
        /** Samples PaDiM's Gaussians are fitted on after the update (absent: no Gaussians). */
        gaussianSamples: z.number().int().positive().optional(),
        /**
         * recalibrated: the held-out golden samples (found by name and sha256)
         * rescored with the updated model, with the new good images scored
         * without their own bank rows; kept: the earlier version's thresholds.
         */
        thresholds: z.enum(['recalibrated', 'kept']),
      })
      .strict()
      .optional(),
    /** What enrollment wants the technician to know (e.g. why alignment was skipped). */
    notes: z.array(z.string()).optional(),
    /** Files for people next to the manifest (contact sheets); not read by the runtime. */
    attachments: z.array(z.string()).optional(),
    timings: z.record(z.string(), z.number()).optional(),
    /** sha256 of every tensor file next to the manifest. */
    files: z.record(z.string(), sha256),
  })
  .strict();

export type Manifest = z.output<typeof manifestSchema>;

/** The backbone arithmetic a product is scored with: its manifest's, float32 for products enrolled before int8 (no field). */
export function manifestPrecision(manifest: Pick<Manifest, 'precision'>): BackbonePrecision {
  return manifest.precision ?? 'float32';
}
