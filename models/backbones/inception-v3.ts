/**
 * InceptionV3 from the `nsfwjs` npm package: the Keras ImageNet InceptionV3
 * (native input 299x299) under the package's classifier head, weights
 * uint8-quantised like the default MobileNetV2's. Read from node_modules
 * (nsfwjs.ts) and turned into the layer IR (keras.ts), batch-norm folded.
 *
 * Its candidate feature layers are the outputs of the stem and of the
 * `mixed` blocks: mixed0-2 at stride 8 (35x35 at 299, 25x25 at 224), mixed3-7
 * at stride 16 (17x17 / 12x12), mixed8-10 at stride 32. The network pads
 * nothing before its strided layers, so its grids are a little smaller than
 * input / stride; the strides listed are the nominal ones.
 */
import type { BackboneIR, LayerInfo } from '../ir.ts';
import { layerShapes } from '../onnx/emit-forward.ts';
import { kerasToIr, type KerasLayer } from './keras.ts';
import { readNsfwjsModel, type Weights } from './nsfwjs.ts';

export interface LoadedInceptionV3 {
  ir: BackboneIR;
  sha256: string;
}

/** The input size InceptionV3 was trained at. */
export const INCEPTION_INPUT_SIZE = 299;

/** Stem layers offered as features besides the mixed blocks. */
const STEM_FEATURES = ['activation_3', 'activation_5', 'max_pooling2d_2'];

export function inceptionV3FromKeras(layers: KerasLayer[], weights: Weights): BackboneIR {
  const { input, nodes } = kerasToIr(layers, weights, { model: 'inception_v3', last: 'mixed10' });
  // nsfwjs feeds RGB / 255 (0..1) to this network too.
  const ir: BackboneIR = { id: 'inception_v3', input, preprocess: { mean: [0, 0, 0], std: [1, 1, 1] }, nodes, featureLayers: [] };
  const size = INCEPTION_INPUT_SIZE;
  const shapes = layerShapes(ir, [size, size]);
  const featureLayers: LayerInfo[] = nodes
    .filter((n) => STEM_FEATURES.includes(n.name) || /^mixed\d+$/.test(n.name))
    .map((n) => {
      const [channels, h] = shapes.get(n.name)!;
      return { name: n.name, channels, stride: 2 ** Math.round(Math.log2(size / h)) };
    });
  return { ...ir, featureLayers };
}

let cached: Promise<LoadedInceptionV3> | undefined;

/** Loads (once per process) the InceptionV3 IR and the sha256 of its weight bytes. */
export function loadInceptionV3(): Promise<LoadedInceptionV3> {
  cached ??= (async () => {
    const model = readNsfwjsModel('inception_v3');
    const topology = model.json.modelTopology as { model_config: { config: { layers: KerasLayer[] } } };
    return { ir: inceptionV3FromKeras(topology.model_config.config.layers, model.weights), sha256: model.sha256 };
  })();
  return cached;
}
