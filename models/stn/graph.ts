/**
 * The runtime's alignment graph (pure graph emission): frame [1, H, W, 3]
 * (RGB 0..255, the pipeline's layout) -> localisation net -> similarity
 * parameters -> sampling grid -> GridSample (bilinear, border padding,
 * align_corners 0) -> the frame in the product's canonical pose, same layout.
 * The product's framing (models/stn/framing.ts) is composed last. Runs in
 * ONNX Runtime before the backbone; outputs `aligned` and `pose` (framing
 * included: the sampling matrix from the frame to what is scored).
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { CONV_KERNELS, INPUT_FACTOR, type LocalisationShape, type LocalisationWeights } from './localisation-net.ts';
import { IDENTITY, scaleBounds, type Similarity } from './pose.ts';

/** [k, k, in, out] -> ONNX's [out, in, k, k]. */
function onnxKernel(kernel: Float32Array, k: number, inC: number, outC: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let ky = 0; ky < k; ky++)
    for (let kx = 0; kx < k; kx++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++) out[((o * inC + i) * k + ky) * k + kx] = kernel[((ky * k + kx) * inC + i) * outC + o]!;
  return out;
}

/** Normalised output pixel centres as rows [x, y, 1], [H*W, 3]. */
export function baseGrid(width: number, height: number): Float32Array {
  const grid = new Float32Array(width * height * 3);
  for (let j = 0; j < height; j++)
    for (let i = 0; i < width; i++) {
      const o = (j * width + i) * 3;
      grid[o] = (2 * i + 1) / width - 1;
      grid[o + 1] = (2 * j + 1) / height - 1;
      grid[o + 2] = 1;
    }
  return grid;
}

/** [a, b, tx, ty] . TO_MATRIX + MATRIX_ONE = [a, -b, tx, b, a, ty, 0, 0, 1]: the [3, 3] homogeneous sampling matrix. */
const TO_MATRIX = (() => {
  const k = new Float32Array(4 * 9);
  k[0 * 9 + 0] = 1;
  k[0 * 9 + 4] = 1;
  k[1 * 9 + 1] = -1;
  k[1 * 9 + 3] = 1;
  k[2 * 9 + 2] = 1;
  k[3 * 9 + 5] = 1;
  return k;
})();
const MATRIX_ONE = [0, 0, 0, 0, 0, 0, 0, 0, 1];

const sample = (g: GraphBuilder, image: string, grid: string) => g.op('GridSample', [image, grid], { mode: 'bilinear', padding_mode: 'border', align_corners: 0 });

/**
 * The localisation net runs PASSES times: each pass looks at the part as the
 * passes before aligned it (on the pooled image) and corrects what is left;
 * the poses are composed and the frame is sampled once, so it is never
 * blurred twice. On pose-varied pcb boards (full turns) four passes halve the
 * median angle error of two (2.3 -> 1.2 deg); each pass costs ~0.2 ms.
 */
export const PASSES = 4;

/**
 * `scaleRange`: the size change the transformer was trained to undo (pose
 * ranges' scale). After every pass the composed pose's scale is clamped to
 * what that range allows: a part's size on a fixed camera barely varies, and
 * a scale error left free compounds over the passes (a board zoomed 1.3x
 * scores as a defect everywhere).
 */
export function alignmentGraph(inputSize: { width: number; height: number }, shape: LocalisationShape, w: LocalisationWeights, scaleRange: number, framing: Similarity = IDENTITY): Uint8Array {
  const { width, height } = inputSize;
  const g = new GraphBuilder('linesight_stn_align');
  const image = g.input('image', [1, height, width, 3]);
  const nchw = g.op('Transpose', [image], { perm: [0, 3, 1, 2] });
  const pooled = g.op('AveragePool', [nchw], { kernel_shape: [INPUT_FACTOR, INPUT_FACTOR], strides: [INPUT_FACTOR, INPUT_FACTOR] });
  const [ph, pw] = shape.input;

  // Constants and weights are stored once and shared by every pass.
  const inv255 = g.floats('inv255', [1 / 255]);
  const half = g.floats('half', [0.5]);
  let inC = 3;
  const convs = w.conv.map((c, i) => {
    const outC = shape.convs[i]![2];
    const k = CONV_KERNELS[i]!;
    const weights = { w: g.floats(`conv${i}_w`, onnxKernel(c.kernel, k, inC, outC), [outC, inC, k, k]), b: g.floats(`conv${i}_b`, c.bias), k };
    inC = outC;
    return weights;
  });
  const hiddenW = g.floats('hidden_w', w.hidden.weight, [shape.flat, shape.hidden]);
  const hiddenB = g.floats('hidden_b', w.hidden.bias);
  const poseW = g.floats('pose_w', w.pose.weight, [shape.hidden, 4]);
  const poseB = g.floats('pose_b', w.pose.bias);
  const toMatrix = g.floats('to_matrix', TO_MATRIX, [4, 9]);
  const matrixOne = g.floats('matrix_one', MATRIX_ONE);
  const matrixShape = g.int64s('matrix_shape', [3, 3]);
  const pooledGrid = g.floats('pooled_grid', baseGrid(pw, ph), [pw * ph, 3]);
  const frameGrid = g.floats('frame_grid', baseGrid(width, height), [width * height, 3]);
  const xyStart = g.int64s('xy_start', [0]);
  const xyEnd = g.int64s('xy_end', [2]);
  const xyAxis = g.int64s('xy_axis', [1]);
  const [scaleLo, scaleHi] = scaleBounds(scaleRange);
  const scaleMin = g.floats('scale_min', [scaleLo]);
  const scaleMax = g.floats('scale_max', [scaleHi]);
  const one = g.floats('one', [1]);
  const sumPair = g.floats('sum_pair', [1, 1], [2, 1]);
  const linearPart = g.floats('linear_part', [1, 1, 0, 1, 1, 0, 0, 0, 0], [3, 3]);
  const flat9 = g.int64s('flat9', [1, 9]);
  const scaleEntries = g.int64s('scale_entries', [0, 3]);

  /** Sampling matrix [3, 3] the localisation net finds for a pooled image. */
  const localise = (input: string) => {
    let x = g.op('Sub', [g.op('Mul', [input, inv255]), half]);
    for (const c of convs) x = g.op('Relu', [g.op('Conv', [x, c.w, c.b], { kernel_shape: [c.k, c.k], strides: [2, 2] })]);
    // Flatten in NHWC order, as the dense weights were trained.
    const flat = g.op('Flatten', [g.op('Transpose', [x], { perm: [0, 2, 3, 1] })], { axis: 1 });
    const pose = g.op('Gemm', [g.op('Relu', [g.op('Gemm', [flat, hiddenW, hiddenB])]), poseW, poseB]);
    return g.op('Reshape', [g.op('Add', [g.op('MatMul', [pose, toMatrix]), matrixOne]), matrixShape]);
  };
  /** Sampling grid [1, h, w, 2] of a matrix over a base grid. */
  const samplingGrid = (matrix: string, base: string, w: number, h: number) => {
    const points = g.op('MatMul', [base, g.op('Transpose', [matrix], { perm: [1, 0] })]);
    return g.op('Reshape', [g.op('Slice', [points, xyStart, xyEnd, xyAxis]), g.int64s('grid_shape', [1, h, w, 2])]);
  };

  /** The matrix with its scale sqrt(a^2 + b^2) clamped to [scaleMin, scaleMax] (clampScale in pose.ts). */
  const clampedScale = (matrix: string) => {
    const ab = g.op('Gather', [g.op('Reshape', [matrix, flat9]), scaleEntries], { axis: 1 });
    const scale = g.op('Sqrt', [g.op('MatMul', [g.op('Mul', [ab, ab]), sumPair])]);
    const factor = g.op('Div', [g.op('Max', [g.op('Min', [scale, scaleMax]), scaleMin]), scale]);
    return g.op('Add', [matrix, g.op('Mul', [g.op('Mul', [matrix, linearPart]), g.op('Sub', [factor, one])])]);
  };

  let matrix = clampedScale(localise(pooled));
  for (let pass = 1; pass < PASSES; pass++) {
    const view = sample(g, pooled, samplingGrid(matrix, pooledGrid, pw, ph));
    matrix = clampedScale(g.op('MatMul', [matrix, localise(view)]));
  }
  // The framing (models/stn/framing.ts) after the canonical pose: the part turned square and zoomed onto.
  const [fa, fb, ftx, fty] = framing;
  matrix = g.op('MatMul', [matrix, g.floats('framing', [fa, -fb, ftx, fb, fa, fty, 0, 0, 1], [3, 3])]);
  const sampled = sample(g, nchw, samplingGrid(matrix, frameGrid, width, height));
  g.output(g.op('Transpose', [sampled], { perm: [0, 2, 3, 1] }), 'aligned', [1, height, width, 3]);
  // [a, b, tx, ty] of the composed pose: matrix entries 0, 3, 2, 5.
  const pose = g.op('Reshape', [g.op('Gather', [g.op('Reshape', [matrix, flat9]), g.int64s('pose_entries', [0, 3, 2, 5])], { axis: 1 }), g.int64s('pose_shape', [1, 4])]);
  g.output(pose, 'pose', [1, 4]);
  return g.toBytes();
}
