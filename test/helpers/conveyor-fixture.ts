/**
 * A small enrolled product and a short conveyor video for the streaming tests.
 * Parts are chosen by their offline scores (clearly good, clearly defective),
 * so the tests check the streaming path, not the model's accuracy; near-threshold
 * parts (a painted defect whose strength puts the score at a chosen multiple of
 * the threshold) let them see flicker.
 */
import { join } from 'node:path';
import type { Test } from 'tap';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { frameToInput, readImage } from '../../product/image-io.ts';
import { ProductScorer } from '../../product/scorer.ts';
import { encodeConveyorVideo, partFrame, prepareSampleProduct, withDefect, type ConveyorMotion, type Part, type SampleProduct } from '../../fixtures/conveyor.ts';

export interface ConveyorFixture extends SampleProduct {
  /** Parts sorted from clearly good to clearly defective, with their offline scores. */
  scored: { part: Part; score: number; threshold: number }[];
  /** Writes a video of `pattern` ('g' good, 'd' defective), each part held `partFrames` frames at `fps`. */
  video(name: string, pattern: string, opts?: { fps?: number; partFrames?: number } & ConveyorMotion): Promise<string>;
  /** Writes a video of the given parts (e.g. with near-threshold ones). */
  videoOf(name: string, parts: Part[], opts?: { fps?: number; partFrames?: number } & ConveyorMotion): Promise<string>;
  /**
   * A clearly good part with a defect painted at the strength whose offline
   * score is closest to `ratio` x the threshold (bisection); its ground truth is
   * defective when ratio >= 1. Returns the part and its score.
   */
  nearThreshold(ratio: number, seed?: number): Promise<{ part: Part; score: number; threshold: number }>;
}

export async function conveyorFixture(dir: string): Promise<ConveyorFixture> {
  const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 12, testGood: 4, testPerDefect: 1, seed: 3 });
  const scorer = await ProductScorer.load(sample.dataDir, sample.product, inferenceSettingsSchema.parse({}));
  const scored: ConveyorFixture['scored'] = [];
  for (const part of [...sample.good, ...sample.defective]) {
    const r = await scorer.score(await readImage(part.image, scorer.inputSize));
    scored.push({ part, score: r.score, threshold: r.threshold });
  }
  await scorer.release();
  const clearlyGood = scored.filter((s) => !s.part.defective && s.score < s.threshold * 0.9).sort((a, b) => a.score - b.score);
  const clearlyBad = scored.filter((s) => s.part.defective && s.score > s.threshold * 1.3).sort((a, b) => b.score - a.score);
  if (clearlyGood.length === 0 || clearlyBad.length === 0) {
    throw new Error(`conveyor fixture: no clearly good or clearly defective part (scores ${scored.map((s) => `${s.part.kind} ${s.score.toFixed(2)}/${s.threshold.toFixed(2)}`).join(', ')})`);
  }
  const encode = async (name: string, parts: Part[], opts: { fps?: number; partFrames?: number } & ConveyorMotion) => {
    const path = join(dir, `${name}.mp4`);
    await encodeConveyorVideo(parts, path, { ...opts, size: 224, fps: opts.fps ?? 15, partFrames: opts.partFrames ?? 15 });
    return path;
  };
  /** Scores a part as the runtime sees it in the video (whole view, painted defect). */
  const scoreAsSeen = async (painter: ProductScorer, part: Part) => painter.score(await frameToInput(Buffer.from(await partFrame(part, 224)), 224, 224, painter.inputSize));
  return {
    ...sample,
    scored,
    async video(name, pattern, opts = {}) {
      let g = 0;
      const parts = [...pattern].map((c) => (c === 'd' ? clearlyBad[0]!.part : clearlyGood[g++ % clearlyGood.length]!.part));
      return encode(name, parts, opts);
    },
    videoOf: (name, parts, opts = {}) => encode(name, parts, opts),
    async nearThreshold(ratio, seed = 1) {
      const base = clearlyGood[0]!.part;
      const painter = await ProductScorer.load(sample.dataDir, sample.product, inferenceSettingsSchema.parse({}));
      try {
        let lo = 0;
        let hi = 1;
        let best = { strength: 0, score: Infinity, threshold: 1 };
        for (let i = 0; i < 10; i++) {
          const strength = (lo + hi) / 2;
          const r = await scoreAsSeen(painter, withDefect(base, strength, { seed }));
          if (Math.abs(r.score - ratio * r.threshold) < Math.abs(best.score - ratio * best.threshold)) best = { strength, score: r.score, threshold: r.threshold };
          if (r.score < ratio * r.threshold) lo = strength;
          else hi = strength;
        }
        return { part: withDefect(base, best.strength, { seed, defective: ratio >= 1 }), score: best.score, threshold: best.threshold };
      } finally {
        await painter.release();
      }
    },
  };
}

/**
 * Checks one 60-frame loop of a 'ggdg' video (15 frames a part): exactly one
 * reject, from the defective part's frames. Returns the loop's frames.
 */
export function expectOneRejectInLoop(t: Test, scored: ScoredFrame[]): ScoredFrame[] {
  const first = scored[0]!.result.seq;
  const loop = scored.filter((s) => s.result.seq - first < 60);
  const rejects = loop.filter((s) => s.reject);
  t.equal(rejects.length, 1, 'one reject for the one defective part');
  const at = rejects[0]!.result.seq - first;
  t.ok(at >= 30 && at < 45, `the reject comes from the defective part's frames (frame ${at} of the loop)`);
  return loop;
}
