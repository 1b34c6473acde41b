/**
 * The default backbone's Keras model from the nsfwjs package, run by tfjs on
 * the CPU: the reference the emitted ONNX graphs are checked against.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';

const require = createRequire(import.meta.url);

/** A tfjs model with the Keras MobileNetV2's named layers as outputs (NHWC, input RGB / 255). */
export async function kerasMobileNetV2Probe(layers: string[]): Promise<tf.LayersModel> {
  await tf.setBackend('cpu');
  const dir = join(dirname(require.resolve('nsfwjs/models/mobilenet_v2')), '..', '..', 'models', 'mobilenet_v2');
  const model = require(join(dir, 'model.min.js'));
  const shard = Buffer.from(require(join(dir, 'group1-shard1of1.min.js')) as string, 'base64');
  // tfjs reads the same quantised weights and dequantises them itself.
  const keras = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: model.modelTopology,
      weightSpecs: model.weightsManifest[0].weights,
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
    }),
  );
  return tf.model({ inputs: keras.inputs, outputs: layers.map((l) => keras.getLayer(l).output as tf.SymbolicTensor) });
}
