/**
 * Mask refinement settings: how the defect mask of a flagged frame is made
 * (fixed threshold, small-region filter, per-image threshold, F2PAD) and
 * F2PAD's bounds and weights.
 */

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
