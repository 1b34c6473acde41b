/**
 * Enrollment is reproducible: the same golden samples and seed train the same
 * spatial transformer and feature adaptor, seed 0 (the default) included, and
 * another seed trains a different one.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { tfjsSeed } from '../../models/components/tfjs-backend.ts';
import { trainSpatialTransformer } from '../../models/stn/train.ts';
import { trainFeatureAdaptor, type AdaptSample } from '../../models/adapt/train.ts';
import { localisationShape } from '../../models/stn/localisation-net.ts';
import { seededRandom } from '../../models/components/random.ts';

const digest = (arrays: Float32Array[]) => {
  const h = createHash('sha256');
  for (const a of arrays) h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
};

t.test('tfjsSeed is never 0 (tfjs would take it as "no seed") and differs by stream and seed', async (t) => {
  const seen = new Set<number>();
  for (const seed of [0, 1, -1, 7919, 2 ** 31 - 1])
    for (let stream = 0; stream < 12; stream++) {
      const s = tfjsSeed(seed, stream);
      t.ok(Number.isInteger(s) && s >= 1, `seed ${seed} stream ${stream} -> ${s}`);
      seen.add(s);
    }
  t.equal(seen.size, 60, 'no two (seed, stream) pairs share a seed here');
  t.equal(tfjsSeed(3, 4), tfjsSeed(3, 4));
});

t.test('the spatial transformer trains to the same weights from the same samples and seed', async (t) => {
  const shape = localisationShape({ width: 64, height: 64 }, 8);
  const [h, w] = shape.input;
  const images = Array.from({ length: 6 }, (_, k) => Float32Array.from({ length: h * w * 3 }, (_, i) => ((i * 7 + k * 13) % 97) * 2.5));
  const train = async (seed: number) => {
    const r = await trainSpatialTransformer(shape, images, {
      loss: 'image',
      ranges: { rotation: 30, translation: 0.15, scale: 0.05 },
      steps: 12,
      batchSize: 6,
      learningRate: 0.005,
      l2Weight: 1,
      ssimWeight: 1,
      poseWeight: 1,
      seed,
    });
    return digest([...r.weights.conv.flatMap((c) => [c.kernel, c.bias]), r.weights.hidden.weight, r.weights.pose.weight, r.weights.pose.bias]);
  };
  const first = await train(0);
  t.equal(await train(0), first, 'seed 0 twice: identical weights');
  t.not(await train(1), first, 'another seed: another network');
});

t.test('the feature adaptor trains to the same weights from the same samples and seed', async (t) => {
  const rng = seededRandom(3);
  const samples: AdaptSample[] = Array.from({ length: 24 }, (_, i) => ({ rows: Float32Array.from({ length: 8 }, () => rng() - 0.5), label: (i % 3) as 0 | 1 | 2 }));
  const train = async (seed: number) => {
    const r = await trainFeatureAdaptor(samples, 2, { epochs: 3, batchSize: 8, learningRate: 0.02, weightDecay: 0, hidden: 4, seed });
    return digest([r.adaptor.matrix, r.adaptor.offset]);
  };
  const first = await train(0);
  t.equal(await train(0), first, 'seed 0 twice: identical adaptor');
  t.not(await train(1), first, 'another seed: another adaptor');
});
