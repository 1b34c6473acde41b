/**
 * Mask refinement settings: how the defect mask of a flagged frame is made
 * (fixed threshold, small-region filter, per-image threshold, F2PAD) and
 * F2PAD's bounds and weights.
 */
import { z } from 'zod';

/** Mask refinement modes (product/refine-mask.ts). */
export const REFINE_MODES = ['none', 'filter', 'threshold', 'f2pad'] as const;
export type RefineMode = (typeof REFINE_MODES)[number];

/** F2PAD's bounds and weights as the optimiser takes them (models/refine/f2pad.ts). */
export interface F2padSettings {
  /** Iteration cap per frame. */
  maxIterations: number;
  /** Wall-clock budget per frame, ms (the loop stops after the iteration that crosses it). */
  budgetMs: number;
  /** Stop when the loss decreased by less than this share over the last iteration. */
  tolerance: number;
  /** Pixels the optimised region extends beyond the backbone's mask. */
  dilation: number;
  /** Pixels the in-painted region extends beyond the backbone's mask. */
  inpaintDilation: number;
  /** Largest shift (pixels) tried when aligning a golden sample for in-painting. */
  maxShift: number;
  /** Weights of the sparsity (LOG), pixel-prior and total-variation terms. */
  sparsity: number;
  prior: number;
  tv: number;
  /** LOG scale eps, in 0..255 units. */
  epsilon: number;
  /** Adam step, in 0..255 units per iteration. */
  step: number;
  /** Local gradient sharing: window radius, spatial and colour sigmas (0..255 units). */
  sharing: { radius: number; sigmaSpace: number; sigmaColour: number };
  /** A pixel is defective when its largest channel of |a| exceeds this (0..255). */
  tau: number;
}

export const DEFAULT_F2PAD: F2padSettings = {
  maxIterations: 12,
  budgetMs: 800,
  tolerance: 1e-3,
  dilation: 8,
  inpaintDilation: 2,
  maxShift: 6,
  sparsity: 0.02,
  prior: 0.002,
  tv: 0.01,
  epsilon: 10,
  step: 4,
  sharing: { radius: 2, sigmaSpace: 1.5, sigmaColour: 20 },
  tau: 30,
};

/** F2PAD mask refinement (models/refine/f2pad.ts): bounds and weights. */
export const f2padSettingsSchema = z
  .object({
    /** Iteration cap per frame. */
    maxIterations: z.number().int().min(0).max(1000).default(DEFAULT_F2PAD.maxIterations),
    /** Wall-clock budget per frame, ms. */
    budgetMs: z.number().int().min(1).max(600_000).default(DEFAULT_F2PAD.budgetMs),
    /** Stop when the loss falls by less than this share in one iteration. */
    tolerance: z.number().min(-1).max(1).default(DEFAULT_F2PAD.tolerance),
    /** Pixels the optimised region extends beyond the backbone's mask. */
    dilation: z.number().int().min(0).max(64).default(DEFAULT_F2PAD.dilation),
    /** Pixels the in-painted region extends beyond the backbone's mask. */
    inpaintDilation: z.number().int().min(0).max(64).default(DEFAULT_F2PAD.inpaintDilation),
    /** Largest shift (pixels) tried when aligning a golden sample for in-painting. */
    maxShift: z.number().int().min(0).max(32).default(DEFAULT_F2PAD.maxShift),
    /** Weights of the sparsity, pixel-prior and total-variation terms. */
    sparsity: z.number().min(0).default(DEFAULT_F2PAD.sparsity),
    prior: z.number().min(0).default(DEFAULT_F2PAD.prior),
    tv: z.number().min(0).default(DEFAULT_F2PAD.tv),
    /** Scale of the sparsity term, in 0..255 grey levels. */
    epsilon: z.number().gt(0).default(DEFAULT_F2PAD.epsilon),
    /** Step per iteration, in 0..255 grey levels. */
    step: z.number().gt(0).max(255).default(DEFAULT_F2PAD.step),
    sharing: z
      .object({
        radius: z.number().int().min(0).max(8).default(DEFAULT_F2PAD.sharing.radius),
        sigmaSpace: z.number().gt(0).default(DEFAULT_F2PAD.sharing.sigmaSpace),
        sigmaColour: z.number().gt(0).default(DEFAULT_F2PAD.sharing.sigmaColour),
      })
      .strict()
      .default(DEFAULT_F2PAD.sharing),
    /** A pixel is defective when the frame differs from the estimated good part by more than this (0..255). */
    tau: z.number().min(0).max(255).default(DEFAULT_F2PAD.tau),
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
