import t from 'tap';
import { decodeSafetensors, encodeSafetensors } from '../../models/safetensors.ts';

t.test('round trip of every written dtype with metadata', async (t) => {
  const bytes = encodeSafetensors(
    {
      f: { shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 4]) },
      i: { shape: [3], data: Int32Array.from([7, -8, 9]) },
      l: { shape: [1], data: BigInt64Array.from([123n]) },
      u: { shape: [2], data: Uint8Array.from([0, 255]) },
    },
    { productId: 'p' },
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  t.same(metadata, { productId: 'p' });
  t.same(Array.from(tensors.get('f')!.data as Float32Array), [1, -2, 3.5, 4]);
  t.same(tensors.get('f')!.shape, [2, 2]);
  t.same(Array.from(tensors.get('i')!.data as Int32Array), [7, -8, 9]);
  t.equal((tensors.get('l')!.data as BigInt64Array)[0], 123n);
  t.same(Array.from(tensors.get('u')!.data as Uint8Array), [0, 255]);
});

function handMade(dtype: string, shape: number[], data: number[]): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ x: { dtype, shape, data_offsets: [0, data.length] } }));
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

t.test('F16 and BF16 decode to float32', async (t) => {
  // F16 0x3c00 = 1, 0xc000 = -2, 0x3800 = 0.5 (little endian bytes)
  const f16 = decodeSafetensors(handMade('F16', [3], [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38])).tensors.get('x')!;
  t.same(Array.from(f16.data as Float32Array), [1, -2, 0.5]);
  // BF16 0x3f80 = 1, 0x4040 = 3
  const bf16 = decodeSafetensors(handMade('BF16', [2], [0x80, 0x3f, 0x40, 0x40])).tensors.get('x')!;
  t.same(Array.from(bf16.data as Float32Array), [1, 3]);
});

t.test('truncated and corrupt files name the problem', async (t) => {
  const good = encodeSafetensors({ a: { shape: [4], data: new Float32Array(4) } });
  t.throws(() => decodeSafetensors(good.subarray(0, 4), 'bank.safetensors'), /bank\.safetensors: file is too short/);
  t.throws(() => decodeSafetensors(good.subarray(0, 20), 'bank.safetensors'), /runs past the end .*truncated/);
  t.throws(() => decodeSafetensors(good.subarray(0, good.length - 4), 'b'), /outside the file's data/);
  const bad = Uint8Array.from(good);
  bad[9] = 0x7b; // break the JSON
  bad[10] = 0x7b;
  t.throws(() => decodeSafetensors(bad, 'b'), /not valid JSON/);
  t.throws(() => decodeSafetensors(handMade('Q4', [1], [0]), 'b'), /unsupported dtype Q4/);
  t.throws(() => decodeSafetensors(handMade('F32', [2], [0, 0, 0, 0]), 'b'), /4 bytes do not hold F32 shape \[2\]/);
});
