/**
 * `mobilenet_v2_mid` from the `nsfwjs` npm package: TF Hub's ImageNet
 * MobileNetV2 at width 1.4 (48 to 1792 channels instead of 32 to 1280) under
 * the package's classifier head, stored as a TensorFlow graph model: batch-norm
 * already folded into each convolution (weights + `bn_offset`), fused
 * bias/ReLU6, weights uint8-quantised like the default MobileNetV2's.
 *
 * The graph is turned into the layer IR with the Keras MobileNetV2's value
 * names (`block_5_add`, `block_12_add`, `block_6_expand_relu`, ...), so the
 * same layer names select the same places in both networks. Its own input
 * scaling (x * 2 - 1 on RGB / 255) becomes the IR's preprocessing.
 *
 * TensorFlow's 'SAME' padding depends on the input size for strided layers;
 * the IR keeps the pads TensorFlow uses when every strided layer's input is
 * even (input sizes that are multiples of 32, such as 224), padding the extra
 * row and column at the bottom and right.
 */
import type { BackboneIR, ConvNode, LayerNode } from '../ir.ts';
import { convWeights } from './keras.ts';
import { mobileNetFeatureLayers } from './mobilenet-v2.ts';
import { readNsfwjsModel, weightOf, type Weights } from './nsfwjs.ts';

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, { list?: { i?: string[]; s?: string[] }; s?: string; i?: string }>;
}

export interface LoadedMobileNetV2Mid {
  ir: BackboneIR;
  sha256: string;
  /** IR value name -> the TensorFlow node computing the same value (for checks against tfjs). */
  tfNames: Map<string, string>;
}

const MODEL = 'mobilenet_v2_mid';

const decode = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));
const ints = (n: TfNode, key: string) => (n.attr?.[key]?.list?.i ?? []).map(Number);

/** The Keras MobileNetV2 names of a TensorFlow MobilenetV2 convolution: the folded conv and its activation. */
function kerasNames(tfName: string): { conv: string; act: string } {
  const scope = tfName.slice(tfName.indexOf('MobilenetV2/') + 'MobilenetV2/'.length);
  if (scope.startsWith('Conv/')) return { conv: 'bn_Conv1', act: 'Conv1_relu' };
  if (scope.startsWith('Conv_1/')) return { conv: 'Conv_1_bn', act: 'out_relu' };
  const m = /^expanded_conv(?:_(\d+))?\/(expand|depthwise|project)\//.exec(scope);
  if (!m) throw new Error(`${MODEL}: unexpected convolution ${tfName}`);
  const block = m[1] === undefined ? 'expanded_conv' : `block_${m[1]}`;
  return { conv: `${block}_${m[2]}_BN`, act: `${block}_${m[2]}_relu` };
}

/** TensorFlow padding of a window for inputs the stride divides: [top, left, bottom, right]. */
function tfPads(padding: string | undefined, kernel: [number, number], stride: [number, number], dilation: [number, number], node: string): [number, number, number, number] {
  if (padding === 'VALID') return [0, 0, 0, 0];
  if (padding !== 'SAME') throw new Error(`${MODEL}: node ${node} has padding ${padding ?? '(none)'}; only SAME and VALID are supported`);
  const total = (i: 0 | 1) => Math.max(dilation[i] * (kernel[i] - 1) + 1 - stride[i], 0);
  const [th, tw] = [total(0), total(1)];
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

export function mobileNetV2MidFromGraph(graph: TfNode[], weights: Weights): { ir: BackboneIR; tfNames: Map<string, string> } {
  const weight = (name: string) => weightOf(weights, name, MODEL);
  const nodes: LayerNode[] = [];
  const tfNames = new Map<string, string>();
  /** TensorFlow node name -> IR value name. */
  const value = new Map<string, string>();
  let input = '';
  let scale: number | undefined;
  let offset: number | undefined;
  let scaled: string | undefined;
  const source = (n: TfNode, i = 0) => {
    const name = (n.input?.[i] ?? '').replace(/:\d+$/, '');
    const v = value.get(name);
    if (v === undefined) throw new Error(`${MODEL}: node ${n.name} reads ${name || '(nothing)'}, which is not a network value`);
    return v;
  };
  const constant = (n: TfNode, i: number) => {
    const w = weight((n.input?.[i] ?? '').replace(/:\d+$/, ''));
    if (w.data.length !== 1) throw new Error(`${MODEL}: node ${n.name} expects a scalar operand`);
    return w.data[0]!;
  };
  for (const n of graph) {
    switch (n.op) {
      case 'Placeholder':
        input = n.name;
        value.set(n.name, n.name);
        break;
      case 'Const':
        break;
      case 'Mul': {
        // The module's own input scaling: hub_input/Mul = input * a, then hub_input/Sub = that - b.
        const at = (n.input ?? []).indexOf(input);
        if (!input || at < 0 || scale !== undefined) throw new Error(`${MODEL}: unexpected multiplication ${n.name} inside the network`);
        scale = constant(n, 1 - at);
        scaled = n.name;
        value.set(n.name, input);
        break;
      }
      case 'Sub':
        if (!scaled || n.input?.[0] !== scaled || offset !== undefined) throw new Error(`${MODEL}: unexpected subtraction ${n.name} inside the network`);
        offset = constant(n, 1);
        value.set(n.name, input);
        break;
      case '_FusedConv2D':
      case 'FusedDepthwiseConv2dNative': {
        const depthwise = n.op === 'FusedDepthwiseConv2dNative';
        if (decode(n.attr?.data_format?.s) !== 'NHWC') throw new Error(`${MODEL}: node ${n.name} is not NHWC`);
        const fused = (n.attr?.fused_ops?.list?.s ?? []).map((s) => decode(s));
        const activation = fused[1];
        if (fused[0] !== 'BiasAdd' || fused.length > 2 || (activation !== undefined && activation !== 'Relu6' && activation !== 'Relu')) {
          throw new Error(`${MODEL}: node ${n.name} fuses ${fused.join('+')}; only BiasAdd[+Relu|Relu6] is supported`);
        }
        const k = weight(n.input![1]!);
        const [kh, kw, ci, co] = k.shape as [number, number, number, number];
        const [, sh, sw] = ints(n, 'strides');
        const [, dh, dw] = ints(n, 'dilations');
        const stride: [number, number] = [sh ?? 1, sw ?? 1];
        const dilation: [number, number] = [dh ?? 1, dw ?? 1];
        const names = kerasNames(n.name);
        const conv: ConvNode = {
          op: 'conv',
          name: names.conv,
          input: source(n),
          ...convWeights(k.data, [kh, kw, ci, co], depthwise),
          bias: weight(n.input![2]!).data,
          stride,
          pads: tfPads(decode(n.attr?.padding?.s), [kh, kw], stride, dilation, n.name),
          dilation,
          group: depthwise ? ci : 1,
        };
        nodes.push(conv);
        let out = conv.name;
        if (activation) {
          nodes.push({ op: activation === 'Relu6' ? 'relu6' : 'relu', name: names.act, input: conv.name });
          out = names.act;
        }
        value.set(n.name, out);
        tfNames.set(out, n.name);
        break;
      }
      case 'AddV2':
      case 'Add': {
        const m = /MobilenetV2\/expanded_conv_(\d+)\/add$/.exec(n.name);
        if (!m) throw new Error(`${MODEL}: unexpected addition ${n.name}`);
        const name = `block_${m[1]}_add`;
        nodes.push({ op: 'add', name, inputs: [source(n, 0), source(n, 1)] });
        value.set(n.name, name);
        tfNames.set(name, n.name);
        break;
      }
      default:
        // The classifier head (pooling, matmul, softmax) is not part of the feature extractor.
        break;
    }
  }
  if (!input || scale === undefined || offset === undefined) throw new Error(`${MODEL}: the graph lacks its input or its input scaling`);
  // (x / 255) * scale - offset == (x / 255 - offset / scale) / (1 / scale)
  const mean = offset / scale;
  const std = 1 / scale;
  const ir: BackboneIR = { id: MODEL, input, preprocess: { mean: [mean, mean, mean], std: [std, std, std] }, nodes, featureLayers: [] };
  return { ir: { ...ir, featureLayers: mobileNetFeatureLayers(ir) }, tfNames };
}

let cached: Promise<LoadedMobileNetV2Mid> | undefined;

/** Loads (once per process) the width-1.4 MobileNetV2 IR and the sha256 of its weight bytes. */
export function loadMobileNetV2Mid(): Promise<LoadedMobileNetV2Mid> {
  cached ??= (async () => {
    const model = readNsfwjsModel(MODEL);
    const topology = model.json.modelTopology as { node: TfNode[] };
    const { ir, tfNames } = mobileNetV2MidFromGraph(topology.node, model.weights);
    return { ir, sha256: model.sha256, tfNames };
  })();
  return cached;
}
