/**
 * The nsfwjs package's networks run by tfjs on the CPU, straight from the
 * package's files: the reference the ONNX graphs linesight emits from its
 * layer IR are checked against. tfjs reads the same quantised weights and
 * dequantises them itself. Its plain-JavaScript `cpu` backend takes minutes
 * for InceptionV3; the `wasm` backend (XNNPACK) seconds.
 */

/** tfjs backends the reference runs on (tfjs-node is not a dependency). */
export type ReferenceBackend = 'cpu' | 'wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);

interface PackagedModel {
  format?: string;
  modelTopology: tf.io.ModelArtifacts['modelTopology'];
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

async function useBackend(backend: ReferenceBackend): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
  await tf.ready();
}

function artifacts(model: 'mobilenet_v2' | 'mobilenet_v2_mid' | 'inception_v3'): tf.io.ModelArtifacts {
  const dir = join(dirname(require.resolve(`nsfwjs/models/${model}`)), '..', '..', 'models', model);
  const json = require(join(dir, 'model.min.js')) as PackagedModel;
  const shards = json.weightsManifest[0]!.paths.map((p) => Buffer.from(require(join(dir, `${p}.min.js`)) as string, 'base64'));
  const bytes = Buffer.concat(shards);
  return {
    format: json.format,
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0]!.weights,
    weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  };
}

/** A tfjs model with the named layers of a Keras model of the package as outputs (NHWC, input RGB / 255). */
export async function kerasProbe(model: 'mobilenet_v2' | 'inception_v3', layers: string[], backend: ReferenceBackend = 'cpu'): Promise<tf.LayersModel> {
  await useBackend(backend);
  const keras = await tf.loadLayersModel(tf.io.fromMemory(artifacts(model)));
  return tf.model({ inputs: keras.inputs, outputs: layers.map((l) => keras.getLayer(l).output as tf.SymbolicTensor) });
}

/** The default backbone's Keras MobileNetV2 with the named layers as outputs. */
export function kerasMobileNetV2Probe(layers: string[]): Promise<tf.LayersModel> {
  return kerasProbe('mobilenet_v2', layers);
}

/** The package's TensorFlow graph model `mobilenet_v2_mid`; `execute` it with node names to read inner values (NHWC, input RGB / 255). */
export async function graphModelProbe(model: 'mobilenet_v2_mid', backend: ReferenceBackend = 'cpu'): Promise<tf.GraphModel> {
  await useBackend(backend);
  return tf.loadGraphModel(tf.io.fromMemory(artifacts(model)));
}
