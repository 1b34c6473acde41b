/**
 * The F2PAD feature objective as one ONNX graph (pure graph emission):
 *
 *   L(x) = sum_p w_p * min_k | e_p(x) - c_pk |
 *
 * where e_p(x) is the (PCA-reduced) patch feature at grid position p of image
 * x, c_pk are the few candidate bank features chosen for p at the initial
 * estimate and w_p selects the positions the refined region touches
 * (papers/f2pad.txt §III). The graph returns L, the per-position distances and
 * dL/dx: the forward pass of backbone + aggregation, then the hand-derived
 * adjoint of the distance (w_p (e_p - c*_p) / |e_p - c*_p|, through the PCA
 * axes) fed into the backbone's input-gradient pass (models/onnx/emit-gradient.ts).
 *
 * Inputs: `image` [1, H, W, 3] (RGB 0..255), `candidates` [P, K, D],
 * `weights` [P]. Outputs: `loss` [1], `distances` [P], `grad_image` [1, H, W, 3].
 */
import { truncate, type BackboneIR } from '../ir.ts';
import { transposeMatrix } from '../components/matrix.ts';
import { emitLayers, emitPreprocess, layerShapes } from '../onnx/emit-forward.ts';
import { emitLayersGradient, emitPreprocessGradient } from '../onnx/emit-gradient.ts';
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { aggregatedShape, aggregationNodes, type Aggregation, type FeatureLayerShape } from '../features/aggregation.ts';
import type { FeatureReduction } from '../features/reduction.ts';

export interface ObjectiveGraphOptions {
  layers: FeatureLayerShape[];
  aggregation: Aggregation;
  /** [height, width] of the image. */
  inputSize: [number, number];
  /** Candidate bank features per position. */
  candidates: number;
  reduction?: FeatureReduction;
}

const FEATURES = 'patch_features';

export function f2padObjectiveGraph(ir: BackboneIR, opts: ObjectiveGraphOptions): Uint8Array {
  const backbone = truncate(
    ir,
    opts.layers.map((l) => l.name),
  );
  const net: BackboneIR = { ...backbone, nodes: [...backbone.nodes, ...aggregationNodes(opts.layers, opts.aggregation, FEATURES)] };
  const shapes = layerShapes(net, opts.inputSize);
  const { channels, height, width } = aggregatedShape(opts.layers, opts.aggregation);
  const positions = height * width;
  const dim = opts.reduction ? opts.reduction.axes.length / channels : channels;
  const [h, w] = opts.inputSize;
  const k = opts.candidates;

  const g = new GraphBuilder(`${ir.id}-f2pad-objective`);
  const image = g.input('image', [1, h, w, 3]);
  const candidates = g.input('candidates', [positions, k, dim]);
  const weights = g.input('weights', [positions]);
  const fwd = emitLayers(g, net, emitPreprocess(g, image, net.preprocess), shapes, { keep: [FEATURES], withPoolIndices: true });

  // Forward: rows [P, C] -> reduced [P, D] -> distance to the nearest candidate.
  const nhwc = g.op('Transpose', [fwd.values.get(FEATURES)!], { perm: [0, 2, 3, 1] });
  let rows = g.op('Reshape', [nhwc, g.int64s('rows_shape', [positions, channels])]);
  if (opts.reduction) {
    rows = g.op('MatMul', [g.op('Sub', [rows, g.initializer('reduction_mean', opts.reduction.mean, [channels])]), g.initializer('reduction_axes', opts.reduction.axes, [channels, dim])]);
  }
  const diff = g.op('Sub', [g.op('Unsqueeze', [rows, g.int64s('axis1', [1])]), candidates]); // [P, K, D]
  const squared = g.op('ReduceSumSquare', [diff], { axes: [2], keepdims: 0 }); // [P, K]
  const nearest = g.op('ReduceMin', [squared], { axes: [1], keepdims: 1 }); // [P, 1]
  const distance = g.op('Sqrt', [g.op('Add', [nearest, g.floats('eps', [1e-8], [])])]); // [P, 1]
  const flat = g.op('Reshape', [distance, g.int64s('flat', [positions])]);
  g.output(flat, 'distances', [positions]);
  g.output(g.op('ReduceSum', [g.op('Mul', [flat, weights]), g.int64s('all', [0])], { keepdims: 1 }), 'loss', [1]);

  // Backward: dL/de_p = w_p (e_p - c*_p) / |e_p - c*_p| (ties share the gradient).
  const isNearest = g.op('Cast', [g.op('Equal', [squared, nearest])], { to: 1 }); // [P, K]
  const ties = g.op('ReduceSum', [isNearest, g.int64s('axis1b', [1])], { keepdims: 1 }); // [P, 1]
  const towardNearest = g.op('ReduceSum', [g.op('Mul', [diff, g.op('Unsqueeze', [isNearest, g.int64s('axis2', [2])])]), g.int64s('axis1c', [1])], { keepdims: 0 }); // [P, D]
  const scale = g.op('Div', [g.op('Unsqueeze', [weights, g.int64s('axis1d', [1])]), g.op('Mul', [distance, ties])]); // [P, 1]
  let gradRows = g.op('Mul', [towardNearest, scale]);
  if (opts.reduction) gradRows = g.op('MatMul', [gradRows, g.initializer('reduction_axes_t', transposeMatrix(opts.reduction.axes, channels, dim), [dim, channels])]);
  const gradNhwc = g.op('Reshape', [gradRows, g.int64s('grid_shape', [1, height, width, channels])]);
  const seed = g.op('Transpose', [gradNhwc], { perm: [0, 3, 1, 2] });
  const grad = emitLayersGradient(g, net, fwd, shapes, new Map([[FEATURES, seed]]));
  g.output(emitPreprocessGradient(g, grad, net.preprocess), 'grad_image', [1, h, w, 3]);
  return g.toBytes();
}
