/**
 * Synthetic negatives of golden samples for enrollment: CutSwap (with the
 * sample's LayerCAM saliency maps) or CutPaste, half patch defects and half
 * scars, reproducible for a seed.
 */
import type { RgbImage } from '../product/image-io.ts';
import { cutPaste, cutSwap, salientPixels, type SyntheticDefect } from '../models/augment/synthetic-defects.ts';
import type { SaliencyExtractor } from '../models/saliency/layer-cam.ts';

export type NegativeMethod = 'cutswap' | 'cutpaste';

export interface SampleNegatives {
  negatives: SyntheticDefect[];
  /** The sample's saliency maps (CutSwap only), 0..1, shallow to deep. */
  saliency: Float32Array[];
}

/**
 * `count` negatives of one image, alternating patch and scar; CutSwap draws
 * each one's anchors from a saliency level picked at random.
 */
export async function makeNegatives(
  image: RgbImage,
  count: number,
  method: NegativeMethod,
  random: () => number,
  saliency?: SaliencyExtractor,
): Promise<SampleNegatives> {
  if (method === 'cutpaste') {
    return { negatives: Array.from({ length: count }, (_, k) => cutPaste(image, random, { scar: k % 2 === 1 })), saliency: [] };
  }
  if (!saliency) throw new Error('CutSwap needs saliency maps, which need a backbone linesight builds itself (not an onnx: file)');
  const { maps } = await saliency.maps(image);
  const salient: (number[] | undefined)[] = [];
  const negatives = Array.from({ length: count }, (_, k) => {
    const level = Math.floor(random() * maps.length);
    salient[level] ??= salientPixels(maps[level]!);
    return cutSwap(image, maps[level]!, random, { scar: k % 2 === 1, level, salient: salient[level] });
  });
  return { negatives, saliency: maps };
}
