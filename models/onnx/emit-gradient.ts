/**
 * Emits input-gradient graphs from the layer IR: the vector-Jacobian product
 * of the network, so F2PAD can push a feature-space loss back to the pixels
 * inside ONNX Runtime (tfjs autodiff is far too slow for this on a CPU).
 *
 * The graph recomputes the forward pass (keeping what the backward pass needs:
 * activations for the ReLU masks, max-pool argmax indices) and then walks the
 * nodes in reverse:
 *   conv      -> ConvTranspose with the same weights, strides, pads, dilation
 *                and groups (depthwise included), output padding chosen so the
 *                gradient has the input's size;
 *   relu(6)   -> the gradient where the activation is not saturated;
 *   add       -> the gradient to both inputs (fan-out gradients are summed);
 *   pad       -> the inner crop of the gradient;
 *   maxpool   -> the gradient scattered (summed) onto the argmax pixels;
 *   avgpool   -> a depthwise ConvTranspose of ones on the gradient divided by
 *                each window's pixel count;
 *   concat    -> the gradient split along channels;
 *   resize    -> the transposed interpolation matrices, A_h^T G A_w;
 *   preprocessing -> the channel scale, back to NHWC pixel units.
 * Every rule is checked against finite differences in test/unit/emit-gradient.test.ts.
 */
import { GraphBuilder } from './graph-builder.ts';
import { emitLayers, emitPreprocess, layerShapes, preprocessScale, type EmittedLayers } from './emit-forward.ts';
import { truncate, type BackboneIR, type LayerNode } from '../ir.ts';
import { transposeMatrix } from '../components/matrix.ts';

type Shape = [number, number, number];

/**
 * Interpolation matrix [outSize, inSize] of ONNX Resize along one axis with
 * coordinate_transformation_mode half_pixel, as ONNX Runtime computes it:
 * source = (dst + 0.5) / scale - 0.5, linear weights between the two nearest
 * source pixels (clamped at the borders), nearest rounding half down.
 */
export function resizeMatrix(inSize: number, outSize: number, mode: 'bilinear' | 'nearest'): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = outSize / inSize;
  for (let o = 0; o < outSize; o++) {
    const src = (o + 0.5) / scale - 0.5;
    if (mode === 'nearest') {
      const f = Math.floor(src);
      const idx = src - f === 0.5 ? f : Math.round(src);
      m[o * inSize + Math.min(inSize - 1, Math.max(0, idx))] = 1;
      continue;
    }
    const s = Math.max(0, src);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const frac = s - i0;
    m[o * inSize + i0] = m[o * inSize + i0]! + 1 - frac;
    m[o * inSize + i1] = m[o * inSize + i1]! + frac;
  }
  return m;
}

/** ConvTranspose output padding that gives back exactly `size` along one axis. */
function outputPadding(size: number, outSize: number, kernel: number, stride: number, dilation: number, padBegin: number, padEnd: number): number {
  const op = size - (stride * (outSize - 1) + dilation * (kernel - 1) + 1 - padBegin - padEnd);
  if (op < 0 || op >= Math.max(stride, dilation)) throw new Error(`cannot invert a window of ${kernel} stride ${stride} from ${outSize} back to ${size}`);
  return op;
}

/** Pixels of each pooling window that are real input (not padding), [oh * ow]. */
function windowCounts(h: number, w: number, oh: number, ow: number, kernel: [number, number], stride: [number, number], pads: [number, number, number, number]): Float32Array {
  const counts = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const y0 = y * stride[0] - pads[0];
    const rows = Math.min(y0 + kernel[0], h) - Math.max(y0, 0);
    for (let x = 0; x < ow; x++) {
      const x0 = x * stride[1] - pads[1];
      const cols = Math.min(x0 + kernel[1], w) - Math.max(x0, 0);
      counts[y * ow + x] = Math.max(0, rows) * Math.max(0, cols);
    }
  }
  return counts;
}

/**
 * Emits the backward pass of `net` (already emitted forward as `fwd`), seeded
 * with gradients at some of its values; returns the gradient at `net.input`
 * (NCHW, batch 1). `onGradient` sees the complete gradient at every node's
 * output on the way (saliency maps read the layers they need from it).
 */
export function emitLayersGradient(
  g: GraphBuilder,
  net: BackboneIR,
  fwd: EmittedLayers,
  shapes: Map<string, Shape>,
  seeds: Map<string, string>,
  onGradient?: (name: string, grad: string) => void,
): string {
  const pending = new Map<string, string[]>();
  const push = (name: string, grad: string) => pending.set(name, [...(pending.get(name) ?? []), grad]);
  for (const [name, grad] of seeds) push(name, grad);
  const take = (name: string): string | undefined => {
    const parts = pending.get(name);
    if (!parts) return undefined;
    pending.delete(name);
    return parts.reduce((sum, p) => g.op('Add', [sum, p], {}, `${name}_grad_sum`));
  };
  const value = (name: string) => fwd.values.get(name)!;
  const shape = (name: string) => shapes.get(name)!;
  const zero = g.floats('grad_zero', new Float32Array([0]), []);

  for (const n of [...net.nodes].reverse() as LayerNode[]) {
    const gy = take(n.name);
    if (!gy) continue;
    onGradient?.(n.name, gy);
    switch (n.op) {
      case 'conv': {
        const { input, pads } = fwd.convInputs.get(n.name)!;
        const [, h, w] = shape(input);
        const [, oh, ow] = shape(n.name);
        const [, , kh, kw] = n.weightShape;
        const outPad = [
          outputPadding(h, oh, kh, n.stride[0], n.dilation[0], pads[0], pads[2]),
          outputPadding(w, ow, kw, n.stride[1], n.dilation[1], pads[1], pads[3]),
        ];
        const weight = g.initializer(`${n.name}_wt`, n.weight, n.weightShape);
        push(
          input,
          g.op('ConvTranspose', [gy, weight], { kernel_shape: [kh, kw], strides: n.stride, pads, dilations: n.dilation, group: n.group, output_padding: outPad }, `${n.name}_grad`),
        );
        break;
      }
      case 'relu':
        push(n.input, g.op('Where', [g.op('Greater', [value(n.name), zero]), gy, zero], {}, `${n.name}_grad`));
        break;
      case 'relu6': {
        const x = value(n.input);
        const open = g.op('And', [g.op('Greater', [x, zero]), g.op('Less', [x, g.floats('grad_six', new Float32Array([6]), [])])]);
        push(n.input, g.op('Where', [open, gy, zero], {}, `${n.name}_grad`));
        break;
      }
      case 'add':
        push(n.inputs[0], gy);
        push(n.inputs[1], gy);
        break;
      case 'pad': {
        const [, h, w] = shape(n.input);
        const starts = g.int64s('starts', [n.pads[0], n.pads[1]]);
        const ends = g.int64s('ends', [n.pads[0] + h, n.pads[1] + w]);
        push(n.input, g.op('Slice', [gy, starts, ends, g.int64s('axes', [2, 3])], {}, `${n.name}_grad`));
        break;
      }
      case 'maxpool': {
        const indices = fwd.poolIndices.get(n.name);
        if (!indices) throw new Error(`max pool ${n.name} was emitted without its indices`);
        const [c, h, w] = shape(n.input);
        const flat = g.int64s('flat', [-1]);
        const zeros = g.op('ConstantOfShape', [g.int64s('zeros_shape', [c * h * w])], {});
        const scattered = g.op('ScatterElements', [zeros, g.op('Reshape', [indices, flat]), g.op('Reshape', [gy, flat])], { axis: 0, reduction: 'add' });
        push(n.input, g.op('Reshape', [scattered, g.int64s('shape', [1, c, h, w])], {}, `${n.name}_grad`));
        break;
      }
      case 'avgpool': {
        const [c, h, w] = shape(n.input);
        const [, oh, ow] = shape(n.name);
        const counts = n.countIncludePad
          ? new Float32Array(oh * ow).fill(n.kernel[0] * n.kernel[1])
          : windowCounts(h, w, oh, ow, n.kernel, n.stride, n.pads);
        const perWindow = g.op('Div', [gy, g.initializer(`${n.name}_counts`, counts, [1, 1, oh, ow])]);
        const ones = g.initializer(`${n.name}_ones`, new Float32Array(c * n.kernel[0] * n.kernel[1]).fill(1), [c, 1, n.kernel[0], n.kernel[1]]);
        const outPad = [
          outputPadding(h, oh, n.kernel[0], n.stride[0], 1, n.pads[0], n.pads[2]),
          outputPadding(w, ow, n.kernel[1], n.stride[1], 1, n.pads[1], n.pads[3]),
        ];
        push(
          n.input,
          g.op('ConvTranspose', [perWindow, ones], { kernel_shape: n.kernel, strides: n.stride, pads: n.pads, group: c, output_padding: outPad }, `${n.name}_grad`),
        );
        break;
      }
      case 'concat': {
        const sizes = n.inputs.map((i) => shape(i)[0]);
        const parts = g.node('Split', [gy, g.int64s('split', sizes)], { axis: 1 }, n.inputs.length, `${n.name}_grad`);
        n.inputs.forEach((i, k) => push(i, parts[k]!));
        break;
      }
      case 'resize': {
        const [, ih, iw] = shape(n.input);
        const [oh, ow] = n.size;
        // y = A_h x A_w^T per channel, so dx = A_h^T dy A_w.
        const ahT = g.initializer(`${n.name}_ah_t`, transposeMatrix(resizeMatrix(ih, oh, n.mode), oh, ih), [ih, oh]);
        const aw = g.initializer(`${n.name}_aw`, resizeMatrix(iw, ow, n.mode), [ow, iw]);
        push(n.input, g.op('MatMul', [g.op('MatMul', [ahT, gy]), aw], {}, `${n.name}_grad`));
        break;
      }
    }
  }
  const grad = take(net.input);
  if (!grad) throw new Error(`backbone ${net.id}: no gradient reaches the input`);
  const leftover = [...pending.keys()];
  if (leftover.length > 0) throw new Error(`backbone ${net.id}: gradients left at ${leftover.join(', ')}`);
  return grad;
}

/** NCHW input gradient -> gradient with respect to the NHWC 0..255 pixels. */
export function emitPreprocessGradient(g: GraphBuilder, gradNchw: string, preprocess: BackboneIR['preprocess']): string {
  const nhwc = g.op('Transpose', [gradNchw], { perm: [0, 2, 3, 1] });
  return g.op('Mul', [nhwc, g.floats('pre_scale_t', preprocessScale(preprocess), [3])]);
}

export interface GradientGraphOptions {
  outputs: string[];
  inputSize: [number, number];
}

/**
 * The input-gradient graph of a backbone: inputs `image` [1, H, W, 3]
 * (RGB 0..255) and `grad_<layer>` [1, C, h, w] per requested layer; outputs the
 * layers themselves and `grad_image` [1, H, W, 3] = sum over layers of
 * grad_<layer> . d<layer>/d image.
 */
export function emitInputGradient(ir: BackboneIR, opts: GradientGraphOptions): Uint8Array {
  const net = truncate(ir, opts.outputs);
  const shapes = layerShapes(net, opts.inputSize);
  const [h, w] = opts.inputSize;
  const g = new GraphBuilder(`${ir.id}-input-gradient`);
  const image = g.input('image', [1, h, w, 3]);
  const fwd = emitLayers(g, net, emitPreprocess(g, image, ir.preprocess), shapes, { keep: opts.outputs, withPoolIndices: true });
  const seeds = new Map<string, string>();
  for (const name of opts.outputs) {
    const [c, oh, ow] = shapes.get(name)!;
    seeds.set(name, g.input(`grad_${name}`, [1, c, oh, ow]));
    g.output(fwd.values.get(name)!, name, [1, c, oh, ow]);
  }
  const grad = emitLayersGradient(g, net, fwd, shapes, seeds);
  g.output(emitPreprocessGradient(g, grad, ir.preprocess), 'grad_image', [1, h, w, 3]);
  return g.toBytes();
}
