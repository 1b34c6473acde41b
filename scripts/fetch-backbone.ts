/**
 * For devices or workstations with internet access:
 *
 *   npm run fetch-backbone -- resnet18|wide_resnet50_2 [--data-dir <dir>] [--url <mirror url>] [--sha256 <hex>]
 *
 * downloads torchvision-trained ImageNet weights in safetensors form (the timm
 * `resnet18.tv_in1k` / `wide_resnet50_2.tv_in1k` releases, which keep
 * torchvision's tensor names), checks that they are complete and are the named
 * network, and installs them at `<dataDir>/backbones/<id>.safetensors`, where
 * `--backbone <id>` looks for them. Offline devices: copy that file to their
 * `<dataDir>/backbones/`. A failed or partial download never replaces
 * installed weights.
 *
 * Every download is pinned: a fixed revision of the model hub repository and
 * the sha256 of its file (PINNED_WEIGHTS), or the sha256 given with
 * `--sha256` for a mirror. A file whose hash differs is never installed, and
 * without a known hash nothing is downloaded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { installBackboneWeights } from '../models/backbones/install.ts';
import { isResnetId, RESNET_IDS, type ResnetId } from '../models/backbones/resnet.ts';

/**
 * The weights a release installs: the model hub repository, the commit of it
 * the download is pinned to, and the sha256 of its model.safetensors. An entry
 * without a revision and hash has not been verified for this release: it is
 * downloaded only from a `--url` with a `--sha256` the user checked.
 */
export interface PinnedWeights {
  repo: string;
  /** Commit of the model hub repository (40 hex digits), or null when not pinned yet. */
  revision: string | null;
  /** sha256 of model.safetensors at that revision, or null when not pinned yet. */
  sha256: string | null;
}

export const PINNED_WEIGHTS: Record<ResnetId, PinnedWeights> = {
  resnet18: { repo: 'timm/resnet18.tv_in1k', revision: null, sha256: null },
  wide_resnet50_2: { repo: 'timm/wide_resnet50_2.tv_in1k', revision: null, sha256: null },
};

/** The pinned download URL of `id`, or undefined when its revision is not pinned (pure). */
export function pinnedUrl(pin: PinnedWeights): string | undefined {
  return pin.revision ? `https://huggingface.co/${pin.repo}/resolve/${pin.revision}/model.safetensors` : undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Where to download `id` from and the hash it must have, or an error saying what to give (pure). */
export function downloadSource(id: ResnetId, opts: { url?: string; sha256?: string }, pins = PINNED_WEIGHTS): { url: string; sha256: string } {
  const pin = pins[id];
  const sha256 = opts.sha256?.toLowerCase() ?? pin.sha256 ?? undefined;
  if (sha256 !== undefined && !SHA256_HEX.test(sha256)) throw new Error(`--sha256 "${opts.sha256}" is not a sha256 (64 hex digits)`);
  const url = opts.url ?? pinnedUrl(pin);
  if (!url || !sha256) {
    throw new Error(
      `${id}: this release has no pinned revision and sha256 for ${pin.repo}; download from a source you trust with --url <url> --sha256 <hex of the file>`,
    );
  }
  return { url, sha256 };
}

export interface FetchOptions {
  dataDir: string;
  /** Download from here instead of the pinned model hub revision (a mirror, or a local server in tests). */
  url?: string;
  /** sha256 the file must have; default: the pinned hash (PINNED_WEIGHTS). */
  sha256?: string;
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
  const { url, sha256: expected } = downloadSource(id, opts);
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
    const actual = await sha256OfFile(tmp);
    if (actual !== expected) throw new Error(`the file downloaded from ${url} has sha256 ${actual}, expected ${expected}; nothing was installed`);
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
  const usage = `usage: npm run fetch-backbone -- <${RESNET_IDS.join('|')}> [--data-dir <dir>] [--url <mirror url>] [--sha256 <hex>]`;
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { 'data-dir': { type: 'string', default: process.env.LINESIGHT_DATA_DIR ?? '.linesight' }, url: { type: 'string' }, sha256: { type: 'string' } },
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
  let shown = 0;
  try {
    const source = downloadSource(id, { url: parsed.values.url, sha256: parsed.values.sha256 });
    console.log(`downloading ${id} from ${source.url}`);
    const { path, sha256 } = await fetchBackbone(id, {
      dataDir: parsed.values['data-dir']!,
      ...source,
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
