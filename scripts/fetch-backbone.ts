/**
 * For devices or workstations with internet access:
 *
 *   npm run fetch-backbone -- resnet18|wide_resnet50_2 [--data-dir <dir>] [--url <mirror url>]
 *
 * downloads torchvision-trained ImageNet weights in safetensors form (the timm
 * `resnet18.tv_in1k` / `wide_resnet50_2.tv_in1k` releases, which keep
 * torchvision's tensor names), checks that they are complete and are the named
 * network, and installs them at `<dataDir>/backbones/<id>.safetensors`, where
 * `--backbone <id>` looks for them. Offline devices: copy that file to their
 * `<dataDir>/backbones/`. A failed or partial download never replaces
 * installed weights.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { installBackboneWeights } from '../models/backbones/install.ts';
import { isResnetId, RESNET_IDS, type ResnetId } from '../models/backbones/resnet.ts';

export const WEIGHT_URLS: Record<ResnetId, string> = {
  resnet18: 'https://huggingface.co/timm/resnet18.tv_in1k/resolve/main/model.safetensors',
  wide_resnet50_2: 'https://huggingface.co/timm/wide_resnet50_2.tv_in1k/resolve/main/model.safetensors',
};

export interface FetchOptions {
  dataDir: string;
  /** Download from here instead of the model hub (a mirror, or a local server in tests). */
  url?: string;
  /** Called as bytes arrive; `total` is undefined when the server does not say. */
  onProgress?: (received: number, total: number | undefined) => void;
}

/**
 * Downloads `id`'s weights next to their final place (same file system, so the
 * install is a rename), validates them and installs them. Returns the
 * installed path and the file's sha256. The partial file is removed on any failure.
 */
export async function fetchBackbone(id: string, opts: FetchOptions): Promise<{ path: string; sha256: string }> {
  if (!isResnetId(id)) throw new Error(`no downloadable weights for backbone "${id}" (downloadable: ${RESNET_IDS.join(', ')})`);
  const url = opts.url ?? WEIGHT_URLS[id];
  const dir = join(opts.dataDir, 'backbones');
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${id}.download-${randomBytes(4).toString('hex')}.safetensors`);
  try {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      const cause = (err as Error).cause;
      throw new Error(`cannot download ${url}: ${cause instanceof Error ? cause.message : (err as Error).message}`);
    }
    if (!response.ok || !response.body) throw new Error(`cannot download ${url}: HTTP ${response.status} ${response.statusText}`);
    const header = response.headers.get('content-length');
    const total = header ? Number(header) : undefined;
    let received = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        opts.onProgress?.(received, total);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), counter, createWriteStream(tmp));
    } catch (err) {
      throw new Error(`download of ${url} broke off after ${received} bytes (${(err as Error).message}); nothing was installed`);
    }
    if (total !== undefined && received !== total) throw new Error(`download of ${url} is incomplete (${received} of ${total} bytes); nothing was installed`);
    try {
      return await installBackboneWeights(id, tmp, opts.dataDir);
    } catch (err) {
      throw new Error(`the file downloaded from ${url} is not usable ${id} weights, nothing was installed: ${(err as Error).message}`);
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

async function main(): Promise<void> {
  const usage = `usage: npm run fetch-backbone -- <${RESNET_IDS.join('|')}> [--data-dir <dir>] [--url <mirror url>]`;
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { 'data-dir': { type: 'string', default: process.env.LINESIGHT_DATA_DIR ?? '.linesight' }, url: { type: 'string' } },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${usage}`);
    process.exit(2);
  }
  const id = parsed.positionals[0] ?? '';
  if (!isResnetId(id) || parsed.positionals.length !== 1) {
    console.error(usage);
    process.exit(2);
  }
  const url = parsed.values.url ?? WEIGHT_URLS[id];
  console.log(`downloading ${id} from ${url}`);
  let shown = 0;
  try {
    const { path, sha256 } = await fetchBackbone(id, {
      dataDir: parsed.values['data-dir']!,
      url,
      onProgress(received, total) {
        const step = total ? Math.floor((10 * received) / total) : Math.floor(received / 50e6);
        if (step > shown) {
          shown = step;
          console.log(total ? `  ${10 * step} % of ${(total / 1e6).toFixed(0)} MB` : `  ${(received / 1e6).toFixed(0)} MB`);
        }
      },
    });
    console.log(`installed ${id} at ${path}\nsha256 ${sha256}`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}

const invoked = process.argv[1] ? pathToFileURL(await realpath(process.argv[1]).catch(() => process.argv[1]!)).href : '';
if (import.meta.url === invoked) await main();
