import t from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensorsFile, writeSafetensorsFile } from '../../models/safetensors.ts';

/** A file written byte by byte as the format describes (header padded with spaces), independent of the encoder. */
function handMade(entries: Record<string, unknown>, data: number[], padTo = 1): Uint8Array {
  let json = JSON.stringify(entries);
  while (json.length % padTo !== 0) json += ' ';
  const header = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

const one = (dtype: string, shape: number[], data: number[]) => handMade({ x: { dtype, shape, data_offsets: [0, data.length] } }, data);

t.test('round trip of every written dtype, metadata, empty and non-ASCII names', async (t) => {
  const bytes = encodeSafetensors(
    {
      flags: { shape: [3], data: Uint8Array.from([0, 7, 255]) }, // odd length before wider types
      f: { shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 4]) },
      i: { shape: [3], data: Int32Array.from([7, -8, 2147483647]) },
      l: { shape: [2], data: BigInt64Array.from([123n, -(2n ** 62n)]) },
      empty: { shape: [0, 5], data: new Float32Array(0) },
      'maßstab·µ': { shape: [], data: Float32Array.from([0.25]) },
    },
    { productId: 'teller-ø', version: 'v3' },
  );
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  t.equal(headerLength % 8, 0, 'header padded to 8 bytes');
  t.match(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)), /^\{.*\} *$/, 'padding is spaces');

  const { tensors, metadata } = decodeSafetensors(bytes);
  t.same(metadata, { productId: 'teller-ø', version: 'v3' });
  t.same([...tensors.keys()], ['flags', 'f', 'i', 'l', 'empty', 'maßstab·µ'], 'header order kept');
  const f = tensors.get('f')!;
  t.same([f.dtype, f.shape, Array.from(f.data as Float32Array)], ['F32', [2, 2], [1, -2, 3.5, 4]]);
  t.ok(f.data instanceof Float32Array);
  t.equal(f.data.buffer, bytes.buffer, 'aligned F32 data is read in place, not copied');
  t.same(Array.from(tensors.get('i')!.data as Int32Array), [7, -8, 2147483647]);
  t.same(Array.from(tensors.get('l')!.data as BigInt64Array), [123n, -(2n ** 62n)]);
  t.same(Array.from(tensors.get('flags')!.data as Uint8Array), [0, 7, 255]);
  t.same(tensors.get('empty')!.shape, [0, 5]);
  t.equal(tensors.get('empty')!.data.length, 0);
  t.same([tensors.get('maßstab·µ')!.shape, Array.from(tensors.get('maßstab·µ')!.data as Float32Array)], [[], [0.25]]);
});

t.test('data at any byte alignment decodes; aligned data is not copied', async (t) => {
  const values = new Float32Array([1.5, -3]);
  const raw = Array.from(new Uint8Array(values.buffer));
  const bytes = handMade({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, raw); // header not padded
  const dataStart = bytes.length - raw.length;
  for (let shift = 0; shift < 4; shift++) {
    const input = new Uint8Array(bytes.length + shift).subarray(shift);
    input.set(bytes);
    const x = decodeSafetensors(input).tensors.get('x')!;
    t.same(Array.from(x.data as Float32Array), [1.5, -3], `shifted by ${shift}`);
    const aligned = (shift + dataStart) % 4 === 0;
    t.equal(x.data.buffer === input.buffer, aligned, `shifted by ${shift}: ${aligned ? 'view' : 'copy'}`);
  }
});

t.test('F16 and BF16 are widened to float32', async (t) => {
  // Little-endian half-precision bit patterns and their values.
  const halves: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x3800, 0.5],
    [0x7bff, 65504], // largest normal
    [0x0001, 2 ** -24], // smallest subnormal
    [0x0400, 2 ** -14], // smallest normal
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
  ];
  const f16 = decodeSafetensors(one('F16', [2, 4], halves.flatMap(([h]) => [h & 0xff, h >> 8]))).tensors.get('x')!;
  t.equal(f16.dtype, 'F16');
  t.same(f16.shape, [2, 4]);
  t.ok(f16.data instanceof Float32Array);
  t.same(Array.from(f16.data as Float32Array), halves.map(([, v]) => v));
  const nan = decodeSafetensors(one('F16', [2], [0x00, 0x7e, 0x00, 0x80])).tensors.get('x')!.data as Float32Array;
  t.ok(Number.isNaN(nan[0]));
  t.ok(Object.is(nan[1], -0), '0x8000 is negative zero');

  // bfloat16: the upper 16 bits of a float32. 0x3f80 = 1, 0x4040 = 3, 0xbf00 = -0.5, 0x3e20 = 0.15625.
  const bf16 = decodeSafetensors(one('BF16', [4], [0x80, 0x3f, 0x40, 0x40, 0x00, 0xbf, 0x20, 0x3e])).tensors.get('x')!;
  t.same(Array.from(bf16.data as Float32Array), [1, 3, -0.5, 0.15625]);
});

t.test('files written to disk read back; the write leaves no temporary files', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bank.safetensors');
  await writeSafetensorsFile(file, { bank: { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } }, { productId: 'p' });
  t.same(await readdir(dir), ['bank.safetensors']);
  const { tensors, metadata } = await readSafetensorsFile(file);
  t.same(Array.from(tensors.get('bank')!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
  t.same(metadata, { productId: 'p' });
  t.same(decodeSafetensors(await readFile(file)).tensors.get('bank')!.shape, [2, 3], 'a Node Buffer decodes too');
  await t.rejects(readSafetensorsFile(join(dir, 'nope.safetensors')), { name: 'SafetensorsError', message: /nope\.safetensors: file not found/ });
  await writeFile(join(dir, 'short.safetensors'), 'abc');
  await t.rejects(readSafetensorsFile(join(dir, 'short.safetensors')), /short\.safetensors: file is too short \(3 bytes/);
});

t.test('truncated, corrupt and foreign files are refused with a message naming the file', async (t) => {
  const good = encodeSafetensors({ a: { shape: [4], data: new Float32Array(4) }, b: { shape: [2], data: new Int32Array(2) } });
  const bad = (bytes: Uint8Array, pattern: RegExp, what: string) =>
    t.throws(() => decodeSafetensors(bytes, 'bank.safetensors'), { name: 'SafetensorsError', message: pattern }, what);

  bad(good.subarray(0, 4), /^bank\.safetensors: file is too short \(4 bytes/, 'shorter than the length field');
  bad(good.subarray(0, 20), /^bank\.safetensors: header of \d+ bytes runs past the end of the 20-byte file \(truncated/, 'cut inside the header');
  bad(good.subarray(0, good.length - 4), /^bank\.safetensors: tensor \w lies outside the file's data .*truncated file/, 'cut inside the data');
  const huge = Uint8Array.from(good);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  bad(huge, /header of 9223372036854775808 bytes runs past the end/, 'absurd header length');

  const brokenJson = Uint8Array.from(good);
  brokenJson[9] = 0x7b; // '{{' is not JSON
  bad(brokenJson, /header is not valid JSON/, 'header not JSON');
  const invalidUtf8 = handMade({ x: 1 }, []);
  invalidUtf8[10] = 0xff;
  bad(invalidUtf8, /header is not valid JSON/, 'header not UTF-8');
  bad(handMade([1, 2] as unknown as Record<string, unknown>, []), /header is not a JSON object/, 'header an array');
  bad(handMade({ x: { dtype: 'F32', shape: [1] } }, [0, 0, 0, 0]), /tensor x has a malformed header entry/, 'no offsets');
  bad(handMade({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /tensor x has a malformed header entry/, 'negative dim');
  bad(handMade({ __metadata__: { n: 3 } }, []), /__metadata__ entry "n" is not a string/, 'metadata not strings');

  bad(one('Q4', [1], [0]), /tensor x has unsupported dtype Q4 \(readable: F32, F16, BF16, I32, I64, U8\)/, 'unknown dtype');
  bad(one('F32', [2], [0, 0, 0, 0]), /tensor x: 4 bytes do not hold F32 shape \[2\] \(8 bytes\)/, 'shape and size disagree');
  bad(
    handMade({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, [1, 2, 3, 4, 5, 6]),
    /tensors a and b overlap/,
    'overlapping tensors',
  );
  bad(
    handMade({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }, [1, 2, 3, 4, 5, 6]),
    /data bytes 2\.\.4 belong to no tensor/,
    'hole between tensors',
  );
  bad(handMade({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, [1, 2, 3]), /1 bytes after the last tensor belong to no tensor/, 'trailing bytes');
  bad(handMade({ a: { dtype: 'U8', shape: [2], data_offsets: [3, 1] } }, [1, 2, 3]), /tensor a lies outside the file's data/, 'reversed offsets');
});

t.test('the encoder refuses inconsistent tensors', async (t) => {
  t.throws(() => encodeSafetensors({ x: { shape: [3], data: new Float32Array(4) } }), /tensor x: 4 values for shape \[3\]/);
  t.throws(() => encodeSafetensors({ x: { shape: [1.5], data: new Float32Array(1) } }), /tensor x: shape \[1\.5\] must list non-negative integers/);
  t.throws(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /"__metadata__" cannot be used as a tensor name/);
  t.throws(() => encodeSafetensors({}, { n: 3 as unknown as string }), /metadata "n" must be a string/);
});
