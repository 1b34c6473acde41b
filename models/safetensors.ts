/**
 * The safetensors format (product memory banks, user backbone weights):
 * u64 little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {...}}`,
 * then the raw little-endian tensor bytes. Hand-written: the format is a few
 * lines and no maintained npm codec exists for Node.
 */
import { readFile, writeFile } from 'node:fs/promises';

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

export interface DecodedTensor {
  dtype: string;
  shape: number[];
  data: TensorData;
}

const bytesPer: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 };

export class SafetensorsError extends Error {
  constructor(source: string, reason: string) {
    super(`${source}: ${reason}`);
    this.name = 'SafetensorsError';
  }
}

function dtypeOf(data: TensorData): string {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof BigInt64Array) return 'I64';
  return 'U8';
}

export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: TensorData }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: dtypeOf(t.data), shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // keep tensor data 8-byte aligned
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let o = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), o);
    o += t.data.byteLength;
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): { tensors: Map<string, DecodedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError(source, `file is too short (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > bytes.length) throw new SafetensorsError(source, `header of ${headerLength} bytes runs past the end of the ${bytes.length}-byte file (truncated?)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new SafetensorsError(source, 'header is not valid JSON (corrupt file?)');
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, DecodedTensor>();
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const size = bytesPer[dtype];
    if (!size) throw new SafetensorsError(source, `tensor ${name} has unsupported dtype ${dtype}`);
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) throw new SafetensorsError(source, `tensor ${name} has a malformed header entry`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (begin < 0 || end < begin || end > dataLength) throw new SafetensorsError(source, `tensor ${name} lies outside the file's data (offsets ${begin}..${end}, data ${dataLength} bytes; truncated?)`);
    if (end - begin !== count * size) throw new SafetensorsError(source, `tensor ${name}: ${end - begin} bytes do not hold ${dtype} shape [${shape}]`);
    ranges.push([begin, end, name]);
    // Copy into a fresh buffer so typed arrays are aligned whatever the header length.
    const raw = Uint8Array.prototype.slice.call(bytes, dataStart + begin, dataStart + end); // a real copy, also for Node Buffers
    let data: TensorData;
    if (dtype === 'F32') data = new Float32Array(raw.buffer);
    else if (dtype === 'I32') data = new Int32Array(raw.buffer);
    else if (dtype === 'I64') data = new BigInt64Array(raw.buffer);
    else if (dtype === 'U8') data = raw;
    else {
      const halves = new Uint16Array(raw.buffer);
      const f = new Float32Array(count);
      if (dtype === 'F16') for (let i = 0; i < count; i++) f[i] = halfToFloat(halves[i]!);
      else {
        const u = new Uint32Array(f.buffer);
        for (let i = 0; i < count; i++) u[i] = halves[i]! << 16;
      }
      data = f;
    }
    tensors.set(name, { dtype, shape, data });
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]![0] < ranges[i - 1]![1]) throw new SafetensorsError(source, `tensors ${ranges[i - 1]![2]} and ${ranges[i]![2]} overlap`);
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}

export async function readSafetensorsFile(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return decodeSafetensors(bytes, path);
}

export async function writeSafetensorsFile(path: string, tensors: Record<string, { shape: number[]; data: TensorData }>, metadata?: Record<string, string>): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, metadata));
}
