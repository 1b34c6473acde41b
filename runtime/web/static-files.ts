/**
 * The UI's files (runtime/web/ui/): plain HTML, CSS and JS modules, served
 * as they are. Only names inside the folder are served.
 */
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, join } from 'node:path';

export const UI_DIR = join(import.meta.dirname, 'ui');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

export function contentType(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * The file name a URL path names inside a folder, or undefined when it
 * would leave it (`..`, absolute paths, backslashes, encoded separators).
 */
export function safeFileName(urlPath: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) return undefined;
  return name;
}

/** Serves `name` from `dir`; false when there is no such file. */
export async function serveFile(res: ServerResponse, dir: string, name: string, cache = 'no-cache'): Promise<boolean> {
  let body: Buffer;
  try {
    body = await readFile(join(dir, name));
  } catch {
    return false;
  }
  res.writeHead(200, { 'content-type': contentType(name), 'cache-control': cache, 'content-length': body.length });
  res.end(body);
  return true;
}
