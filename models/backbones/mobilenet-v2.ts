/**
 * The default backbone: the ImageNet-initialised Keras MobileNetV2 that the
 * `nsfwjs` npm package ships (its feature layers were frozen when the package's
 * classifier head was trained). The Keras layer JSON and the uint8-quantised
 * weight shard are read from node_modules (nsfwjs.ts) and turned into the
 * layer IR (keras.ts), with batch-norm folded into the convolutions.
 */
import type { BackboneIR, LayerInfo } from '../ir.ts';
import { layerShapes } from '../onnx/emit-forward.ts';
import { kerasToIr, type KerasLayer } from './keras.ts';
import { readNsfwjsModel, type Weights } from './nsfwjs.ts';

export interface LoadedMobileNetV2 {
  ir: BackboneIR;
  sha256: string;
}

/** MobileNetV2 candidate feature layers: the stem's activation, every block's sum and expansion, at 224x224. */
export function mobileNetFeatureLayers(ir: BackboneIR): LayerInfo[] {
  const shapes = layerShapes(ir, [224, 224]);
  return ir.nodes
    .filter((n) => /^block_\d+_(add|expand_relu)$/.test(n.name) || n.name === 'Conv1_relu')
    .map((n) => ({ name: n.name, channels: shapes.get(n.name)![0], stride: Math.round(224 / shapes.get(n.name)![1]) }));
}

export function mobileNetV2FromKeras(layers: KerasLayer[], weights: Weights): BackboneIR {
  const { input, nodes } = kerasToIr(layers, weights, { model: 'mobilenet_v2', last: 'out_relu' });
  // nsfwjs feeds RGB / 255 (0..1) to this network.
  const ir: BackboneIR = { id: 'mobilenet_v2', input, preprocess: { mean: [0, 0, 0], std: [1, 1, 1] }, nodes, featureLayers: [] };
  return { ...ir, featureLayers: mobileNetFeatureLayers(ir) };
}

let cached: Promise<LoadedMobileNetV2> | undefined;

/** Loads (once per process) the MobileNetV2 IR and the sha256 of its weight bytes. */
export function loadMobileNetV2(): Promise<LoadedMobileNetV2> {
  cached ??= (async () => {
    const model = readNsfwjsModel('mobilenet_v2');
    const topology = model.json.modelTopology as { model_config: { config: { layers: KerasLayer[] } } };
    return { ir: mobileNetV2FromKeras(topology.model_config.config.layers, model.weights), sha256: model.sha256 };
  })();
  return cached;
}
