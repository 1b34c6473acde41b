/**
 * The layer IR: one plain-data description of a CNN backbone that every ONNX
 * emitter reads (forward features now, input-gradient graphs for mask
 * refinement later), so the graphs can never disagree about the network.
 *
 * Conventions: tensors are NCHW; convolution weights are OIHW with batch-norm
 * already folded in (`foldBatchNorm`); pads are [top, left, bottom, right];
 * nodes are topologically ordered and each names its input values by node name.
 */

export interface ConvNode {
  op: 'conv';
  name: string;
  input: string;
  /** OIHW: [outChannels, inChannels / group, kh, kw]. */
  weight: Float32Array;
  weightShape: [number, number, number, number];
  bias?: Float32Array;
  stride: [number, number];
  pads: [number, number, number, number];
  dilation: [number, number];
  group: number;
}

export interface ActivationNode {
  op: 'relu' | 'relu6';
  name: string;
  input: string;
}

export interface AddNode {
  op: 'add';
  name: string;
  inputs: [string, string];
}

export interface PadNode {
  op: 'pad';
  name: string;
  input: string;
  /** Zero padding, [top, left, bottom, right]. */
  pads: [number, number, number, number];
}

export interface PoolNode {
  op: 'maxpool' | 'avgpool';
  name: string;
  input: string;
  kernel: [number, number];
  stride: [number, number];
  pads: [number, number, number, number];
  /** avgpool only: whether padded zeros count in the average. */
  countIncludePad?: boolean;
}

export interface ConcatNode {
  op: 'concat';
  name: string;
  /** Concatenated along channels. */
  inputs: string[];
}

export interface ResizeNode {
  op: 'resize';
  name: string;
  input: string;
  /** Output spatial size [h, w]. */
  size: [number, number];
  mode: 'bilinear' | 'nearest';
}

export type LayerNode = ConvNode | ActivationNode | AddNode | PadNode | PoolNode | ConcatNode | ResizeNode;

/** How raw RGB pixel values (0..255) become the network's input. */
export interface Preprocess {
  /** x' = (x / 255 - mean[c]) / std[c]. */
  mean: [number, number, number];
  std: [number, number, number];
}

export interface LayerInfo {
  name: string;
  channels: number;
  /** Input pixels per output position. */
  stride: number;
}

export interface BackboneIR {
  id: string;
  /** Name of the single image input value the first nodes read. */
  input: string;
  preprocess: Preprocess;
  nodes: LayerNode[];
  /** Layers that make sense as feature outputs, shallow to deep. */
  featureLayers: LayerInfo[];
}

/** Folds an inference-mode batch-norm into the preceding convolution's weights and bias. */
export function foldBatchNorm(
  conv: ConvNode,
  bn: { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number },
): ConvNode {
  const [out, inPerGroup, kh, kw] = conv.weightShape;
  const perOut = inPerGroup * kh * kw;
  const weight = new Float32Array(conv.weight.length);
  const bias = new Float32Array(out);
  for (let o = 0; o < out; o++) {
    const scale = bn.gamma[o]! / Math.sqrt(bn.variance[o]! + bn.epsilon);
    for (let i = 0; i < perOut; i++) weight[o * perOut + i] = conv.weight[o * perOut + i]! * scale;
    bias[o] = ((conv.bias?.[o] ?? 0) - bn.mean[o]!) * scale + bn.beta[o]!;
  }
  return { ...conv, weight, bias };
}

/** Keeps only the nodes needed to compute `outputs`, in their original order. */
export function truncate(ir: BackboneIR, outputs: string[]): BackboneIR {
  const byName = new Map(ir.nodes.map((n) => [n.name, n]));
  for (const o of outputs) {
    if (!byName.has(o)) {
      throw new Error(`backbone ${ir.id} has no layer named "${o}" (feature layers: ${ir.featureLayers.map((l) => l.name).join(', ')})`);
    }
  }
  const needed = new Set<string>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (needed.has(name) || name === ir.input) continue;
    needed.add(name);
    const node = byName.get(name);
    if (!node) throw new Error(`backbone ${ir.id}: node input "${name}" is not defined`);
    stack.push(...nodeInputs(node));
  }
  return { ...ir, nodes: ir.nodes.filter((n) => needed.has(n.name)) };
}

export function nodeInputs(node: LayerNode): string[] {
  return 'inputs' in node ? [...node.inputs] : [node.input];
}
