/**
 * Emits the forward graph of a backbone from the layer IR: image in (NHWC,
 * RGB 0..255, as sharp decodes it), preprocessing inside the graph, the
 * requested layers out (NCHW, named like the layers).
 */
import { GraphBuilder } from './graph-builder.ts';
import { truncate, nodeInputs, type BackboneIR, type ConvNode, type LayerNode } from '../ir.ts';

export interface EmitOptions {
  outputs: string[];
  /** [height, width] of the input image. */
  inputSize: [number, number];
  batch?: number | 'dynamic';
}

/** Static shape inference: [channels, height, width] of every node's output. */
export function layerShapes(ir: BackboneIR, inputSize: [number, number]): Map<string, [number, number, number]> {
  const shapes = new Map<string, [number, number, number]>([[ir.input, [3, inputSize[0], inputSize[1]]]]);
  const get = (name: string) => {
    const s = shapes.get(name);
    if (!s) throw new Error(`backbone ${ir.id}: value "${name}" is used before it is defined`);
    return s;
  };
  const window = (size: number, k: number, s: number, p0: number, p1: number, d = 1) => Math.floor((size + p0 + p1 - d * (k - 1) - 1) / s) + 1;
  for (const n of ir.nodes) {
    switch (n.op) {
      case 'conv': {
        const [, h, w] = get(n.input);
        const [o, , kh, kw] = n.weightShape;
        shapes.set(n.name, [o, window(h, kh, n.stride[0], n.pads[0], n.pads[2], n.dilation[0]), window(w, kw, n.stride[1], n.pads[1], n.pads[3], n.dilation[1])]);
        break;
      }
      case 'maxpool':
      case 'avgpool': {
        const [c, h, w] = get(n.input);
        shapes.set(n.name, [c, window(h, n.kernel[0], n.stride[0], n.pads[0], n.pads[2]), window(w, n.kernel[1], n.stride[1], n.pads[1], n.pads[3])]);
        break;
      }
      case 'pad': {
        const [c, h, w] = get(n.input);
        shapes.set(n.name, [c, h + n.pads[0] + n.pads[2], w + n.pads[1] + n.pads[3]]);
        break;
      }
      case 'concat': {
        const parts = n.inputs.map(get);
        shapes.set(n.name, [parts.reduce((s, p) => s + p[0], 0), parts[0]![1], parts[0]![2]]);
        break;
      }
      case 'resize':
        shapes.set(n.name, [get(n.input)[0], n.size[0], n.size[1]]);
        break;
      case 'add':
        shapes.set(n.name, get(n.inputs[0]));
        break;
      default:
        shapes.set(n.name, get(n.input));
    }
  }
  return shapes;
}

/** Forward values of an emitted network: IR value name -> ONNX value name. */
export interface EmittedLayers {
  values: Map<string, string>;
  /** Per convolution: the value it really reads and its pads, after zero pads were folded in. */
  convInputs: Map<string, { input: string; pads: [number, number, number, number] }>;
  /** Per max pool emitted with `withPoolIndices`: the ONNX value of its argmax indices. */
  poolIndices: Map<string, string>;
}

/** Per-channel factor from 0..255 pixels to the network's input: 1 / (255 std). */
export function preprocessScale(preprocess: BackboneIR['preprocess']): number[] {
  return preprocess.std.map((s) => 1 / (255 * s));
}

/** image NHWC RGB 0..255 -> the network's NCHW input: (x / 255 - mean) / std per channel. */
export function emitPreprocess(g: GraphBuilder, image: string, preprocess: BackboneIR['preprocess']): string {
  const { mean, std } = preprocess;
  // (x / 255 - mean) / std  ==  x * (1 / (255 std)) - mean / std, on the channel-last axis.
  const scaled = g.op('Mul', [image, g.floats('pre_scale', preprocessScale(preprocess), [3])]);
  const shifted = g.op('Add', [scaled, g.floats('pre_shift', mean.map((m, i) => -m / std[i]!), [3])]);
  return g.op('Transpose', [shifted], { perm: [0, 3, 1, 2] }, 'input_nchw');
}

/**
 * Where the int8 emitter (emit-int8.ts) puts quantize/dequantize pairs: the
 * value a convolution reads, its weight and bias operands, and the value every
 * consumer of a node's output reads. Without hooks the graph stays float.
 */
export interface QuantizeHooks {
  /** The value a convolution reads for IR value `name`, emitted as `value`. */
  convInput(g: GraphBuilder, name: string, value: string): string;
  /** Weight (and bias) operands of `conv`, which reads IR value `inputName`. */
  convParams(g: GraphBuilder, conv: ConvNode, inputName: string): string[];
  /** The value the consumers of node `name` read, emitted as `value`. */
  produced(g: GraphBuilder, name: string, value: string): string;
}

/** A convolution's float weight and bias initializers. */
export function floatConvParams(g: GraphBuilder, conv: ConvNode): string[] {
  const params = [g.initializer(`${conv.name}_w`, conv.weight, conv.weightShape)];
  if (conv.bias) params.push(g.initializer(`${conv.name}_b`, conv.bias, [conv.bias.length]));
  return params;
}

/**
 * Emits the nodes of `net` reading `input` (NCHW). Zero pads feeding only a
 * convolution are folded into the convolution's own pads unless `keep` names
 * them. `withPoolIndices` also emits max pools' argmax indices (for gradients).
 */
export function emitLayers(
  g: GraphBuilder,
  net: BackboneIR,
  input: string,
  shapes: Map<string, [number, number, number]>,
  opts: { keep?: string[]; withPoolIndices?: boolean; quantize?: QuantizeHooks } = {},
): EmittedLayers {
  const keep = new Set(opts.keep ?? []);
  const values = new Map<string, string>([[net.input, input]]);
  const convInputs: EmittedLayers['convInputs'] = new Map();
  const poolIndices = new Map<string, string>();
  const consumers = new Map<string, number>();
  for (const n of net.nodes) for (const i of nodeInputs(n)) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const byName = new Map(net.nodes.map((n) => [n.name, n]));
  const foldable = (name: string) => {
    const n = byName.get(name);
    return n?.op === 'pad' && consumers.get(name) === 1 && !keep.has(name) ? n : undefined;
  };
  const value = (name: string) => {
    const v = values.get(name);
    if (!v) throw new Error(`backbone ${net.id}: value "${name}" is used before it is defined`);
    return v;
  };
  for (const n of net.nodes as LayerNode[]) {
    let out: string | undefined;
    switch (n.op) {
      case 'conv': {
        const pad = foldable(n.input);
        const source = pad ? pad.input : n.input;
        const pads = (pad ? n.pads.map((p, i) => p + pad.pads[i]!) : [...n.pads]) as [number, number, number, number];
        convInputs.set(n.name, { input: source, pads });
        const q = opts.quantize;
        const x = q ? q.convInput(g, source, value(source)) : value(source);
        const inputs = [x, ...(q ? q.convParams(g, n, source) : floatConvParams(g, n))];
        out = g.op('Conv', inputs, { kernel_shape: [n.weightShape[2], n.weightShape[3]], strides: n.stride, pads, dilations: n.dilation, group: n.group }, n.name);
        break;
      }
      case 'relu':
        out = g.op('Relu', [value(n.input)], {}, n.name);
        break;
      case 'relu6':
        out = g.op('Clip', [value(n.input), g.floats('zero', new Float32Array([0]), []), g.floats('six', new Float32Array([6]), [])], {}, n.name);
        break;
      case 'add':
        out = g.op('Add', [value(n.inputs[0]), value(n.inputs[1])], {}, n.name);
        break;
      case 'pad':
        if (foldable(n.name)) continue;
        out = g.op('Pad', [value(n.input), g.int64s(`${n.name}_pads`, [0, 0, n.pads[0], n.pads[1], 0, 0, n.pads[2], n.pads[3]])], { mode: 'constant' }, n.name);
        break;
      case 'maxpool': {
        const attrs = { kernel_shape: n.kernel, strides: n.stride, pads: n.pads };
        if (opts.withPoolIndices) {
          const [y, indices] = g.node('MaxPool', [value(n.input)], attrs, 2, n.name);
          poolIndices.set(n.name, indices!);
          out = y!;
        } else {
          out = g.op('MaxPool', [value(n.input)], attrs, n.name);
        }
        break;
      }
      case 'avgpool':
        out = g.op('AveragePool', [value(n.input)], { kernel_shape: n.kernel, strides: n.stride, pads: n.pads, count_include_pad: n.countIncludePad ? 1 : 0 }, n.name);
        break;
      case 'concat':
        out = g.op('Concat', n.inputs.map(value), { axis: 1 }, n.name);
        break;
      case 'resize': {
        const [, ih, iw] = shapes.get(n.input)!;
        const scales = g.floats(`${n.name}_scales`, [1, 1, n.size[0] / ih, n.size[1] / iw]);
        out = g.op('Resize', [value(n.input), '', scales], { mode: n.mode === 'bilinear' ? 'linear' : 'nearest', coordinate_transformation_mode: 'half_pixel' }, n.name);
        break;
      }
    }
    values.set(n.name, opts.quantize ? opts.quantize.produced(g, n.name, out) : out);
  }
  return { values, convInputs, poolIndices };
}

export function emitForward(ir: BackboneIR, opts: EmitOptions): Uint8Array {
  const net = truncate(ir, opts.outputs);
  const shapes = layerShapes(net, opts.inputSize);
  const [h, w] = opts.inputSize;
  const batch = opts.batch === undefined || opts.batch === 'dynamic' ? 'n' : opts.batch;
  const g = new GraphBuilder(`${ir.id}-features`);
  const image = g.input('image', [batch, h, w, 3]);
  const { values } = emitLayers(g, net, emitPreprocess(g, image, ir.preprocess), shapes, { keep: opts.outputs });
  for (const name of opts.outputs) {
    const [c, oh, ow] = shapes.get(name)!;
    g.output(values.get(name)!, name, [batch, c, oh, ow]);
  }
  return g.toBytes();
}
