/**
 * Installs downloaded backbone weights: validates a safetensors file as the
 * named ResNet (every tensor present with the right shape), then moves it into
 * `<dataDir>/backbones/<id>.safetensors`. A wrong or partial download is
 * refused and never replaces working weights.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeSafetensors } from '../safetensors.ts';
import { isResnetId, resnetFromSafetensors, RESNET_IDS } from './resnet.ts';

export async function installBackboneWeights(id: string, file: string, dataDir: string): Promise<{ path: string; sha256: string }> {
  if (!isResnetId(id)) throw new Error(`no downloadable weights for backbone "${id}" (downloadable: ${RESNET_IDS.join(', ')})`);
  const bytes = await readFile(file);
  resnetFromSafetensors(id, decodeSafetensors(bytes, file).tensors);
  const dir = join(dataDir, 'backbones');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${id}.safetensors`);
  await rename(file, path);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}
