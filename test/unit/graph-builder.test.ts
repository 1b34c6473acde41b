import t from 'tap';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../../models/onnx/graph-builder.ts';

t.test('a built graph runs in ONNX Runtime with float and int attributes', async (t) => {
  const g = new GraphBuilder('matmul-leaky');
  const x = g.input('x', ['n', 3]);
  const w = g.floats('w', [1, 2, 3, 4, 5, 6], [3, 2]);
  const y = g.op('LeakyRelu', [g.op('MatMul', [x, w])], { alpha: { f: 0.5 } });
  g.output(y, 'y', ['n', 2]);
  const session = await ort.InferenceSession.create(g.toBytes());
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 0, -1, 0, 1, 0]), [2, 3]) });
  t.same(Array.from(out.y!.data as Float32Array), [-2, -2, 3, 4]);
  t.same(out.y!.dims, [2, 2]);
});

t.test('fresh names never collide and float attributes must be wrapped', async (t) => {
  const g = new GraphBuilder('names');
  t.equal(g.fresh('a'), 'a');
  t.not(g.fresh('a'), 'a');
  t.throws(() => g.op('LeakyRelu', ['a'], { alpha: 0.5 }), /wrap float/);
});
