/**
 * The one place that turns a backbone id into something runnable:
 * - `mobilenet_v2` (default): the ImageNet-initialised MobileNetV2 shipped in
 *   the nsfwjs npm package;
 * - `mobilenet_v2_mid`, `inception_v3`: the package's other two networks, a
 *   MobileNetV2 at width 1.4 and an InceptionV3 (native input 299x299);
 * - `resnet18`, `wide_resnet50_2`: torchvision-trained weights in safetensors
 *   at `<dataDir>/backbones/<id>.safetensors` (or `opts.path`), installed by
 *   `npm run fetch-backbone -- <id>` on a machine with internet;
 * - `onnx:<file>`: a user-supplied ONNX feature extractor with a manifest
 *   `<file>.json` (contract below).
 *
 * Every backbone carries the sha256 of its weights (or ONNX file); product
 * artifacts record it so a product is never scored with other weights than it
 * was enrolled with.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import type { BackbonePrecision, EnrollPrecision } from '../../config/enroll.ts';
import { ConfigError, parseOrThrow } from '../../config/errors.ts';
import type { BackboneIR, LayerInfo } from '../ir.ts';
import { emitForward } from '../onnx/emit-forward.ts';
import { decodeSafetensors, SafetensorsError } from '../safetensors.ts';
import { loadInceptionV3 } from './inception-v3.ts';
import { loadMobileNetV2 } from './mobilenet-v2.ts';
import { loadMobileNetV2Mid } from './mobilenet-v2-mid.ts';
import { isNsfwjsModel, NSFWJS_MODELS, type NsfwjsModel } from './nsfwjs.ts';
import { isResnetId, resnetFromSafetensors, RESNET_IDS, type ResnetId } from './resnet.ts';

export interface Backbone {
  id: string;
  /** sha256 of the weights (or of the ONNX file), recorded in every product artifact. */
  sha256: string;
  /** Layers that can be requested as feature outputs, shallow to deep. */
  layers: LayerInfo[];
  defaultLayers: string[];
  /** The layer IR, for backbones built by linesight (absent for `onnx:` files). */
  ir?: BackboneIR;
  /** ONNX bytes: input `image` float32 NHWC [N, h, w, 3] RGB 0..255, one NCHW output per requested layer. */
  buildGraph(layers: string[], inputSize: [number, number]): Uint8Array;
}

export const DEFAULT_BACKBONE = 'mobilenet_v2';
export const BACKBONE_IDS = [...NSFWJS_MODELS, ...RESNET_IDS, 'onnx:<file>'];
const DEFAULT_DATA_DIR = '.linesight';

/**
 * A backbone that cannot be used as asked (unknown id, weights not installed,
 * unreadable or wrong file): something the user fixes, so its message is
 * shown alone (it is a ConfigError to every command).
 */
export class BackboneError extends ConfigError {
  constructor(message: string) {
    super(message);
    this.name = 'BackboneError';
  }
}

/**
 * Default layers of MobileNetV2: block_5_add (32 channels, stride 8) and
 * block_12_add (96 channels, stride 16).
 */
export const MOBILENET_DEFAULT_LAYERS = ['block_5_add', 'block_12_add'];
/**
 * Default layers of the width-1.4 MobileNetV2: the same places as the default
 * MobileNetV2's, block_5_add (48 channels, stride 8) and block_12_add (136
 * channels, stride 16).
 */
export const MOBILENET_MID_DEFAULT_LAYERS = ['block_5_add', 'block_12_add'];
/**
 * Default layers of InceptionV3: the last mixed block at stride 8 (mixed2,
 * 288 channels, 35x35 at 299) and a stride-16 one (mixed5, 768 channels, 17x17).
 */
export const INCEPTION_DEFAULT_LAYERS = ['mixed2', 'mixed5'];
/** Default layers of the ResNets: the middle stages, as in PatchCore. */
export const RESNET_DEFAULT_LAYERS = ['layer2', 'layer3'];

/**
 * The backbone arithmetic an enrollment asked for, made concrete. `auto` is
 * int8 for MobileNetV2, the default backbone, measured as accurate in int8 as
 * in float32 (hard development set, tuning split: image AUROC 0.803 int8
 * against 0.797 float32; the rule is int8 only where it costs at most half a
 * point). Every other backbone stays float32 until its int8 accuracy is
 * measured the same way (mobilenet_v2_mid's and InceptionV3's int8 features
 * are only checked against float32, the ResNets' not at all), and an `onnx:`
 * file has no layer description to quantize.
 */
export function resolvePrecision(requested: EnrollPrecision, backboneId: string): BackbonePrecision {
  if (requested !== 'auto') return requested;
  return backboneId === 'mobilenet_v2' ? 'int8' : 'float32';
}

/** Where `loadBackbone` looks for a ResNet's weights and `fetch-backbone` installs them. */
export function backboneWeightsPath(id: ResnetId, dataDir = DEFAULT_DATA_DIR): string {
  return join(dataDir, 'backbones', `${id}.safetensors`);
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function fromIr(ir: BackboneIR, sha256: string, defaultLayers: string[]): Backbone {
  return {
    id: ir.id,
    sha256,
    layers: ir.featureLayers,
    defaultLayers,
    ir,
    buildGraph: (layers, inputSize) => emitForward(ir, { outputs: layers, inputSize }),
  };
}

async function resnetBackbone(id: ResnetId, opts: { dataDir?: string; path?: string }): Promise<Backbone> {
  const path = opts.path ?? backboneWeightsPath(id, opts.dataDir);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BackboneError(notInstalledMessage(id, path));
    throw new BackboneError(`backbone ${id}: cannot read ${path} (${code ?? String(err)})`);
  }
  let ir: BackboneIR;
  try {
    ir = resnetFromSafetensors(id, decodeSafetensors(bytes, path).tensors, path);
  } catch (err) {
    // Not the weights of this network (truncated, corrupt, another one): the file is to fix, not the code.
    if (err instanceof SafetensorsError || (err instanceof Error && err.message.startsWith(`${path}: `))) throw new BackboneError(err.message);
    throw err;
  }
  return fromIr(ir, sha256Of(bytes), RESNET_DEFAULT_LAYERS);
}

function notInstalledMessage(id: ResnetId, path: string): string {
  return (
    `backbone ${id} is not installed: ${path} does not exist. On a machine with internet run \`npm run fetch-backbone -- ${id}\` ` +
    `and copy the ${id}.safetensors file it installs to ${path}`
  );
}

/*
 * User-supplied ONNX feature extractors (`--backbone onnx:<file>`).
 *
 * Contract of the ONNX file: one self-contained model (no external data files)
 * with a single graph input named `image`, float32, NHWC [N, H, W, 3], raw RGB
 * values 0..255 as decoded from the camera (any normalisation happens inside
 * the graph), and one float32 NCHW output [N, C, h, w] per feature layer.
 *
 * Manifest `<file>.json`:
 *   { "inputSize": [H, W],                                  image size the extractor is meant for
 *     "outputs": [{ "name": "feat8", "channels": 256, "stride": 8 }, ...],   shallow to deep
 *     "defaultLayers": ["feat8", "feat16"] }                 optional; default: the first two outputs
 * Fixed dimensions in the ONNX file must agree with the manifest.
 */
const onnxManifestSchema = z
  .object({
    inputSize: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    outputs: z
      .array(z.object({ name: z.string().min(1), channels: z.number().int().positive(), stride: z.number().int().positive() }).strict())
      .min(1),
    defaultLayers: z.array(z.string()).min(1).optional(),
  })
  .strict();

/** A dimension of an ONNX value: a number when fixed, undefined when symbolic or absent. */
type OnnxDims = (number | undefined)[];

function dimsOf(value: onnxProto.onnx.IValueInfoProto): OnnxDims | undefined {
  const dims = value.type?.tensorType?.shape?.dim;
  if (!dims) return undefined;
  return dims.map((d) => {
    if (d.dimParam) return undefined;
    const v = d.dimValue;
    const n = typeof v === 'number' ? v : v ? Number(v.toString()) : 0;
    return n > 0 ? n : undefined;
  });
}

function onnxIo(bytes: Uint8Array, path: string) {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch {
    throw new BackboneError(`backbone ${path} is not an ONNX model (the file cannot be parsed)`);
  }
  const graph = model.graph;
  if (!graph) throw new BackboneError(`backbone ${path} is not an ONNX model (it has no graph)`);
  const initializerList = graph.initializer ?? [];
  if (initializerList.some((t) => t.dataLocation === onnxProto.onnx.TensorProto.DataLocation.EXTERNAL)) {
    throw new BackboneError(`backbone ${path} keeps its weights in external data files; save it as one self-contained ONNX file`);
  }
  // Older IR versions list initializers among the graph inputs too.
  const initializers = new Set(initializerList.map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  return { inputs, outputs: graph.output ?? [] };
}

async function onnxBackbone(path: string): Promise<Backbone> {
  const id = `onnx:${path}`;
  const manifestPath = `${path}.json`;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BackboneError(`backbone ${id}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let manifestText: string;
  try {
    manifestText = await readFile(manifestPath, 'utf8');
  } catch {
    throw new BackboneError(
      `backbone ${id} needs a manifest ${manifestPath}: {"inputSize": [h, w], "outputs": [{"name": ..., "channels": ..., "stride": ...}]}`,
    );
  }
  let manifestJson: unknown;
  try {
    manifestJson = JSON.parse(manifestText);
  } catch (err) {
    throw new BackboneError(`${manifestPath} is not valid JSON (${(err as Error).message})`);
  }
  const manifest = parseOrThrow(onnxManifestSchema, manifestJson, manifestPath);
  const names = manifest.outputs.map((o) => o.name);
  const defaultLayers = manifest.defaultLayers ?? names.slice(0, 2);
  const strayDefaults = defaultLayers.filter((l) => !names.includes(l));
  if (strayDefaults.length > 0) throw new BackboneError(`${manifestPath}: defaultLayers ${strayDefaults.join(', ')} are not among the outputs (${names.join(', ')})`);

  const io = onnxIo(bytes, path);
  const image = io.inputs[0];
  if (io.inputs.length !== 1 || image?.name !== 'image') {
    throw new BackboneError(`backbone ${path} must have one input named "image" (NHWC float32 RGB 0..255); it has ${io.inputs.map((i) => `"${i.name}"`).join(', ') || 'none'}`);
  }
  const imageDims = dimsOf(image);
  if (imageDims && (imageDims.length !== 4 || (imageDims[3] !== undefined && imageDims[3] !== 3))) {
    throw new BackboneError(`backbone ${path}: input "image" has shape [${imageDims.map((d) => d ?? '?')}], expected NHWC [N, H, W, 3]`);
  }
  const fixedSize = imageDims?.[1] !== undefined && imageDims[2] !== undefined ? ([imageDims[1], imageDims[2]] as [number, number]) : undefined;
  if (fixedSize && fixedSize.join() !== manifest.inputSize.join()) {
    throw new BackboneError(`${manifestPath}: inputSize [${manifest.inputSize}] disagrees with the ONNX input "image" [${imageDims!.map((d) => d ?? '?')}]`);
  }
  const graphOutputs = new Map(io.outputs.map((o) => [o.name, dimsOf(o)]));
  for (const o of manifest.outputs) {
    if (!graphOutputs.has(o.name)) throw new BackboneError(`${manifestPath}: output "${o.name}" is not an output of ${path} (it has ${[...graphOutputs.keys()].join(', ')})`);
    const dims = graphOutputs.get(o.name);
    if (dims && (dims.length !== 4 || (dims[1] !== undefined && dims[1] !== o.channels))) {
      throw new BackboneError(`${manifestPath}: output "${o.name}" has shape [${dims.map((d) => d ?? '?')}] in ${path}, expected NCHW with ${o.channels} channels`);
    }
  }

  return {
    id,
    sha256: sha256Of(bytes),
    layers: manifest.outputs,
    defaultLayers,
    buildGraph(layers, inputSize) {
      const unknown = layers.filter((l) => !names.includes(l));
      if (unknown.length > 0) throw new BackboneError(`backbone ${id} has no output ${unknown.join(', ')} (outputs: ${names.join(', ')})`);
      if (fixedSize && fixedSize.join() !== inputSize.join()) {
        throw new BackboneError(`backbone ${id} only takes ${fixedSize[0]}x${fixedSize[1]} images (asked for ${inputSize[0]}x${inputSize[1]}); use input size ${fixedSize[0]}x${fixedSize[1]} with it`);
      }
      return bytes;
    },
  };
}

/** A network of the nsfwjs package with its measured default layers (its IR is read once per process). */
async function nsfwjsBackbone(id: NsfwjsModel): Promise<Backbone> {
  switch (id) {
    case 'mobilenet_v2': {
      const { ir, sha256 } = await loadMobileNetV2();
      return fromIr(ir, sha256, MOBILENET_DEFAULT_LAYERS);
    }
    case 'mobilenet_v2_mid': {
      const { ir, sha256 } = await loadMobileNetV2Mid();
      return fromIr(ir, sha256, MOBILENET_MID_DEFAULT_LAYERS);
    }
    case 'inception_v3': {
      const { ir, sha256 } = await loadInceptionV3();
      return fromIr(ir, sha256, INCEPTION_DEFAULT_LAYERS);
    }
  }
}

/** Loads a backbone by id; `dataDir` (default `.linesight`) or `path` locate ResNet weights. */
export async function loadBackbone(id: string, opts: { dataDir?: string; path?: string } = {}): Promise<Backbone> {
  if (isNsfwjsModel(id)) return nsfwjsBackbone(id);
  if (isResnetId(id)) return resnetBackbone(id, opts);
  if (id.startsWith('onnx:') && id.length > 5) return onnxBackbone(id.slice(5));
  throw new BackboneError(`unknown backbone "${id}" (known: ${BACKBONE_IDS.join(', ')})`);
}

const isFile = (path: string) => stat(path).then((s) => s.isFile(), () => false);

/**
 * Checks, without reading any weights, that `loadBackbone(id, opts)` will find
 * the files it needs, and throws the BackboneError it would throw otherwise:
 * a command calls it before long work (reading golden samples) so that a
 * missing backbone ends it at once. The files' contents are checked on load.
 */
export async function assertBackboneAvailable(id: string, opts: { dataDir?: string; path?: string } = {}): Promise<void> {
  if (isNsfwjsModel(id)) return; // ships with the nsfwjs npm package
  if (isResnetId(id)) {
    const path = opts.path ?? backboneWeightsPath(id, opts.dataDir);
    if (!(await stat(path).then(() => true, () => false))) throw new BackboneError(notInstalledMessage(id, path));
    if (!(await isFile(path))) throw new BackboneError(`backbone ${id}: cannot read ${path} (not a file)`);
    return;
  }
  if (id.startsWith('onnx:') && id.length > 5) {
    const path = id.slice(5);
    if (!(await isFile(path))) throw new BackboneError(`backbone ${id}: cannot read ${path} (no such file)`);
    if (!(await isFile(`${path}.json`))) {
      throw new BackboneError(`backbone ${id} needs a manifest ${path}.json: {"inputSize": [h, w], "outputs": [{"name": ..., "channels": ..., "stride": ...}]}`);
    }
    return;
  }
  throw new BackboneError(`unknown backbone "${id}" (known: ${BACKBONE_IDS.join(', ')})`);
}
