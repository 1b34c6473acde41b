/**
 * Enrollment settings: how a product is learnt from its golden samples
 * (backbone, memory bank, calibration, feature adaptation, pose alignment)
 * and how inference runs.
 */

/** Registration losses the spatial transformer can be trained with (models/stn/train.ts). */
export const STN_LOSSES = ['image', 'siamese'] as const;
export type StnLoss = (typeof STN_LOSSES)[number];

/** Ways of choosing the image (reject) threshold (trainer/calibrate.ts). */
export const CALIBRATION_METHODS = ['maxnormal', 'f1synthetic', 'cutswap'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];
