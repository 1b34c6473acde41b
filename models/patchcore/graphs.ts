/**
 * The ONNX graphs of the PatchCore scorer (pure graph emission, no I/O):
 *
 * - aggregation: the chosen backbone layers -> one patch feature per position
 *   (3x3 local average, optionally the SPPM pyramid of
 *   papers/stn-registration-memory-bank.txt §3.2.2; deeper layers upsampled to
 *   the shallowest one; channels concatenated) as rows [n, h*w, C];
 * - nearest neighbour: patch rows [P, C] (optionally PCA-reduced to D
 *   dimensions) against the memory bank [M, D] -> exact distance to the
 *   nearest bank feature per patch, as one Gemm
 *   (b^2 - 2 x.b) + ReduceMin + x^2, so the hot loop runs in ONNX Runtime's GEMM;
 * - anomaly map: patch scores -> bilinear upsampling to the input size ->
 *   separable Gaussian blur with reflect padding.
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { gaussianKernel1d } from '../components/gaussian.ts';
import { transposeMatrix } from '../components/matrix.ts';
import type { LayerNode } from '../ir.ts';
import { neighbourIndices } from '../padim/gaussian.ts';

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

function squaredNorms(rows: Float32Array, count: number, dim: number): Float32Array {
  const norms = new Float32Array(count);
  for (let m = 0; m < count; m++) {
    let s = 0;
    for (let c = 0; c < dim; c++) s += rows[m * dim + c]! ** 2;
    norms[m] = s;
  }
  return norms;
}

/** A fixed linear reduction of patch features: (x - mean) . axes, axes [C, D]. */
export interface FeatureReduction {
  mean: Float32Array;
  axes: Float32Array;
}

/**
 * Exact nearest neighbour. Input `features` [q, C] (any number of rows),
 * optionally reduced to D dimensions first; the bank [M, D] is baked in.
 * Output `patchScores` [q]: Euclidean distance to the nearest bank row.
 * `withPenalty` adds an input `penalty` [M] added to every squared distance
 * (a huge value leaves a bank row out, e.g. the rows of the image being scored).
 */
export function nearestNeighbourGraph(bank: Float32Array, bankSize: number, channels: number, reduction?: FeatureReduction, opts: { withPenalty?: boolean } = {}): Uint8Array {
  const g = new GraphBuilder('nearest-neighbour');
  const { x, partial } = emitBankDistances(g, bank, bankSize, channels, reduction);
  const penalised = opts.withPenalty ? g.op('Add', [partial, g.input('penalty', [bankSize])]) : partial;
  const minPartial = g.op('ReduceMin', [penalised], { axes: [1], keepdims: 0 });
  const xNorm = g.op('ReduceSumSquare', [x], { axes: [1], keepdims: 0 });
  const squared = g.op('Relu', [g.op('Add', [minPartial, xNorm])]);
  g.output(g.op('Sqrt', [squared]), 'patchScores', ['q']);
  return g.toBytes();
}

/**
 * The `count` nearest bank rows of every patch. Input `features` [q, C];
 * output `indices` [q, count] (int64, nearest first).
 */
export function nearestCandidatesGraph(bank: Float32Array, bankSize: number, channels: number, count: number, reduction?: FeatureReduction): Uint8Array {
  const g = new GraphBuilder('nearest-candidates');
  const { partial } = emitBankDistances(g, bank, bankSize, channels, reduction);
  const k = g.int64s('k', [Math.min(count, bankSize)]);
  const [, indices] = g.node('TopK', [partial, k], { axis: 1, largest: 0, sorted: 1 }, 2);
  g.output(indices!, 'indices', ['q', Math.min(count, bankSize)], 'int64');
  return g.toBytes();
}

/** Input `features` [q, C] -> (reduced) rows x and partial[p, m] = |b_m|^2 - 2 x_p . b_m. */
function emitBankDistances(g: GraphBuilder, bank: Float32Array, bankSize: number, channels: number, reduction?: FeatureReduction) {
  const dim = reduction ? reduction.axes.length / channels : channels;
  if (bank.length !== bankSize * dim) throw new Error(`memory bank holds ${bank.length} values, expected ${bankSize} x ${dim}`);
  let x = g.input('features', ['q', channels]);
  if (reduction) x = g.op('MatMul', [g.op('Sub', [x, g.initializer('reduction_mean', reduction.mean, [channels])]), g.initializer('reduction_axes', reduction.axes, [channels, dim])]);
  const bT = g.initializer('bank_t', transposeMatrix(bank, bankSize, dim), [dim, bankSize]);
  const bNorm = g.initializer('bank_sq_norm', squaredNorms(bank, bankSize, dim), [bankSize]);
  // The |x_p|^2 term is the same for every bank row: added after the min, when needed.
  const partial = g.op('Gemm', [x, bT, bNorm], { alpha: { f: -2 }, beta: { f: 1 } });
  return { x, partial };
}

/** Input `patchScores` [h*w]; output `map` [H, W], bilinear upsampling then Gaussian blur. */
export function anomalyMapGraph(grid: { height: number; width: number }, image: { height: number; width: number }, sigma: number): Uint8Array {
  const g = new GraphBuilder('anomaly-map');
  const scores = g.input('patchScores', [grid.height * grid.width]);
  const small = g.op('Reshape', [scores, g.int64s('grid_shape', [1, 1, grid.height, grid.width])]);
  let map = g.op('Resize', [small, '', '', g.int64s('image_shape', [1, 1, image.height, image.width])], {
    mode: 'linear',
    coordinate_transformation_mode: 'half_pixel',
  });
  if (sigma > 0) {
    const taps = gaussianKernel1d(sigma);
    const radius = (taps.length - 1) / 2;
    if (radius >= Math.min(image.height, image.width)) throw new Error(`gaussian sigma ${sigma} is too large for a ${image.width}x${image.height} image`);
    const padded = g.op('Pad', [map, g.int64s('pads', [0, 0, radius, radius, 0, 0, radius, radius])], { mode: 'reflect' });
    const rowsBlurred = g.op('Conv', [padded, g.initializer('gauss_h', taps, [1, 1, 1, taps.length])]);
    map = g.op('Conv', [rowsBlurred, g.initializer('gauss_v', taps, [1, 1, taps.length, 1])]);
  }
  const out = g.op('Reshape', [map, g.int64s('out_shape', [image.height, image.width])]);
  g.output(out, 'map', [image.height, image.width]);
  return g.toBytes();
}

/**
 * PaDiM's scoring graph (models/padim/gaussian.ts): input `features` [P, C]
 * (one row per position, in grid order), optionally PCA-reduced to D, output
 * `patchScores` [P]: the Mahalanobis distance of each row to its position's
 * Gaussian, sqrt((x - mu)^T S^-1 (x - mu)), as one batched MatMul.
 */
export function mahalanobisGraph(
  gaussians: { positions: number; dim: number; mean: Float32Array; precision: Float32Array },
  channels: number,
  reduction?: FeatureReduction,
  tolerance?: { grid: { width: number; height: number }; cells: number },
): Uint8Array {
  const { positions, dim } = gaussians;
  const g = new GraphBuilder('padim-mahalanobis');
  let x = g.input('features', [positions, channels]);
  if (reduction) x = g.op('MatMul', [g.op('Sub', [x, g.initializer('reduction_mean', reduction.mean, [channels])]), g.initializer('reduction_axes', reduction.axes, [channels, dim])]);
  const mean = g.initializer('padim_mean', gaussians.mean, [positions, dim]);
  const precision = g.initializer('padim_precision', gaussians.precision, [positions, dim, dim]);
  const rowShape = g.int64s('row_shape', [positions, 1, dim]);
  const axes = g.int64s('axes', [1, 2]);
  /** Squared Mahalanobis distance of every position's row of `features` to that position's Gaussian. */
  const quadratic = (features: string) => {
    const row = g.op('Reshape', [g.op('Sub', [features, mean]), rowShape]);
    return g.op('ReduceSum', [g.op('Mul', [g.op('MatMul', [row, precision]), row]), axes], { keepdims: 0 });
  };
  let best = quadratic(x);
  const r = tolerance?.cells ?? 0;
  if (r > 0) {
    const { width, height } = tolerance!.grid;
    if (width * height !== positions) throw new Error(`PaDiM tolerance: a ${width}x${height} grid does not hold ${positions} positions`);
    const candidates = [best];
    for (let dy = -r; dy <= r; dy++)
      for (let dx = -r; dx <= r; dx++) {
        if (dx === 0 && dy === 0) continue;
        const idx = g.int64s(`neighbour_${dx}_${dy}`, Array.from(neighbourIndices(width, height, dx, dy)));
        candidates.push(quadratic(g.op('Gather', [x, idx], { axis: 0 })));
      }
    best = g.op('Min', candidates);
  }
  g.output(g.op('Sqrt', [g.op('Relu', [best])]), 'patchScores', [positions]);
  return g.toBytes();
}
