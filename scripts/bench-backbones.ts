/**
 * `npm run bench:backbones`: how long the feature stage of one frame takes
 * with each backbone the nsfwjs package ships and each candidate layer pair
 * (backbone + aggregation sessions, as scoring runs them; medians of
 * BENCH_RUNS frames, 224x224 unless the row says otherwise), with the
 * convolution work up to the deeper layer and the patch grid the memory bank
 * is searched on (the nearest-neighbour cost grows with it).
 * Rows of one run are comparable; on a shared machine absolute times move.
 *   BENCH_BACKBONES=mobilenet_v2,inception_v3  only these backbones
 */
import { performance } from 'node:perf_hooks';
import { loadBackbone } from '../models/backbones/registry.ts';
import { FeatureExtractor } from '../models/features/extractor.ts';
import { truncate, type BackboneIR } from '../models/ir.ts';
import { layerShapes } from '../models/onnx/emit-forward.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

/** Candidate layer pairs per backbone (the backbone's default first), and input sizes to time them at. */
const CANDIDATES: { backbone: string; layers: string[]; size: number }[] = [
  { backbone: 'mobilenet_v2', layers: ['block_5_add', 'block_12_add'], size: 224 },
  { backbone: 'mobilenet_v2_mid', layers: ['block_5_add', 'block_12_add'], size: 224 },
  { backbone: 'mobilenet_v2_mid', layers: ['block_5_add', 'block_9_add'], size: 224 },
  { backbone: 'mobilenet_v2_mid', layers: ['block_6_expand_relu', 'block_13_expand_relu'], size: 224 },
  { backbone: 'inception_v3', layers: ['mixed1', 'mixed3'], size: 224 },
  { backbone: 'inception_v3', layers: ['mixed2', 'mixed5'], size: 224 },
  { backbone: 'inception_v3', layers: ['mixed2', 'mixed7'], size: 224 },
  { backbone: 'inception_v3', layers: ['mixed2', 'mixed5'], size: 299 },
];

const runs = Number(process.env.BENCH_RUNS ?? 30);
const only = process.env.BENCH_BACKBONES?.split(',');

/** Multiply-accumulates x 2 of every convolution up to `layers`. */
function convGflop(ir: BackboneIR, layers: string[], size: number): number {
  const net = truncate(ir, layers);
  const shapes = layerShapes(net, [size, size]);
  let macs = 0;
  for (const node of net.nodes) {
    if (node.op !== 'conv') continue;
    const [, inPerGroup, kh, kw] = node.weightShape;
    const [c, h, w] = shapes.get(node.name)!;
    macs += c * h * w * inPerGroup * kh * kw;
  }
  return (2 * macs) / 1e9;
}

const results = [];
for (const c of CANDIDATES.filter((c) => !only || only.includes(c.backbone))) {
  const backbone = await loadBackbone(c.backbone);
  const size = { width: c.size, height: c.size };
  const extractor = await FeatureExtractor.create(backbone, c.layers, size, 'patchcore');
  let seed = 5;
  const image = { data: Float32Array.from({ length: c.size * c.size * 3 }, () => (seed = (seed * 16807) % 2147483647) % 256) };
  for (let i = 0; i < 3; i++) await extractor.extract(image);
  const total: number[] = [];
  const backboneMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const { timings } = await extractor.extract(image);
    total.push(performance.now() - t);
    backboneMs.push(timings.backboneMs);
  }
  const row = {
    backbone: c.backbone,
    layers: c.layers.join('+'),
    size: c.size,
    grid: `${extractor.shape.height}x${extractor.shape.width}`,
    channels: extractor.shape.channels,
    gflop: round(convGflop(backbone.ir!, c.layers, c.size), 2),
    backboneMs: round(median(backboneMs), 1),
    featuresMs: round(median(total), 1),
  };
  results.push(row);
  console.log(
    `${row.backbone.padEnd(17)} ${row.layers.padEnd(42)} ${String(row.size).padStart(3)} px  grid ${row.grid.padEnd(6)} ${String(row.channels).padStart(5)} ch  ` +
      `${row.gflop.toFixed(2)} GFLOP  backbone ${row.backboneMs} ms  features ${row.featuresMs} ms`,
  );
}
writeBenchResult('backbones', { runs, results });
