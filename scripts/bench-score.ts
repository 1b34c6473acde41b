/**
 * `npm run bench:score`: how fast one 224x224 image is scored with the default
 * backbone, for memory banks of 1 % and 10 % coreset, split into backbone /
 * aggregation / nearest neighbour / map (medians), plus this machine's GEMM
 * throughput through ONNX Runtime and the backbone's achieved FLOP rate, so the
 * distance to the hardware limit is visible. Also times the enrollment of 60
 * golden samples. Golden and test images come from the development set
 * (generated when missing).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { loadBackbone } from '../models/backbones/registry.ts';
import { GraphBuilder } from '../models/onnx/graph-builder.ts';
import { truncate, type BackboneIR } from '../models/ir.ts';
import { layerShapes } from '../models/onnx/emit-forward.ts';
import { createSession } from '../models/session.ts';
import { readImage } from '../product/image-io.ts';
import { ProductScorer } from '../product/scorer.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { median, peakRssMb, round, writeBenchResult } from './bench-common.ts';

const devset = process.env.LINESIGHT_DEVSET ?? '.devset';
const category = process.env.BENCH_CATEGORY ?? 'pcb';
const runs = Number(process.env.BENCH_RUNS ?? 50);

if (!existsSync(join(devset, category))) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/make-devset.ts', '--out', devset, '--categories', category], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(1);
}

/** Multiply-accumulates of every convolution in the truncated backbone. */
function convFlops(ir: BackboneIR, layers: string[], size: number): number {
  const shapes = layerShapes(truncate(ir, layers), [size, size]);
  let macs = 0;
  for (const node of truncate(ir, layers).nodes) {
    if (node.op !== 'conv') continue;
    const [, inPerGroup, kh, kw] = node.weightShape;
    const out = shapes.get(node.name)!;
    macs += out[0] * out[1] * out[2] * inPerGroup * kh * kw;
  }
  return 2 * macs;
}

async function gemmGflops(): Promise<number> {
  const n = 1024;
  const g = new GraphBuilder('gemm');
  const a = g.input('a', [n, n]);
  const b = g.floats('b', Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000), [n, n]);
  g.output(g.op('Gemm', [a, b]), 'c', [n, n]);
  const s = await createSession(g.toBytes());
  const feed = { a: new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000), [n, n]) };
  for (let i = 0; i < 3; i++) await s.run(feed);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t = performance.now();
    await s.run(feed);
    times.push(performance.now() - t);
  }
  return (2 * n ** 3) / (median(times) / 1000) / 1e9;
}

const inference = inferenceSettingsSchema.parse({});
const golden = join(devset, category, 'train', 'good');
const testDir = join(devset, category, 'test');
const testImages = readdirSync(testDir).flatMap((type) => readdirSync(join(testDir, type)).map((f) => join(testDir, type, f)));
const results = [];
let backboneGflops = NaN;
let enrollSeconds = NaN;
for (const coreset of [0.01, 0.1]) {
  const dataDir = await mkdtemp(join(tmpdir(), 'linesight-bench-'));
  const settings = enrollSettingsSchema.parse({ coresetRatio: coreset });
  const t0 = performance.now();
  const enrolled = await enrollProduct({ productId: 'bench', imagesDir: golden, dataDir, settings, inference });
  const enrollS = (performance.now() - t0) / 1000;
  if (coreset === 0.1) enrollSeconds = enrollS;
  const scorer = await ProductScorer.load(dataDir, 'bench', inference);
  const images = await Promise.all(testImages.slice(0, 10).map((p) => readImage(p, scorer.inputSize)));
  for (let i = 0; i < 5; i++) await scorer.score(images[i % images.length]!);
  const t = { totalMs: [] as number[], backboneMs: [] as number[], aggregateMs: [] as number[], knnMs: [] as number[], mapMs: [] as number[], wallMs: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const w = performance.now();
    const r = await scorer.score(images[i % images.length]!);
    t.wallMs.push(performance.now() - w);
    for (const k of ['totalMs', 'backboneMs', 'aggregateMs', 'knnMs', 'mapMs'] as const) t[k].push(r.timings[k]);
  }
  const msPerImage = median(t.wallMs);
  const row = {
    coreset,
    bankSize: enrolled.manifest.coreset.size,
    featureDim: enrolled.manifest.featureDim,
    msPerImage: round(msPerImage),
    backboneMs: round(median(t.backboneMs)),
    aggregateMs: round(median(t.aggregateMs)),
    knnMs: round(median(t.knnMs)),
    mapMs: round(median(t.mapMs)),
    knnShare: round(median(t.knnMs) / msPerImage, 3),
    imagesPerSecond: round(1000 / msPerImage, 1),
    enrollSeconds: round(enrollS, 1),
    goldenSamples: enrolled.manifest.goldenSamples.count,
    peakRssMb: round(peakRssMb(), 0),
  };
  results.push(row);
  console.log(
    `coreset ${coreset}: bank ${row.bankSize} x ${row.featureDim}, ${row.msPerImage} ms/image (backbone ${row.backboneMs}, aggregate ${row.aggregateMs}, knn ${row.knnMs}, map ${row.mapMs}), ` +
      `${row.imagesPerSecond} images/s, enroll ${row.enrollSeconds} s, peak RSS ${row.peakRssMb} MB`,
  );
  if (coreset === 0.1) {
    const backbone = await loadBackbone(enrolled.manifest.backbone.id);
    if (backbone.ir) backboneGflops = convFlops(backbone.ir, enrolled.manifest.layers.map((l) => l.name), settings.inputSize) / (row.backboneMs / 1000) / 1e9;
  }
  await rm(dataDir, { recursive: true, force: true });
}
const gemm = await gemmGflops();
console.log(`GEMM through ONNX Runtime: ${round(gemm, 1)} GFLOP/s; backbone achieves ${round(backboneGflops, 1)} GFLOP/s (${round((100 * backboneGflops) / gemm, 0)} % of GEMM)`);
writeBenchResult('score', { results, gemmGflops: round(gemm, 1), backboneGflops: round(backboneGflops, 1), enrollSeconds60: round(enrollSeconds, 1), runs });
