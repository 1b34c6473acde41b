/**
 * Enrollment's first stage: the golden samples read at the model's input
 * size, the backbone and its feature sessions, and the split into samples
 * the memory bank learns from and samples held out for calibration.
 */
import { performance } from 'node:perf_hooks';
import { assertBackboneAvailable, loadBackbone } from '../../models/backbones/registry.ts';
import { calibrateActivationRanges } from '../../models/features/calibrate-ranges.ts';
import { FeatureExtractor } from '../../models/features/extractor.ts';
import { seededRandom } from '../../models/components/random.ts';
import { SaliencyExtractor } from '../../models/saliency/layer-cam.ts';
import { splitHoldout } from '../calibrate.ts';
import { EnrollError, loadGoldenSamples } from '../golden-samples.ts';
import { since, type EnrollContext, type EnrollModels, type StageProgress } from './context.ts';

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
  let int8: EnrollModels['int8'];
  if (settings.precision === 'int8') {
    if (!backbone.ir) throw new EnrollError(`precision int8 needs the layer description of the backbone; ${backbone.id} is an ONNX file without one (use precision float32)`);
    // Ranges come from the bank samples only, so held-out samples calibrate thresholds as unseen parts would.
    const images = split.bank.map((i) => golden.images[i]!.data);
    const calibrationStart = performance.now();
    int8 = { samples: images.length, ranges: await calibrateActivationRanges(backbone.ir, layerNames, size, images, session) };
    ctx.timings.int8CalibrationMs = since(calibrationStart);
  }
  const extractor = await FeatureExtractor.create(backbone, layerNames, size, settings.aggregation, session, int8?.ranges);
  if (settings.adapt === 'cutswap' && !backbone.ir) {
    throw new EnrollError(`adaptation with CutSwap needs saliency maps, which backbone ${backbone.id} cannot give (an onnx: file); use adapt: cutpaste or none`);
  }
  // CutSwap needs the backbone's saliency maps; other backbones calibrate on CutPaste negatives.
  const saliency = backbone.ir && (settings.adapt === 'cutswap' || settings.calibrationNegatives > 0) ? await SaliencyExtractor.create(backbone.ir, size, session) : undefined;
  ctx.models = { backbone, extractor, saliency, calibrationMethod: saliency ? 'cutswap' : 'cutpaste', ...(int8 ? { int8 } : {}) };
}
