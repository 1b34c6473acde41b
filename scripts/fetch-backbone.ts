/**
 * For devices or workstations with internet access:
 *   npx tsx scripts/fetch-backbone.ts resnet18|wide_resnet50_2 [--data-dir <dir>]
 * downloads torchvision-trained ImageNet weights in safetensors form (the timm
 * `*.tv_in1k` releases, which keep torchvision's tensor names), validates them
 * and installs them where `--backbone <id>` looks for them. Copy the file to
 * offline devices' `<dataDir>/backbones/`.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { installBackboneWeights, isResnetId } from '../models/backbones/install.ts';

const sources: Record<string, string> = {
  resnet18: 'https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors',
  wide_resnet50_2: 'https://huggingface.co/timm/wide_resnet50_2.tv_in1k/resolve/main/model.safetensors',
};

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'data-dir': { type: 'string', default: process.env.LINESIGHT_DATA_DIR ?? '.linesight' } } });
const id = positionals[0] ?? '';
if (!isResnetId(id)) {
  console.error(`usage: fetch-backbone <${Object.keys(sources).join('|')}> [--data-dir <dir>]`);
  process.exit(2);
}
const tmp = join(await mkdtemp(join(tmpdir(), 'linesight-backbone-')), `${id}.safetensors`);
console.log(`downloading ${sources[id]}`);
const response = await fetch(sources[id]!);
if (!response.ok || !response.body) {
  console.error(`download failed: HTTP ${response.status}`);
  process.exit(1);
}
await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(tmp));
const { path, sha256 } = await installBackboneWeights(id, tmp, values['data-dir']!);
console.log(`installed ${id} at ${path} (sha256 ${sha256})`);
