/**
 * The default backbone: the ImageNet-initialised Keras MobileNetV2 that the
 * `nsfwjs` npm package ships (its feature layers were frozen when the package's
 * classifier head was trained). The Keras layer JSON and the uint8-quantised
 * weight shard (base64, inside UMD modules) are read from node_modules and
 * turned into the layer IR, with batch-norm folded into the convolutions.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { foldBatchNorm, type BackboneIR, type ConvNode, type LayerInfo, type LayerNode } from '../ir.ts';
import { layerShapes } from '../onnx/emit-forward.ts';

interface KerasLayer {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: 'uint8' | 'uint16' | 'float16' };
}

export interface LoadedMobileNetV2 {
  ir: BackboneIR;
  sha256: string;
}

const require = createRequire(import.meta.url);

function modelFiles(): { model: string; shard: string } {
  let root: string;
  try {
    // The package exports only its modules; its model files sit beside them in dist/.
    const entry = require.resolve('nsfwjs/models/mobilenet_v2'); // <root>/dist/cjs/models/mobilenet_v2.js
    root = join(dirname(entry), '..', '..', '..');
  } catch {
    throw new Error('the default backbone needs the nsfwjs npm package (npm install)');
  }
  const dir = join(root, 'dist', 'models', 'mobilenet_v2');
  return { model: join(dir, 'model.min.js'), shard: join(dir, 'group1-shard1of1.min.js') };
}

function dequantise(specs: WeightSpec[], bytes: Buffer): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const q = spec.quantization;
    if (!q) {
      const copy = Uint8Array.prototype.slice.call(bytes, offset, offset + count * 4);
      data.set(new Float32Array(copy.buffer));
      offset += count * 4;
    } else if (q.dtype === 'uint8') {
      for (let i = 0; i < count; i++) data[i] = q.min! + q.scale! * bytes[offset + i]!;
      offset += count;
    } else if (q.dtype === 'uint16') {
      for (let i = 0; i < count; i++) data[i] = q.min! + q.scale! * bytes.readUInt16LE(offset + 2 * i);
      offset += count * 2;
    } else {
      throw new Error(`MobileNetV2 weights: unsupported quantisation ${q.dtype} for ${spec.name}`);
    }
    if (offset > bytes.length) throw new Error(`MobileNetV2 weights are truncated at ${spec.name}`);
    out.set(spec.name, { shape: spec.shape, data });
  }
  return out;
}

function keras2d(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1])] : [Number(v), Number(v)];
}

/** Keras 'same' padding for stride 1 (the only stride MobileNetV2 uses it with). */
function samePads(kernel: [number, number], stride: [number, number], dilation: [number, number], layer: string): [number, number, number, number] {
  if (stride[0] !== 1 || stride[1] !== 1) throw new Error(`layer ${layer}: 'same' padding with stride ${stride} is not supported`);
  const th = dilation[0] * (kernel[0] - 1);
  const tw = dilation[1] * (kernel[1] - 1);
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

export function mobileNetV2FromKeras(layers: KerasLayer[], weights: Map<string, { shape: number[]; data: Float32Array }>, sha256: string): BackboneIR {
  const weight = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`MobileNetV2 weights: tensor ${name} is missing`);
    return w;
  };
  const nodes: LayerNode[] = [];
  const index = new Map<string, number>();
  const rename = new Map<string, string>();
  let input = '';
  const source = (l: KerasLayer, i = 0) => {
    const name = l.inbound_nodes[0]?.[i]?.[0];
    if (!name) throw new Error(`layer ${l.name} has no input`);
    return rename.get(name) ?? name;
  };
  const push = (n: LayerNode) => {
    index.set(n.name, nodes.length);
    nodes.push(n);
  };
  for (const l of layers) {
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
        const outChannels = depthwise ? ci * co : co;
        const weightShape: ConvNode['weightShape'] = depthwise ? [outChannels, 1, kh, kw] : [co, ci, kh, kw];
        const w = new Float32Array(k.data.length);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let i = 0; i < ci; i++)
              for (let o = 0; o < co; o++) {
                const src = ((y * kw + x) * ci + i) * co + o;
                // Conv: HWIO -> OIHW. Depthwise: [kh,kw,C,mult] -> [C*mult,1,kh,kw].
                const dst = depthwise ? ((i * co + o) * kh + y) * kw + x : ((o * ci + i) * kh + y) * kw + x;
                w[dst] = k.data[src]!;
              }
        const stride = keras2d(c.strides);
        const dilation = keras2d(c.dilation_rate ?? 1);
        const kernel: [number, number] = [kh, kw];
        const act = c.activation as string | undefined;
        if (act && act !== 'linear') throw new Error(`layer ${l.name}: activation ${act} inside a convolution is not supported`);
        push({
          op: 'conv',
          name: l.name,
          input: source(l),
          weight: w,
          weightShape,
          bias: c.use_bias ? weight(`${l.name}/${depthwise ? 'depthwise_bias' : 'bias'}`).data : undefined,
          stride,
          pads: c.padding === 'same' ? samePads(kernel, stride, dilation, l.name) : [0, 0, 0, 0],
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
        const folded = foldBatchNorm(conv, {
          gamma: weight(`${l.name}/gamma`).data,
          beta: weight(`${l.name}/beta`).data,
          mean: weight(`${l.name}/moving_mean`).data,
          variance: weight(`${l.name}/moving_variance`).data,
          epsilon: Number(c.epsilon ?? 1e-3),
        });
        // The folded convolution takes the batch-norm's name: that is the value later layers read.
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
      case 'Add':
        push({ op: 'add', name: l.name, inputs: [source(l, 0), source(l, 1)] });
        break;
      default:
        // The classifier head (pooling, dense, dropout) is not part of the feature extractor.
        break;
    }
  }
  const ir: BackboneIR = { id: 'mobilenet_v2', input, preprocess: { mean: [0, 0, 0], std: [1, 1, 1] }, nodes, featureLayers: [] };
  const shapes = layerShapes(ir, [224, 224]);
  const featureLayers: LayerInfo[] = nodes
    .filter((n) => /^block_\d+_(add|expand_relu)$/.test(n.name) || n.name === 'Conv1_relu')
    .map((n) => ({ name: n.name, channels: shapes.get(n.name)![0], stride: Math.round(224 / shapes.get(n.name)![1]) }));
  return { ...ir, featureLayers };
}

let cached: Promise<LoadedMobileNetV2> | undefined;

/** Loads (once per process) the MobileNetV2 IR and the sha256 of its weight bytes. */
export function loadMobileNetV2(): Promise<LoadedMobileNetV2> {
  cached ??= (async () => {
    const files = modelFiles();
    const model = require(files.model) as { modelTopology: { model_config: { config: { layers: KerasLayer[] } } }; weightsManifest: { weights: WeightSpec[] }[] };
    const shard = require(files.shard) as string;
    const bytes = Buffer.from(shard, 'base64');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const weights = dequantise(model.weightsManifest.flatMap((m) => m.weights), bytes);
    return { ir: mobileNetV2FromKeras(model.modelTopology.model_config.config.layers, weights, sha256), sha256 };
  })();
  return cached;
}
