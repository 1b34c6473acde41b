/**
 * The spatial transformer's localisation network, shared by the trainer
 * (tfjs) and the runtime graph (ONNX): the frame average-pooled by
 * INPUT_FACTOR, a 3x3 and two 2x2 stride-2 convolutions (no padding; a last
 * odd row or column is left out) with ReLU, a
 * hidden dense layer with ReLU and a dense layer giving the four similarity
 * parameters [a, b, tx, ty] (models/stn/pose.ts). Weights are stored in
 * tfjs's layouts: kernels [kh, kw, in, out] over NHWC, dense [in, out] over
 * the NHWC-flattened map. The last layer's bias includes the identity pose,
 * so a network with zero last weights leaves frames unchanged.
 */

/** The localisation net sees the frame average-pooled by this factor. */
export const INPUT_FACTOR = 4;
export const CONV_CHANNELS = [8, 16, 32] as const;
export const CONV_KERNELS = [3, 2, 2] as const;

export interface LocalisationWeights {
  /** One per convolution: kernel [k, k, in, out], bias [out]. */
  conv: { kernel: Float32Array; bias: Float32Array }[];
  /** Dense [flat, hidden] + [hidden]. */
  hidden: { weight: Float32Array; bias: Float32Array };
  /** Dense [hidden, 4] + [4]. */
  pose: { weight: Float32Array; bias: Float32Array };
}

export interface LocalisationShape {
  /** Pooled input [height, width] (3 channels). */
  input: [number, number];
  /** Each convolution's output [height, width, channels]. */
  convs: [number, number, number][];
  flat: number;
  hidden: number;
}

const convOut = (n: number, kernel: number) => Math.floor((n - kernel) / 2) + 1;

export function localisationShape(inputSize: { width: number; height: number }, hidden: number): LocalisationShape {
  const h0 = Math.floor(inputSize.height / INPUT_FACTOR);
  const w0 = Math.floor(inputSize.width / INPUT_FACTOR);
  const convs: [number, number, number][] = [];
  let h = h0;
  let w = w0;
  for (const [i, c] of CONV_CHANNELS.entries()) {
    h = convOut(h, CONV_KERNELS[i]!);
    w = convOut(w, CONV_KERNELS[i]!);
    if (h < 1 || w < 1) throw new Error(`an input of ${inputSize.width}x${inputSize.height} is too small for the spatial transformer`);
    convs.push([h, w, c]);
  }
  return { input: [h0, w0], convs, flat: h * w * CONV_CHANNELS.at(-1)!, hidden };
}

/** Named tensors of the weights (for the product artifact), prefixed `stn_`. */
export function localisationTensors(shape: LocalisationShape, w: LocalisationWeights): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  let inC = 3;
  w.conv.forEach((c, i) => {
    const outC = shape.convs[i]![2];
    out[`stn_conv${i}_kernel`] = { shape: [CONV_KERNELS[i]!, CONV_KERNELS[i]!, inC, outC], data: c.kernel };
    out[`stn_conv${i}_bias`] = { shape: [outC], data: c.bias };
    inC = outC;
  });
  out.stn_hidden_weight = { shape: [shape.flat, shape.hidden], data: w.hidden.weight };
  out.stn_hidden_bias = { shape: [shape.hidden], data: w.hidden.bias };
  out.stn_pose_weight = { shape: [shape.hidden, 4], data: w.pose.weight };
  out.stn_pose_bias = { shape: [4], data: w.pose.bias };
  return out;
}

/** Reads the weights back from named tensors; throws naming the first tensor that is missing or misshapen. */
export function localisationFromTensors(shape: LocalisationShape, tensors: Map<string, { shape: number[]; data: unknown }>): LocalisationWeights {
  const expected = localisationTensors(shape, {
    conv: shape.convs.map(() => ({ kernel: new Float32Array(0), bias: new Float32Array(0) })),
    hidden: { weight: new Float32Array(0), bias: new Float32Array(0) },
    pose: { weight: new Float32Array(0), bias: new Float32Array(0) },
  });
  const get = (name: string): Float32Array => {
    const t = tensors.get(name);
    const want = expected[name]!.shape;
    if (!t || !(t.data instanceof Float32Array) || t.shape.join() !== want.join()) {
      throw new Error(`spatial transformer tensor ${name} is missing or not [${want}]`);
    }
    return t.data;
  };
  return {
    conv: shape.convs.map((_, i) => ({ kernel: get(`stn_conv${i}_kernel`), bias: get(`stn_conv${i}_bias`) })),
    hidden: { weight: get('stn_hidden_weight'), bias: get('stn_hidden_bias') },
    pose: { weight: get('stn_pose_weight'), bias: get('stn_pose_bias') },
  };
}
