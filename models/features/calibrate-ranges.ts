/**
 * Activation ranges for the int8 backbone, calibrated on a product's golden
 * samples: the float graph runs every sample and each quantized tensor's
 * overall min and max are kept.
 *
 * Min/max, not a percentile: a defect shows as activations beyond what good
 * parts produce, so clipping the tails of the good distribution (as a 99.99 %
 * percentile would) flattens exactly the signal the anomaly score reads. The
 * cost is a coarser step when one golden sample is an outlier.
 */
import ort from 'onnxruntime-node';
import type { BackboneIR } from '../ir.ts';
import { CALIBRATION_PREFIX, emitCalibrationForward, type ActivationRanges } from '../onnx/emit-int8.ts';
import { createSession, type SessionOptions } from '../session.ts';
import type { InputSize } from './extractor.ts';

/** Widens `ranges[name]` to cover `data`. */
export function widenRange(ranges: ActivationRanges, name: string, data: Float32Array): void {
  let [min, max] = ranges[name] ?? [Infinity, -Infinity];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  ranges[name] = [min, max];
}

export async function calibrateActivationRanges(
  ir: BackboneIR,
  layers: string[],
  inputSize: InputSize,
  images: Float32Array[],
  sessionOptions: SessionOptions = {},
): Promise<ActivationRanges> {
  if (images.length === 0) throw new Error('int8 calibration needs at least one golden sample');
  const { model, tensors } = emitCalibrationForward(ir, { outputs: layers, inputSize: [inputSize.height, inputSize.width], batch: 1 });
  const session = await createSession(model, sessionOptions);
  const ranges: ActivationRanges = {};
  try {
    for (const data of images) {
      const out = await session.run({ image: new ort.Tensor('float32', data, [1, inputSize.height, inputSize.width, 3]) });
      for (const name of tensors) widenRange(ranges, name, out[`${CALIBRATION_PREFIX}${name}`]!.data as Float32Array);
    }
  } finally {
    await session.release();
  }
  return ranges;
}
