/**
 * LayerCAM saliency maps at several backbone depths (papers/cutswap.txt
 * §III-A, after Jiang et al.'s LayerCAM): for a layer with activations A and
 * the gradient G of a target score with respect to A,
 *
 *   cam = ReLU( sum over channels of ReLU(G) * A ),
 *
 * upsampled to the image. Shallow layers give fine-grained maps, deep layers
 * coarse ones; CutSwap draws its patch anchors from each.
 *
 * A part on a conveyor belongs to no ImageNet class, so the target score is
 * class-agnostic: the mean activation of the deepest saliency layer (what the
 * network responds to most strongly overall). The gradient comes from the
 * same layer-IR gradient emitter as F2PAD's, so it runs in ONNX Runtime.
 */
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { emitLayers, emitPreprocess, layerShapes } from '../onnx/emit-forward.ts';
import { emitLayersGradient } from '../onnx/emit-gradient.ts';
import { truncate, type BackboneIR, type LayerInfo } from '../ir.ts';
import { createSession, type SessionOptions } from '../session.ts';
import { valueRange } from '../components/value-range.ts';

/**
 * Saliency layers for a backbone: the deepest candidate layer at each stride
 * from 4 up (one per resolution level, as the paper's best setting spreads
 * its five maps over the network's depth), at most `count`, shallow to deep.
 */
export function saliencyLayers(featureLayers: LayerInfo[], count = 5): string[] {
  const deepestPerStride = new Map<number, string>();
  for (const l of featureLayers) if (l.stride >= 4) deepestPerStride.set(l.stride, l.name);
  const byStride = [...deepestPerStride.entries()].sort((a, b) => a[0] - b[0]).map(([, name]) => name);
  if (byStride.length === 0) throw new Error('the backbone has no layer at stride 4 or deeper for saliency maps');
  return byStride.slice(-count);
}

/**
 * Border the image is mirrored by before the network sees it: deep layers
 * otherwise light up at the image corners (the network's zero padding), not
 * on the part.
 */
export const SALIENCY_BORDER = 32;

/**
 * Input `image` [1, H, W, 3] (RGB 0..255); output `saliency` [L, H, W], one
 * LayerCAM map per layer (shallow to deep), not normalised.
 */
export function layerCamGraph(ir: BackboneIR, layers: string[], inputSize: [number, number], border = SALIENCY_BORDER): Uint8Array {
  if (layers.length === 0) throw new Error('LayerCAM needs at least one layer');
  const target = layers[layers.length - 1]!;
  const net = truncate(ir, layers);
  const [h, w] = inputSize;
  const shapes = layerShapes(net, [h + 2 * border, w + 2 * border]);
  const g = new GraphBuilder(`${ir.id}-layercam`);
  const image = g.input('image', [1, h, w, 3]);
  const mirrored = border > 0 ? g.op('Pad', [image, g.int64s('border', [0, border, border, 0, 0, border, border, 0])], { mode: 'reflect' }) : image;
  const fwd = emitLayers(g, net, emitPreprocess(g, mirrored, ir.preprocess), shapes, { keep: layers, withPoolIndices: true });
  const [tc, th, tw] = shapes.get(target)!;
  // d mean(A_target) / d A_target = 1 / numel everywhere.
  const seed = g.initializer('target_seed', new Float32Array(tc * th * tw).fill(1 / (tc * th * tw)), [1, tc, th, tw]);
  const grads = new Map<string, string>();
  const wanted = new Set(layers);
  emitLayersGradient(g, net, fwd, shapes, new Map([[target, seed]]), (name, grad) => {
    if (wanted.has(name)) grads.set(name, grad);
  });
  const maps = layers.map((layer) => {
    const grad = grads.get(layer);
    if (!grad) throw new Error(`saliency layer ${layer} does not feed ${target}`);
    const weighted = g.op('Mul', [g.op('Relu', [grad]), fwd.values.get(layer)!]);
    const cam = g.op('Relu', [g.op('ReduceSum', [weighted, g.int64s('channel_axis', [1])], { keepdims: 1 })]);
    const up = g.op('Resize', [cam, '', '', g.int64s('cam_size', [1, 1, h + 2 * border, w + 2 * border])], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
    const inner = g.op('Slice', [up, g.int64s('inner_start', [border, border]), g.int64s('inner_end', [border + h, border + w]), g.int64s('hw_axes', [2, 3])]);
    return g.op('Reshape', [inner, g.int64s('cam_shape', [1, h, w])]);
  });
  g.output(maps.length === 1 ? maps[0]! : g.op('Concat', maps, { axis: 0 }), 'saliency', [layers.length, h, w]);
  return g.toBytes();
}

/** One LayerCAM map per layer, each scaled to 0..1, row-major at the image size. */
export interface SaliencyMaps {
  layers: string[];
  width: number;
  height: number;
  maps: Float32Array[];
}

/** Scales a map to 0..1 (a flat map becomes all zeros). */
export function normaliseMap(map: Float32Array): Float32Array {
  const { min: lo, max: hi } = valueRange(map);
  const span = hi - lo;
  return span > 0 ? map.map((v) => (v - lo) / span) : new Float32Array(map.length);
}

export class SaliencyExtractor {
  private constructor(
    readonly layers: string[],
    readonly inputSize: { width: number; height: number },
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(ir: BackboneIR, inputSize: { width: number; height: number }, opts: SessionOptions & { layers?: string[] } = {}): Promise<SaliencyExtractor> {
    const layers = opts.layers ?? saliencyLayers(ir.featureLayers);
    const session = await createSession(layerCamGraph(ir, layers, [inputSize.height, inputSize.width]), opts);
    return new SaliencyExtractor(layers, inputSize, session);
  }

  async maps(image: { data: Float32Array }): Promise<SaliencyMaps> {
    const { width, height } = this.inputSize;
    const out = await this.session.run({ image: new ort.Tensor('float32', image.data, [1, height, width, 3]) });
    const all = out.saliency!.data as Float32Array;
    const size = width * height;
    return { layers: this.layers, width, height, maps: this.layers.map((_, i) => normaliseMap(all.subarray(i * size, (i + 1) * size))) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
