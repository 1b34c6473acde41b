/**
 * Small HTTP helpers of the web API: JSON replies, request bodies with a size
 * limit, and ApiError, whose message is shown to the technician as it is.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof ApiError) sendJson(res, err.status, { error: err.message }, err.headers);
  else sendJson(res, 500, { error: `internal error: ${(err as Error).message}` });
}

/** Reads the whole body; a body over `limit` bytes is refused with 413. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new ApiError(413, `the upload is ${mb(declared)}; the limit is ${mb(limit)} per request`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiError(413, `the upload is larger than ${mb(limit)}; the limit is ${mb(limit)} per request`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Reads a JSON object body (an empty body is `{}`). */
export async function readJson(req: IncomingMessage, limit = 64 * 1024): Promise<Record<string, unknown>> {
  const text = (await readBody(req, limit)).toString('utf8').trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, 'the request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}
