/**
 * Path and body parameters of the web API, checked and turned into an
 * ApiError (400) naming what is wrong when they are not what the API takes.
 */
import { productIdSchema } from '../../config/names.ts';
import { ApiError } from './http-util.ts';

/** A percent-decoded path segment; malformed encoding is a 400, not a crash. */
export function decodeParam(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(400, `the ${what} "${raw}" is not valid percent-encoding`);
  }
}

export function productParam(value: string): string {
  const parsed = productIdSchema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, `product id "${value}": ${parsed.error.issues[0]?.message}`);
  return value;
}

export function versionParam(value: unknown): string {
  if (typeof value !== 'string' || !/^v\d+$/.test(value)) throw new ApiError(400, `"${String(value)}" is not a version (like v3)`);
  return value;
}

export function optionalNumber(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new ApiError(400, `${name} ${String(value)}: use a number from ${min} to ${max}`);
  return n;
}
