/**
 * The one place that turns a backbone id into something runnable:
 * - `mobilenet_v2` (default): ImageNet-initialised MobileNetV2 from the nsfwjs package;
 * - `resnet18`, `wide_resnet50_2`: torchvision/timm weights in safetensors at
 *   `<dataDir>/backbones/<id>.safetensors` (scripts/fetch-backbone.ts downloads them);
 * - `onnx:<file>`: a user-supplied ONNX feature extractor with a manifest `<file>.json`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseOrThrow } from '../../config/errors.ts';
import type { BackboneIR, LayerInfo } from '../ir.ts';
import { emitForward } from '../onnx/emit-forward.ts';
import { readSafetensorsFile } from '../safetensors.ts';
import { loadMobileNetV2 } from './mobilenet-v2.ts';
import { resnetFromSafetensors, RESNET_IDS, type ResnetId } from './resnet.ts';

export interface Backbone {
  id: string;
  /** sha256 of the weights (or of the ONNX file), recorded in every product artifact. */
  sha256: string;
  layers: LayerInfo[];
  defaultLayers: string[];
  ir?: BackboneIR;
  buildGraph(layers: string[], inputSize: [number, number]): Uint8Array;
}

export const BACKBONE_IDS = ['mobilenet_v2', ...RESNET_IDS, 'onnx:<file>'];

/**
 * Default layers of MobileNetV2: block_5_add (32 channels, stride 8) and
 * block_12_add (96 channels, stride 16); measured best accuracy per millisecond
 * on the development set (see README, "Choosing the layers").
 */
export const MOBILENET_DEFAULT_LAYERS = ['block_5_add', 'block_12_add'];

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

/**
 * Manifest of a user-supplied ONNX feature extractor. Contract of the ONNX file:
 * one input named `image`, float32 NHWC [N, H, W, 3] with RGB values 0..255
 * (preprocessing inside the graph), and one NCHW float32 output per listed layer.
 */
const onnxManifestSchema = z
  .object({
    inputSize: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    outputs: z.array(z.object({ name: z.string(), channels: z.number().int().positive(), stride: z.number().int().positive() }).strict()).min(1),
    defaultLayers: z.array(z.string()).optional(),
  })
  .strict();

async function onnxBackbone(path: string): Promise<Backbone> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw new Error(`backbone ONNX file ${path} cannot be read`);
  }
  let manifestText: string;
  try {
    manifestText = await readFile(`${path}.json`, 'utf8');
  } catch {
    throw new Error(`backbone ONNX file ${path} needs a manifest ${path}.json ({inputSize: [h, w], outputs: [{name, channels, stride}]})`);
  }
  const manifest = parseOrThrow(onnxManifestSchema, JSON.parse(manifestText), `${path}.json`);
  const names = manifest.outputs.map((o) => o.name);
  return {
    id: `onnx:${path}`,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    layers: manifest.outputs,
    defaultLayers: manifest.defaultLayers ?? names.slice(0, 2),
    buildGraph(layers) {
      const unknown = layers.filter((l) => !names.includes(l));
      if (unknown.length > 0) throw new Error(`backbone ${path} has no output ${unknown.join(', ')} (outputs: ${names.join(', ')})`);
      return bytes;
    },
  };
}

export async function loadBackbone(id: string, opts: { dataDir?: string; path?: string } = {}): Promise<Backbone> {
  if (id === 'mobilenet_v2') {
    const { ir, sha256 } = await loadMobileNetV2();
    return fromIr(ir, sha256, MOBILENET_DEFAULT_LAYERS);
  }
  if ((RESNET_IDS as readonly string[]).includes(id)) {
    const path = opts.path ?? join(opts.dataDir ?? '.linesight', 'backbones', `${id}.safetensors`);
    let file;
    try {
      file = await readSafetensorsFile(path);
    } catch (err) {
      if ((err as Error).message.includes('cannot read')) {
        throw new Error(`backbone ${id} weights are not installed at ${path}; on a machine with internet run \`npx tsx scripts/fetch-backbone.ts ${id}\` and copy the file there`);
      }
      throw err;
    }
    const bytes = await readFile(path);
    const ir = resnetFromSafetensors(id as ResnetId, file.tensors);
    return fromIr(ir, createHash('sha256').update(bytes).digest('hex'), ['layer2', 'layer3']);
  }
  if (id.startsWith('onnx:')) return onnxBackbone(id.slice(5));
  throw new Error(`unknown backbone "${id}" (known: ${BACKBONE_IDS.join(', ')})`);
}
