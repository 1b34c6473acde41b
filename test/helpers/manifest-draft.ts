/**
 * The smallest valid product artifact (8x8 input, a 2x2 grid, a 2-row memory
 * bank), for tests of how versions are written, listed and activated.
 */
import type { ManifestDraft } from '../../product/artifact.ts';

const sha = 'a'.repeat(64);

export const TINY_BANK = Float32Array.from([1, 2, 3, 4, 5, 6]);

export function tinyManifestDraft(productId = 'bracket', overrides: Partial<ManifestDraft> = {}): ManifestDraft {
  return {
    productId,
    createdAt: new Date().toISOString(),
    trainerVersion: '0.0.0',
    backbone: { id: 'mobilenet_v2', sha256: sha },
    inputSize: { width: 8, height: 8 },
    layers: [{ name: 'l', channels: 3, height: 2, width: 2 }],
    aggregation: 'patchcore',
    featureDim: 3,
    reduction: null,
    grid: { width: 2, height: 2 },
    sigma: 1,
    coreset: { ratio: 0.5, size: 2, totalPatches: 4, projectionDim: 0, seed: 0 },
    thresholds: { image: 1.5, pixel: 1.2 },
    calibration: { heldOut: 1, margin: 0.1 },
    goldenSamples: { count: 2, files: [{ name: 'a.png', sha256: sha, role: 'bank' }], skipped: [] },
    ...overrides,
  };
}
