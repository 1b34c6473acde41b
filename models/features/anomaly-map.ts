/**
 * The anomaly map graph every patch-feature scorer ends in (pure graph
 * emission): patch scores -> bilinear upsampling to the input size ->
 * separable Gaussian blur with reflect padding.
 */
import { GraphBuilder } from '../onnx/graph-builder.ts';
import { gaussianKernel1d } from '../components/gaussian.ts';

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
