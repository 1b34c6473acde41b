/**
 * The three ImageNet-initialised networks the `nsfwjs` npm package ships, read
 * from node_modules so no weights are ever downloaded: `mobilenet_v2` and
 * `inception_v3` (Keras layer models), `mobilenet_v2_mid` (a TensorFlow graph
 * model, MobileNetV2 at width 1.4 from TF Hub). Each is a `model.min.js` UMD
 * module holding the topology and the weight manifest, and one or more
 * `group1-shardXofN.min.js` modules holding the weight bytes as base64. All
 * three ship their weights uint8-quantised (per tensor, `min + scale * q`);
 * they are dequantised to float32 here, the same way tfjs does it.
 *
 * The sha256 of a model is that of its weight bytes (the shards in manifest
 * order), what product artifacts record.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The models of the nsfwjs package, by their folder name under `dist/models`. */
export const NSFWJS_MODELS = ['mobilenet_v2', 'mobilenet_v2_mid', 'inception_v3'] as const;
export type NsfwjsModel = (typeof NSFWJS_MODELS)[number];

export function isNsfwjsModel(id: string): id is NsfwjsModel {
  return (NSFWJS_MODELS as readonly string[]).includes(id);
}

/** One tensor of a tfjs weight manifest. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { min?: number; scale?: number; dtype: 'uint8' | 'uint16' | 'float16' };
}

export type Weights = Map<string, { shape: number[]; data: Float32Array }>;

/** A model as its `model.min.js` exports it; the topology is read by the network's own converter. */
export interface NsfwjsModelJson {
  format?: string;
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export interface NsfwjsModelFiles {
  json: NsfwjsModelJson;
  /** The weight bytes, shards concatenated in manifest order (what tfjs reads). */
  weightBytes: Buffer;
  weights: Weights;
  sha256: string;
}

const require = createRequire(import.meta.url);

/** The folder of one model inside the installed nsfwjs package. */
export function nsfwjsModelDir(model: NsfwjsModel): string {
  let root: string;
  try {
    // The package exports only its modules; its model files sit beside them in dist/.
    const entry = require.resolve(`nsfwjs/models/${model}`); // <root>/dist/cjs/models/<model>.js
    root = join(dirname(entry), '..', '..', '..');
  } catch {
    throw new Error(`backbone ${model} needs the nsfwjs npm package (npm install)`);
  }
  return join(root, 'dist', 'models', model);
}

/** Decodes the weight bytes of a manifest into float32 tensors by name. */
export function dequantise(specs: WeightSpec[], bytes: Buffer, model: string): Weights {
  const out: Weights = new Map();
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const size = count * (!spec.quantization ? 4 : spec.quantization.dtype === 'uint8' ? 1 : 2);
    if (offset + size > bytes.length) throw new Error(`${model} weights are truncated at ${spec.name}`);
    const data = new Float32Array(count);
    const q = spec.quantization;
    if (!q) {
      if (spec.dtype !== 'float32') throw new Error(`${model} weights: unsupported dtype ${spec.dtype} for ${spec.name}`);
      const copy = Uint8Array.prototype.slice.call(bytes, offset, offset + size);
      data.set(new Float32Array(copy.buffer));
    } else if (q.dtype === 'uint8') {
      for (let i = 0; i < count; i++) data[i] = q.min! + q.scale! * bytes[offset + i]!;
    } else if (q.dtype === 'uint16') {
      for (let i = 0; i < count; i++) data[i] = q.min! + q.scale! * bytes.readUInt16LE(offset + 2 * i);
    } else {
      throw new Error(`${model} weights: unsupported quantisation ${q.dtype} for ${spec.name}`);
    }
    offset += size;
    out.set(spec.name, { shape: spec.shape, data });
  }
  return out;
}

/** Reads a model's topology and weights from the installed nsfwjs package. */
export function readNsfwjsModel(model: NsfwjsModel): NsfwjsModelFiles {
  const dir = nsfwjsModelDir(model);
  const json = require(join(dir, 'model.min.js')) as NsfwjsModelJson;
  const paths = json.weightsManifest.flatMap((m) => m.paths);
  const weightBytes = Buffer.concat(paths.map((p) => Buffer.from(require(join(dir, `${p}.min.js`)) as string, 'base64')));
  const sha256 = createHash('sha256').update(weightBytes).digest('hex');
  const weights = dequantise(
    json.weightsManifest.flatMap((m) => m.weights),
    weightBytes,
    model,
  );
  return { json, weightBytes, weights, sha256 };
}

/** A tensor by name, or a clear error naming the model. */
export function weightOf(weights: Weights, name: string, model: string): { shape: number[]; data: Float32Array } {
  const w = weights.get(name);
  if (!w) throw new Error(`${model} weights: tensor ${name} is missing`);
  return w;
}
