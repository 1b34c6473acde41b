/**
 * Fetches a version bundle over HTTP(S) with a deadline and a size limit: a
 * device never waits forever on a stalled peer nor fills its disk or memory
 * with a body larger than any product version should be.
 */
import { createHash } from 'node:crypto';

export class BundleFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleFetchError';
  }
}

export interface FetchBundleOptions {
  timeoutMs: number;
  maxBytes: number;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** When given, the body's sha256 must equal it. */
  sha256?: string;
}

export async function fetchBundle(url: string, opts: FetchBundleOptions): Promise<Buffer> {
  const headers: Record<string, string> = { accept: 'application/octet-stream' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let response: Response;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    response = await fetch(url, { headers, signal, redirect: 'error' });
  } catch (err) {
    throw new BundleFetchError(`fetching ${url} failed: ${signal.aborted ? `no answer within ${opts.timeoutMs} ms` : (err as Error).message}`);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new BundleFetchError(`fetching ${url} failed: HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > opts.maxBytes) {
    await response.body?.cancel();
    throw new BundleFetchError(`${url} is ${declared} bytes, more than fleet.maxBundleBytes (${opts.maxBytes})`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body ?? []) {
      size += chunk.byteLength;
      if (size > opts.maxBytes) {
        await response.body?.cancel().catch(() => undefined);
        throw new BundleFetchError(`${url} sent more than fleet.maxBundleBytes (${opts.maxBytes})`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof BundleFetchError) throw err;
    throw new BundleFetchError(`fetching ${url} failed: ${signal.aborted ? `not complete within ${opts.timeoutMs} ms` : (err as Error).message}`);
  }
  const body = Buffer.concat(chunks);
  if (opts.sha256 !== undefined) {
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== opts.sha256) throw new BundleFetchError(`${url}: the bundle's sha256 ${actual.slice(0, 12)}… is not the announced ${opts.sha256.slice(0, 12)}…`);
  }
  return body;
}
