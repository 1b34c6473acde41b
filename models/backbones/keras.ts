/**
 * Keras functional-model JSON (as tfjs layer models store it) to the layer
 * IR: the convolution, pooling, merge and activation layers of the CNNs the
 * nsfwjs package ships (MobileNetV2, InceptionV3). Batch-norms are folded into
 * the convolution before them; the folded convolution takes the batch-norm's
 * name, since that is the value later layers read.
 *
 * Keras 'same' padding is converted for stride 1 only (the only stride these
 * networks use it with): for strided layers Keras pads depending on the input
 * size, which the IR's fixed pads cannot express.
 */
import { foldBatchNorm, type ConvNode, type LayerNode } from '../ir.ts';
import { weightOf, type Weights } from './nsfwjs.ts';

export interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

/** Layers of a classifier head: not part of a feature extractor, left out. */
const HEAD_LAYERS = new Set(['Flatten', 'Dense', 'Dropout', 'GlobalAveragePooling2D', 'Softmax', 'Reshape']);

function keras2d(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)];
}

/** Keras 'same' padding of a stride-1 window: [top, left, bottom, right]. */
function samePads(kernel: [number, number], stride: [number, number], dilation: [number, number], layer: string): [number, number, number, number] {
  if (stride[0] !== 1 || stride[1] !== 1) throw new Error(`layer ${layer}: 'same' padding with stride ${stride} is not supported`);
  const th = dilation[0] * (kernel[0] - 1);
  const tw = dilation[1] * (kernel[1] - 1);
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

function windowPads(c: Record<string, unknown>, kernel: [number, number], stride: [number, number], dilation: [number, number], layer: string): [number, number, number, number] {
  if (c.padding === 'same') return samePads(kernel, stride, dilation, layer);
  if (c.padding === 'valid' || c.padding === undefined) return [0, 0, 0, 0];
  throw new Error(`layer ${layer}: padding ${String(c.padding)} is not supported`);
}

/**
 * Converts `layers` up to and including `last` (the deepest layer a feature
 * extractor may need) into IR nodes. `model` names the network in errors.
 */
export function kerasToIr(layers: KerasLayer[], weights: Weights, opts: { model: string; last: string }): { input: string; nodes: LayerNode[] } {
  const weight = (name: string) => weightOf(weights, name, opts.model);
  const nodes: LayerNode[] = [];
  const index = new Map<string, number>();
  const rename = new Map<string, string>();
  let input = '';
  const sources = (l: KerasLayer) => {
    const inbound = l.inbound_nodes[0] ?? [];
    if (inbound.length === 0) throw new Error(`layer ${l.name} has no input`);
    return inbound.map(([name]) => rename.get(name) ?? name);
  };
  const source = (l: KerasLayer) => sources(l)[0]!;
  const push = (n: LayerNode) => {
    index.set(n.name, nodes.length);
    nodes.push(n);
  };
  const end = layers.findIndex((l) => l.name === opts.last);
  if (end < 0) throw new Error(`${opts.model}: the model has no layer ${opts.last}`);
  for (const l of layers.slice(0, end + 1)) {
    const c = l.config;
    switch (l.class_name) {
      case 'InputLayer':
        input = l.name;
        break;
      case 'ZeroPadding2D': {
        const [[top, bottom], [left, right]] = c.padding as [[number, number], [number, number]];
        push({ op: 'pad', name: l.name, input: source(l), pads: [top, left, bottom, right] });
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = l.class_name === 'DepthwiseConv2D';
        const k = weight(`${l.name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`);
        const [kh, kw, ci, co] = k.shape as [number, number, number, number];
        const act = c.activation as string | undefined;
        if (act && act !== 'linear') throw new Error(`layer ${l.name}: activation ${act} inside a convolution is not supported`);
        const stride = keras2d(c.strides);
        const dilation = keras2d(c.dilation_rate ?? 1);
        push({
          op: 'conv',
          name: l.name,
          input: source(l),
          ...convWeights(k.data, [kh, kw, ci, co], depthwise),
          bias: c.use_bias ? weight(`${l.name}/${depthwise ? 'depthwise_bias' : 'bias'}`).data : undefined,
          stride,
          pads: windowPads(c, [kh, kw], stride, dilation, l.name),
          dilation,
          group: depthwise ? ci : 1,
        });
        break;
      }
      case 'BatchNormalization': {
        const prev = source(l);
        const at = index.get(prev);
        const conv = at === undefined ? undefined : nodes[at];
        if (!conv || conv.op !== 'conv') throw new Error(`layer ${l.name}: batch-norm must follow a convolution`);
        const channels = conv.weightShape[0];
        const folded = foldBatchNorm(conv, {
          // InceptionV3 trains its batch-norms without scale (gamma fixed at 1).
          gamma: c.scale === false ? new Float32Array(channels).fill(1) : weight(`${l.name}/gamma`).data,
          beta: c.center === false ? new Float32Array(channels) : weight(`${l.name}/beta`).data,
          mean: weight(`${l.name}/moving_mean`).data,
          variance: weight(`${l.name}/moving_variance`).data,
          epsilon: Number(c.epsilon ?? 1e-3),
        });
        nodes[at!] = { ...folded, name: l.name };
        index.delete(prev);
        index.set(l.name, at!);
        rename.set(prev, l.name);
        break;
      }
      case 'ReLU': {
        const max = c.max_value as number | null | undefined;
        if (max !== undefined && max !== null && max !== 6) throw new Error(`layer ${l.name}: ReLU max ${max} is not supported`);
        push({ op: max === 6 ? 'relu6' : 'relu', name: l.name, input: source(l) });
        break;
      }
      case 'Activation':
        if (c.activation === 'relu') push({ op: 'relu', name: l.name, input: source(l) });
        else if (c.activation === 'relu6') push({ op: 'relu6', name: l.name, input: source(l) });
        else if (c.activation === 'linear') rename.set(l.name, source(l));
        else throw new Error(`layer ${l.name}: activation ${String(c.activation)} is not supported`);
        break;
      case 'Add': {
        const [a, b, ...more] = sources(l);
        if (!b || more.length > 0) throw new Error(`layer ${l.name}: only two-input additions are supported`);
        push({ op: 'add', name: l.name, inputs: [a!, b] });
        break;
      }
      case 'Concatenate': {
        const axis = Number(c.axis ?? -1);
        if (axis !== -1 && axis !== 3) throw new Error(`layer ${l.name}: concatenation along axis ${axis} is not supported (channels only)`);
        push({ op: 'concat', name: l.name, inputs: sources(l) });
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const kernel = keras2d(c.pool_size);
        const stride = keras2d(c.strides ?? c.pool_size);
        const pads = windowPads(c, kernel, stride, [1, 1], l.name);
        if (l.class_name === 'MaxPooling2D') push({ op: 'maxpool', name: l.name, input: source(l), kernel, stride, pads });
        // Keras averages over the window's real pixels only (padding not counted).
        else push({ op: 'avgpool', name: l.name, input: source(l), kernel, stride, pads, countIncludePad: false });
        break;
      }
      default:
        if (!HEAD_LAYERS.has(l.class_name)) throw new Error(`layer ${l.name}: Keras layer ${l.class_name} is not supported`);
    }
  }
  if (!input) throw new Error(`${opts.model}: the model has no input layer`);
  return { input, nodes };
}

/**
 * Keras kernel [kh, kw, in, out] (or depthwise [kh, kw, C, multiplier]) to the
 * IR's OIHW (depthwise: [C * multiplier, 1, kh, kw]).
 */
export function convWeights(
  data: Float32Array,
  [kh, kw, ci, co]: [number, number, number, number],
  depthwise: boolean,
): { weight: Float32Array; weightShape: ConvNode['weightShape'] } {
  const w = new Float32Array(data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < ci; i++)
        for (let o = 0; o < co; o++) {
          const src = ((y * kw + x) * ci + i) * co + o;
          const dst = depthwise ? ((i * co + o) * kh + y) * kw + x : ((o * ci + i) * kh + y) * kw + x;
          w[dst] = data[src]!;
        }
  return { weight: w, weightShape: depthwise ? [ci * co, 1, kh, kw] : [co, ci, kh, kw] };
}
