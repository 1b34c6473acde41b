/** Tiny random networks in the layer IR, for graph emitter tests. */
import type { BackboneIR, ConvNode, LayerNode } from '../../models/ir.ts';

/** A seeded generator of floats in (0, 1). */
export function lcg(seed: number) {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** A convolution with random weights and bias ("same" padding unless `extra` says otherwise). */
export function conv(name: string, input: string, cin: number, cout: number, k: number, rnd: () => number, extra: Partial<ConvNode> = {}): ConvNode {
  const group = extra.group ?? 1;
  const weight = Float32Array.from({ length: cout * (cin / group) * k * k }, () => (rnd() - 0.5) * 0.8);
  const p = Math.floor(k / 2);
  return {
    op: 'conv',
    name,
    input,
    weight,
    weightShape: [cout, cin / group, k, k],
    bias: Float32Array.from({ length: cout }, () => rnd() - 0.5),
    stride: [1, 1],
    pads: [p, p, p, p],
    dilation: [1, 1],
    group,
    ...extra,
  };
}

/** A network reading `x` with these nodes. */
export function net(nodes: LayerNode[]): BackboneIR {
  return { id: 'tiny', input: 'x', preprocess: { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] }, nodes, featureLayers: [] };
}
