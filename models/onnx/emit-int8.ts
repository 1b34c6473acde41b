/**
 * The int8 backbone, emitted from the same layer IR as the float one: a QDQ
 * graph ONNX Runtime's CPU provider fuses into QLinearConv. Weights are
 * symmetric int8 per output channel; activations are uint8 per tensor with
 * ranges calibrated on the product's golden samples (`emitCalibrationForward`
 * outputs every tensor that gets quantized). Feature outputs stay float.
 *
 * Quantized tensors: every convolution's input and every convolution's output
 * (after its activation when a ReLU/ReLU6 is its only consumer, so the
 * runtime drops the clip into the quantizer and fuses conv + quantize).
 */
import { GraphBuilder } from './graph-builder.ts';
import { emitLayers, emitPreprocess, floatConvParams, layerShapes, type EmitOptions, type QuantizeHooks } from './emit-forward.ts';
import { nodeInputs, truncate, type BackboneIR, type ConvNode } from '../ir.ts';

/** Calibrated [min, max] of each quantized tensor, by IR value name. */
export type ActivationRanges = Record<string, [number, number]>;

/** Prefix of the calibration graph's extra outputs: `calib_<IR value name>`. */
export const CALIBRATION_PREFIX = 'calib_';

const INT8_MAX = 127;
const UINT8_MAX = 255;

/** Symmetric int8 weights per output channel: w ~ q * scale[o], q in [-127, 127]. */
export function quantizeWeightsPerChannel(weight: Float32Array, outChannels: number): { values: Int8Array; scales: Float32Array } {
  const perOut = weight.length / outChannels;
  if (!Number.isInteger(perOut)) throw new Error(`${weight.length} weights do not split into ${outChannels} output channels`);
  const values = new Int8Array(weight.length);
  const scales = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    let maxAbs = 0;
    for (let i = 0; i < perOut; i++) maxAbs = Math.max(maxAbs, Math.abs(weight[o * perOut + i]!));
    // An all-zero channel keeps scale 1 (a zero scale is not a valid quantizer).
    const scale = maxAbs > 0 ? maxAbs / INT8_MAX : 1;
    scales[o] = scale;
    for (let i = 0; i < perOut; i++) values[o * perOut + i] = Math.max(-INT8_MAX, Math.min(INT8_MAX, Math.round(weight[o * perOut + i]! / scales[o]!)));
  }
  return { values, scales };
}

/** Inverse of `quantizeWeightsPerChannel`. */
export function dequantizePerChannel(values: Int8Array, scales: Float32Array): Float32Array {
  const perOut = values.length / scales.length;
  return Float32Array.from(values, (q, i) => q * scales[Math.floor(i / perOut)]!);
}

/** uint8 affine quantizer covering [min, max] (widened to include 0, so zero is exact). */
export function activationQuantParams(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi - lo <= 0) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / UINT8_MAX;
  return { scale, zeroPoint: Math.max(0, Math.min(UINT8_MAX, Math.round(-lo / scale))) };
}

/** Quantize-then-dequantize of one value, as the graph computes it. */
export function fakeQuantize(x: number, scale: number, zeroPoint: number): number {
  const q = Math.max(0, Math.min(UINT8_MAX, Math.round(x / scale) + zeroPoint));
  return (q - zeroPoint) * scale;
}

/** int32 bias at scale inputScale * weightScale[o], as QLinearConv adds it. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  const scales = Float32Array.from(weightScales, (w) => inputScale * w);
  const values = Int32Array.from(bias, (b, o) => Math.max(-2147483648, Math.min(2147483647, Math.round(b / scales[o]!))));
  return { values, scales };
}

/**
 * Convolution outputs that get quantized: the conv, or its activation when
 * that is the conv's only consumer. Requested feature outputs stay float.
 */
function convOutputs(net: BackboneIR, featureOutputs: string[]): Set<string> {
  const consumers = new Map<string, string[]>();
  for (const n of net.nodes) for (const i of nodeInputs(n)) consumers.set(i, [...(consumers.get(i) ?? []), n.name]);
  const byName = new Map(net.nodes.map((n) => [n.name, n]));
  const out = new Set<string>();
  for (const n of net.nodes) {
    if (n.op !== 'conv') continue;
    const users = consumers.get(n.name) ?? [];
    const only = users.length === 1 ? byName.get(users[0]!) : undefined;
    out.add(only && (only.op === 'relu' || only.op === 'relu6') ? only.name : n.name);
  }
  for (const name of featureOutputs) out.delete(name);
  return out;
}

/** Hooks that leave the graph float and note the values to calibrate. */
function recordingHooks(net: BackboneIR, featureOutputs: string[], recorded: Map<string, string>): QuantizeHooks {
  const outputs = convOutputs(net, featureOutputs);
  const note = (name: string, value: string) => {
    if (!recorded.has(name)) recorded.set(name, value);
    return value;
  };
  return {
    convInput: (_g, name, value) => note(name, value),
    convParams: (g, conv) => floatConvParams(g, conv),
    produced: (_g, name, value) => (outputs.has(name) ? note(name, value) : value),
  };
}

function quantizeHooks(net: BackboneIR, featureOutputs: string[], ranges: ActivationRanges): QuantizeHooks {
  const outputs = convOutputs(net, featureOutputs);
  const scales = new Map<string, number>();
  /** Values quantized where a convolution reads them (not at their producer): IR name -> dequantized value. */
  const dequantized = new Map<string, string>();
  const qdq = (g: GraphBuilder, name: string, value: string) => {
    const range = ranges[name];
    if (!range) throw new Error(`int8 backbone ${net.id}: no calibrated range for "${name}"; enroll the product again`);
    const { scale, zeroPoint } = activationQuantParams(range[0], range[1]);
    scales.set(name, scale);
    const s = g.floats(`${name}_scale`, [scale], []);
    const z = g.initializer(`${name}_zp`, Uint8Array.of(zeroPoint), []);
    const q = g.op('QuantizeLinear', [value, s, z], {}, `${name}_q`);
    return g.op('DequantizeLinear', [q, s, z], {}, `${name}_dq`);
  };
  return {
    // A value several convolutions read (a block input, a concatenation) is quantized once, for all of them.
    convInput(g, name, value) {
      if (!scales.has(name)) dequantized.set(name, qdq(g, name, value));
      return dequantized.get(name) ?? value;
    },
    convParams(g: GraphBuilder, conv: ConvNode, inputName: string) {
      const out = conv.weightShape[0];
      const w = quantizeWeightsPerChannel(conv.weight, out);
      const wq = g.initializer(`${conv.name}_wq`, w.values, conv.weightShape);
      const params = [g.op('DequantizeLinear', [wq, g.floats(`${conv.name}_wscale`, w.scales, [out]), g.initializer(`${conv.name}_wzp`, new Int8Array(out), [out])], { axis: 0 }, `${conv.name}_w`)];
      if (conv.bias) {
        const b = quantizeBias(conv.bias, scales.get(inputName)!, w.scales);
        const bq = g.initializer(`${conv.name}_bq`, b.values, [out]);
        params.push(g.op('DequantizeLinear', [bq, g.floats(`${conv.name}_bscale`, b.scales, [out]), g.initializer(`${conv.name}_bzp`, new Int32Array(out), [out])], { axis: 0 }, `${conv.name}_b`));
      }
      return params;
    },
    produced: (g, name, value) => (outputs.has(name) ? qdq(g, name, value) : value),
  };
}

function emitWith(ir: BackboneIR, opts: EmitOptions, graphName: string, hooks: (net: BackboneIR) => QuantizeHooks, extraOutputs?: Map<string, string>): Uint8Array {
  const net = truncate(ir, opts.outputs);
  const shapes = layerShapes(net, opts.inputSize);
  const [h, w] = opts.inputSize;
  const batch = opts.batch === undefined || opts.batch === 'dynamic' ? 'n' : opts.batch;
  const g = new GraphBuilder(graphName);
  const image = g.input('image', [batch, h, w, 3]);
  const input = emitPreprocess(g, image, ir.preprocess);
  const { values } = emitLayers(g, net, input, shapes, { keep: opts.outputs, quantize: hooks(net) });
  for (const name of opts.outputs) {
    const [c, oh, ow] = shapes.get(name)!;
    g.output(values.get(name)!, name, [batch, c, oh, ow]);
  }
  for (const [name, value] of extraOutputs ?? []) {
    const [c, oh, ow] = shapes.get(name)!;
    g.output(value, `${CALIBRATION_PREFIX}${name}`, [batch, c, oh, ow]);
  }
  return g.toBytes();
}

/** The float forward graph that also outputs every tensor the int8 graph quantizes (`calib_<name>`). */
export function emitCalibrationForward(ir: BackboneIR, opts: EmitOptions): { model: Uint8Array; tensors: string[] } {
  const recorded = new Map<string, string>();
  // Outputs are added after the layers are emitted, so the recorded map is filled by then.
  const model = emitWith(ir, opts, `${ir.id}-calibration`, (net) => recordingHooks(net, opts.outputs, recorded), recorded);
  return { model, tensors: [...recorded.keys()] };
}

/** The QDQ forward graph: same inputs and outputs as `emitForward`, int8 convolutions inside. */
export function emitInt8Forward(ir: BackboneIR, opts: EmitOptions & { ranges: ActivationRanges }): Uint8Array {
  return emitWith(ir, opts, `${ir.id}-features-int8`, (net) => quantizeHooks(net, opts.outputs, opts.ranges));
}
