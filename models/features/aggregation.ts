/**
 * The aggregation graph every patch-feature scorer starts from (PatchCore's
 * memory bank and PaDiM's Gaussians alike; pure graph emission, no I/O): the
 * chosen backbone layers -> one patch feature per position (3x3 local
 * average, optionally the SPPM pyramid of
 * papers/stn-registration-memory-bank.txt §3.2.2; deeper layers upsampled to
 * the shallowest one; channels concatenated) as rows [n, h*w, C].
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import type { LayerNode } from '../ir.ts';

export type Aggregation = 'patchcore' | 'sppm';

export interface FeatureLayerShape {
  name: string;
  channels: number;
  height: number;
  width: number;
}

export interface AggregatedShape {
  channels: number;
  height: number;
  width: number;
}

/** Output shape of the aggregation graph for these layers. */
export function aggregatedShape(layers: FeatureLayerShape[], aggregation: Aggregation): AggregatedShape {
  if (layers.length === 0) throw new Error('at least one feature layer is needed');
  const perLayer = aggregation === 'sppm' ? 3 : 1;
  return {
    channels: layers.reduce((sum, l) => sum + l.channels * perLayer, 0),
    height: layers[0]!.height,
    width: layers[0]!.width,
  };
}

function resizeTo(g: GraphBuilder, value: string, height: number, width: number, channels: number): string {
  const sizes = g.int64s('size', [1, channels, height, width]);
  // Batch dimension may vary: build the target size from the input's own shape.
  const shape = g.op('Shape', [value]);
  const batch = g.op('Slice', [shape, g.int64s('start', [0]), g.int64s('end', [1])]);
  const rest = g.op('Slice', [sizes, g.int64s('start', [1]), g.int64s('end', [4])]);
  const target = g.op('Concat', [batch, rest], { axis: 0 });
  return g.op('Resize', [value, '', '', target], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
}

/** The local 3x3 average every aggregation starts from (stride 1, zero padding counted). */
const LOCAL_POOL = { kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1] } as const;
/** SPPM's coarser pools: 1/2 and 1/4 resolution give each patch a larger receptive field. */
const SPPM_POOLS = [
  { kernel: [4, 4], stride: [2, 2], pads: [1, 1, 1, 1] },
  { kernel: [5, 5], stride: [4, 4], pads: [2, 2, 2, 2] },
] as const;

/**
 * The aggregation as layer-IR nodes appended to a backbone (for the
 * input-gradient graph of mask refinement), ending in one NCHW value
 * `output` [1, C, h, w] equal to `aggregationGraph`'s rows.
 */
export function aggregationNodes(layers: FeatureLayerShape[], aggregation: Aggregation, output = 'patch_features'): LayerNode[] {
  const { height, width } = aggregatedShape(layers, aggregation);
  const nodes: LayerNode[] = [];
  const parts: string[] = [];
  const resized = (name: string, input: string, size: [number, number]) => {
    nodes.push({ op: 'resize', name, input, size, mode: 'bilinear' });
    return name;
  };
  for (const layer of layers) {
    const pools = aggregation === 'sppm' ? [LOCAL_POOL, ...SPPM_POOLS] : [LOCAL_POOL];
    pools.forEach((pool, k) => {
      const name = `${output}_${layer.name}_pool${k}`;
      nodes.push({ op: 'avgpool', name, input: layer.name, kernel: [...pool.kernel], stride: [...pool.stride], pads: [...pool.pads], countIncludePad: true });
      let piece = k === 0 ? name : resized(`${name}_up`, name, [layer.height, layer.width]);
      if (layer.height !== height || layer.width !== width) piece = resized(`${piece}_to_grid`, piece, [height, width]);
      parts.push(piece);
    });
  }
  nodes.push({ op: 'concat', name: output, inputs: parts });
  return nodes;
}

/**
 * Inputs: one per layer, named like the layer, [n, C_i, h_i, w_i].
 * Output `features`: [n, h*w, C] (positions row-major, channels last).
 */
export function aggregationGraph(layers: FeatureLayerShape[], aggregation: Aggregation): Uint8Array {
  const g = new GraphBuilder(`aggregate-${aggregation}`);
  const { height, width, channels } = aggregatedShape(layers, aggregation);
  const parts: string[] = [];
  for (const layer of layers) {
    const x = g.input(layer.name, ['n', layer.channels, layer.height, layer.width]);
    const pool = (p: typeof LOCAL_POOL | (typeof SPPM_POOLS)[number]) =>
      g.op('AveragePool', [x], { kernel_shape: [...p.kernel], strides: [...p.stride], pads: [...p.pads], count_include_pad: 1 });
    const pieces = [pool(LOCAL_POOL)];
    if (aggregation === 'sppm') for (const p of SPPM_POOLS) pieces.push(resizeTo(g, pool(p), layer.height, layer.width, layer.channels));
    for (const piece of pieces) {
      parts.push(layer.height === height && layer.width === width ? piece : resizeTo(g, piece, height, width, layer.channels));
    }
  }
  const merged = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 1 });
  const nhwc = g.op('Transpose', [merged], { perm: [0, 2, 3, 1] });
  const rows = g.op('Reshape', [nhwc, g.int64s('rows_shape', [0, height * width, channels])]);
  g.output(rows, 'features', ['n', height * width, channels]);
  return g.toBytes();
}
