/**
 * Enrollment's first stage: the golden samples read at the model's input
 * size, the backbone and its feature sessions, and the split into samples
 * the memory bank learns from and samples held out for calibration.
 */
import { performance } from 'node:perf_hooks';
import { assertBackboneAvailable, loadBackbone, resolvePrecision, type Backbone } from '../../models/backbones/registry.ts';
import { calibrateActivationRanges } from '../../models/features/calibrate-ranges.ts';
import { FeatureExtractor } from '../../models/features/extractor.ts';
import { seededRandom } from '../../models/components/random.ts';
import { SaliencyExtractor } from '../../models/saliency/layer-cam.ts';
import { splitHoldout } from '../calibrate.ts';
import { EnrollError, loadGoldenSamples } from '../golden-samples.ts';
import { need, since, type EnrollContext, type EnrollModels, type StageProgress } from './context.ts';

export async function loadStage(ctx: EnrollContext, progress: StageProgress): Promise<void> {
  const { settings, size, session } = ctx;
  // A missing backbone is refused before any golden sample is read.
  await assertBackboneAvailable(settings.backbone, { dataDir: ctx.opts.dataDir });
  const start = performance.now();
  const golden = await loadGoldenSamples(ctx.opts.imagesDir, size, settings.minGoldenSamples, progress);
  ctx.timings.loadMs = since(start);
  ctx.golden = golden;

  const backbone = await loadBackbone(settings.backbone, { dataDir: ctx.opts.dataDir });
  const layerNames = settings.layers ?? backbone.defaultLayers;
  const split = splitHoldout(golden.images.length, settings.holdoutFraction, seededRandom(settings.seed));
  if (split.heldOut.length === 0) throw new EnrollError('no golden sample could be held out for threshold calibration');
  ctx.split = split;
  const precision = resolvePrecision(settings.precision, backbone.id);
  if (precision === 'int8' && !backbone.ir) throw new EnrollError(`precision int8 needs the layer description of the backbone; ${backbone.id} is an ONNX file without one (use precision float32)`);
  // Alignment changes what the backbone sees: the align stage then calibrates the int8 ranges on the aligned samples.
  const int8 = precision === 'int8' && settings.align === 'none' ? await calibrateInt8(ctx, backbone, layerNames) : undefined;
  const extractor = await FeatureExtractor.create(backbone, layerNames, size, settings.aggregation, session, int8?.ranges);
  if (settings.adapt === 'cutswap' && !backbone.ir) {
    throw new EnrollError(`adaptation with CutSwap needs saliency maps, which backbone ${backbone.id} cannot give (an onnx: file); use adapt: cutpaste or none`);
  }
  // CutSwap needs the backbone's saliency maps; other backbones calibrate on CutPaste negatives.
  const saliency = backbone.ir && (settings.adapt === 'cutswap' || settings.calibrationNegatives > 0) ? await SaliencyExtractor.create(backbone.ir, size, session) : undefined;
  ctx.models = { backbone, extractor, precision, saliency, calibrationMethod: saliency ? 'cutswap' : 'cutpaste', ...(int8 ? { int8 } : {}) };
}

/**
 * Activation ranges of the int8 backbone, calibrated on the golden samples
 * as they are now (aligned, after the align stage). Ranges come from the bank
 * samples only, so held-out samples calibrate thresholds as unseen parts would.
 */
async function calibrateInt8(ctx: EnrollContext, backbone: Backbone, layerNames: string[]): Promise<NonNullable<EnrollModels['int8']>> {
  const golden = need(ctx.golden, 'the golden samples', 'load');
  const split = need(ctx.split, 'the hold-out split', 'load');
  if (!backbone.ir) throw new EnrollError(`precision int8 needs the layer description of the backbone; ${backbone.id} has none`);
  const start = performance.now();
  const ranges = await calibrateActivationRanges(backbone.ir, layerNames, ctx.size, split.bank.map((i) => golden.images[i]!.data), ctx.session);
  ctx.timings.int8CalibrationMs = since(start);
  return { samples: split.bank.length, ranges };
}

/**
 * After alignment, an int8 enrollment's backbone becomes the int8 one,
 * calibrated on the aligned golden samples (the float one served the
 * alignment's training); a float32 enrollment keeps its backbone.
 */
export async function quantizeAlignedBackbone(ctx: EnrollContext): Promise<void> {
  const models = need(ctx.models, 'the feature extractor', 'load');
  if (models.precision !== 'int8' || models.int8) return;
  const { backbone, extractor } = models;
  const int8 = await calibrateInt8(ctx, backbone, extractor.layers.map((l) => l.name));
  const quantized = await FeatureExtractor.create(backbone, extractor.layers.map((l) => l.name), ctx.size, ctx.settings.aggregation, ctx.session, int8.ranges);
  ctx.models = { ...models, extractor: quantized, int8 };
}
