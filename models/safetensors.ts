/**
 * The safetensors format, used for product memory banks and for ResNet
 * backbone weights:
 *
 *   u64 little-endian header length N
 *   N bytes of UTF-8 JSON {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *                          ..., "__metadata__": {string: string}} (may be padded with spaces)
 *   the raw little-endian tensor bytes; offsets are relative to the end of the header
 *
 * The codec is hand-written: no safetensors package is installed for Node and
 * the format is a few dozen lines. Decoding checks everything a truncated,
 * corrupt or foreign file could get wrong and names the file in the message.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface TensorInput {
  shape: number[];
  data: TensorData;
}

export interface DecodedTensor {
  /** The dtype stored in the file (F16 and BF16 are returned as Float32Array data). */
  dtype: string;
  shape: number[];
  data: TensorData;
}

export interface DecodedSafetensors {
  tensors: Map<string, DecodedTensor>;
  metadata: Record<string, string>;
}

/** Bytes per element of the dtypes linesight reads. */
const BYTES_PER: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };
const READABLE = Object.keys(BYTES_PER).join(', ');
const METADATA_KEY = '__metadata__';

// Typed-array views use the host byte order; every platform linesight ships on
// (x86-64, aarch64) is little-endian like the format.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class SafetensorsError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`${source}: ${reason}`);
    this.name = 'SafetensorsError';
  }
}

function dtypeOf(data: TensorData): string {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof Uint8Array) return 'U8';
  throw new Error(`unsupported tensor data type ${(data as object)?.constructor?.name ?? typeof data}`);
}

function isDimList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Serialises tensors (in the given order in the header) and string metadata.
 * Data is laid out widest element type first and the header padded to 8
 * bytes, so every tensor is aligned in the file and decodes without a copy.
 */
export function encodeSafetensors(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '' || name === METADATA_KEY) throw new Error(`"${name}" cannot be used as a tensor name`);
    if (!isDimList(t.shape)) throw new Error(`tensor ${name}: shape [${t.shape}] must list non-negative integers`);
    if (elementCount(t.shape) !== t.data.length) throw new Error(`tensor ${name}: ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: dtypeOf(t.data), shape: t.shape, data_offsets: [0, 0] };
  }
  const layout = [...entries].sort(([, a], [, b]) => b.data.BYTES_PER_ELEMENT - a.data.BYTES_PER_ELEMENT);
  let offset = 0;
  for (const [name, t] of layout) {
    (header[name] as { data_offsets: number[] }).data_offsets = [offset, offset + t.data.byteLength];
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let o = 8 + headerLength;
  for (const [, t] of layout) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), o);
    o += t.data.byteLength;
  }
  return out;
}

let halfTable: Float32Array | undefined;

/** All 65536 IEEE half-precision values as float32 (built once, 256 KiB). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) halfTable[h] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 31) halfTable[h] = fraction ? NaN : sign * Infinity;
    else halfTable[h] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return halfTable;
}

function widenHalves(bytes: Uint8Array, start: number, count: number, dtype: 'F16' | 'BF16'): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, count * 2);
  const out = new Float32Array(count);
  if (dtype === 'F16') {
    const table = halfToFloatTable();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(2 * i, true)]!;
  } else {
    // bfloat16 is the upper half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

/** A typed array over the bytes when they are aligned for it, else over an aligned copy. */
function typedView(bytes: Uint8Array, start: number, count: number, dtype: string): TensorData {
  const size = BYTES_PER[dtype]!;
  let buffer = bytes.buffer;
  let offset = bytes.byteOffset + start;
  if (offset % size !== 0) {
    const copy = new Uint8Array(count * size);
    copy.set(bytes.subarray(start, start + count * size));
    buffer = copy.buffer;
    offset = 0;
  }
  if (dtype === 'F32') return new Float32Array(buffer, offset, count);
  if (dtype === 'I32') return new Int32Array(buffer, offset, count);
  if (dtype === 'I64') return new BigInt64Array(buffer, offset, count);
  return new Uint8Array(buffer, offset, count);
}

/**
 * Parses safetensors bytes. `source` (usually the file path) starts every
 * error message. Tensors may share memory with `bytes` (no copy when aligned);
 * F16 and BF16 tensors are widened to Float32Array.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): DecodedSafetensors {
  const fail = (reason: string): never => {
    throw new SafetensorsError(source, reason);
  };
  if (!LITTLE_ENDIAN_HOST) fail('safetensors files can only be read on little-endian machines');
  if (bytes.length < 8) fail(`file is too short (${bytes.length} bytes; a safetensors file starts with an 8-byte header length)`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8)) {
    fail(`header of ${declared} bytes runs past the end of the ${bytes.length}-byte file (truncated, or not a safetensors file)`);
  }
  const headerLength = Number(declared);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    fail('header is not valid JSON (corrupt file, or not a safetensors file)');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object (corrupt file?)');
  const entries = Object.entries(header as Record<string, unknown>);

  const metadata: Record<string, string> = {};
  const rawMetadata = (header as Record<string, unknown>)[METADATA_KEY];
  if (rawMetadata !== undefined) {
    if (typeof rawMetadata !== 'object' || rawMetadata === null || Array.isArray(rawMetadata)) fail(`${METADATA_KEY} is not an object of strings`);
    for (const [k, v] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY} entry "${k}" is not a string`);
      metadata[k] = v as string;
    }
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, DecodedTensor>();
  const ranges: { begin: number; end: number; name: string }[] = [];
  for (const [name, entry] of entries) {
    if (name === METADATA_KEY) continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !isDimList(shape) || !isDimList(offsets) || offsets.length !== 2) {
      fail(`tensor ${name} has a malformed header entry ${JSON.stringify(entry)} (expected {dtype, shape, data_offsets: [begin, end]})`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    const size = BYTES_PER[dtype as string];
    if (!size) fail(`tensor ${name} has unsupported dtype ${String(dtype)} (readable: ${READABLE})`);
    if (end < begin || end > dataLength) {
      fail(`tensor ${name} lies outside the file's data (bytes ${begin}..${end} of a ${dataLength}-byte data section; truncated file?)`);
    }
    const count = elementCount(dims);
    if (end - begin !== count * size!) fail(`tensor ${name}: ${end - begin} bytes do not hold ${dtype} shape [${dims}] (${count * size!} bytes)`);
    ranges.push({ begin, end, name });
    const start = dataStart + begin;
    const data = dtype === 'F16' || dtype === 'BF16' ? widenHalves(bytes, start, count, dtype) : typedView(bytes, start, count, dtype as string);
    tensors.set(name, { dtype: dtype as string, shape: dims, data });
  }

  // The data section must be exactly the tensors, back to back: no overlaps, no gaps, nothing after.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last = '';
  for (const r of ranges) {
    if (r.begin < covered) fail(`tensors ${last} and ${r.name} overlap (corrupt file?)`);
    if (r.begin > covered) fail(`data bytes ${covered}..${r.begin} belong to no tensor (corrupt file?)`);
    covered = r.end;
    last = r.name;
  }
  if (covered < dataLength) fail(`${dataLength - covered} bytes after the last tensor belong to no tensor (corrupt file?)`);
  return { tensors, metadata };
}

/** Reads and decodes a safetensors file; errors name the file. */
export async function readSafetensorsFile(path: string): Promise<DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SafetensorsError(path, code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(err)})`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes a safetensors file through a temporary file and a rename, so readers never see half a file. */
export async function writeSafetensorsFile(path: string, tensors: Record<string, TensorInput>, metadata?: Record<string, string>): Promise<void> {
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
