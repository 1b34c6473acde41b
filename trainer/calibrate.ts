/**
 * Threshold calibration from held-out golden samples: parts the memory bank
 * has never seen but that are known to be good. The image threshold sits a
 * margin above the highest held-out image score, the pixel threshold a margin
 * above the highest held-out anomaly-map value, so good parts like these pass.
 */

export interface Calibration {
  image: number;
  pixel: number;
  imageScores: { min: number; max: number; mean: number };
  pixelMax: number;
}

export function calibrateThresholds(imageScores: number[], pixelMaxima: number[], margin: number): Calibration {
  if (imageScores.length === 0 || imageScores.length !== pixelMaxima.length) {
    throw new Error('calibration needs at least one held-out golden sample with its image score and map maximum');
  }
  const max = Math.max(...imageScores);
  const pixelMax = Math.max(...pixelMaxima);
  return {
    image: max * (1 + margin),
    pixel: pixelMax * (1 + margin),
    imageScores: { min: Math.min(...imageScores), max, mean: imageScores.reduce((a, b) => a + b, 0) / imageScores.length },
    pixelMax,
  };
}

/** Splits sample indices into bank and held-out sets, reproducibly for a seed. */
export function splitHoldout(count: number, fraction: number, random: () => number): { bank: number[]; heldOut: number[] } {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const held = fraction > 0 ? Math.min(count - 1, Math.max(1, Math.round(count * fraction))) : 0;
  return { heldOut: order.slice(0, held).sort((a, b) => a - b), bank: order.slice(held).sort((a, b) => a - b) };
}
