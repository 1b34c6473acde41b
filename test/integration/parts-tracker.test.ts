/**
 * Part tracking on the real sample product: the conveyor fixture's washers
 * slide in and out over the empty belt (partial views and the empty belt score
 * over the threshold), near-threshold parts sit at 0.92x and 1.15x the
 * threshold, good and bad parts come back to back. Real ONNX Runtime scoring
 * of every frame, presence detection on the frames, one verdict per part
 * checked against the ground truth by part.
 */
import t from 'tap';
import { partsSettingsSchema } from '../../config/parts.ts';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { conveyorLayout, slidingFrames, type Part } from '../../fixtures/conveyor.ts';
import { frameToInput } from '../../product/image-io.ts';
import { ProductScorer } from '../../product/scorer.ts';
import { makeThumbnail } from '../../runtime/parts/presence.ts';
import { PartTracker, type PartVerdict } from '../../runtime/parts/tracker.ts';
import { conveyorFixture } from '../helpers/conveyor-fixture.ts';

const dir = t.testdir();
const fixture = await conveyorFixture(dir);

t.test('presence mode on sliding parts: every part judged right, partial views and the empty belt never judged', async (t) => {
  const goodNear = await fixture.nearThreshold(0.92);
  const badNear = await fixture.nearThreshold(1.15);
  t.ok(goodNear.score < goodNear.threshold && goodNear.score > 0.85 * goodNear.threshold, `near-threshold good part scores ${goodNear.score.toFixed(2)} / ${goodNear.threshold.toFixed(2)}`);
  t.ok(badNear.score >= badNear.threshold && badNear.score < 1.3 * badNear.threshold, `near-threshold bad part scores ${badNear.score.toFixed(2)} / ${badNear.threshold.toFixed(2)}`);
  const good = fixture.scored.filter((s) => !s.part.defective).sort((a, b) => a.score - b.score)[0]!.part;
  const bad = fixture.scored.filter((s) => s.part.defective).sort((a, b) => b.score - a.score)[0]!.part;
  // A good part behind a bad one and the reverse, a defect right behind a near-threshold reject.
  const parts: Part[] = [good, badNear.part, bad, goodNear.part, good, bad, good];
  const opts = { motion: 'slide' as const, partFrames: 6, gapFrames: 12, size: 224 };
  const layout = conveyorLayout(parts, opts);

  const scorer = await ProductScorer.load(fixture.dataDir, fixture.product, inferenceSettingsSchema.parse({}));
  t.teardown(() => scorer.release());
  const tracker = new PartTracker({ camera: 'cam1', product: fixture.product, settings: partsSettingsSchema.parse({ mode: 'presence' }) });
  const verdicts: PartVerdict[] = [];
  const partialScores: number[] = [];
  let i = 0;
  for await (const frame of slidingFrames(parts, opts)) {
    const r = await scorer.score(await frameToInput(Buffer.from(frame), 224, 224, scorer.inputSize));
    const at = layout.frameAt[i]!;
    if (at.part !== null && at.dx !== 0) partialScores.push(r.score);
    const ts = 1_000_000 + i * 67;
    verdicts.push(...tracker.onFrame({ frameId: `cam1-${i}`, ts, score: r.score, threshold: r.threshold, modelVersion: 'v', thumbnail: makeThumbnail(frame, 224, 224, 32) }, ts + 10).verdicts);
    i++;
  }
  t.ok(partialScores.filter((s) => s >= goodNear.threshold).length > partialScores.length / 2, 'most partial views score over the threshold (what the tracker must ignore)');
  t.same(verdicts.map((v) => v.verdict), parts.map((p) => (p.defective ? 'reject' : 'ok')), 'one verdict per part, each right');
  t.same(verdicts.map((v) => v.seq), parts.map((_, k) => k + 1));
  verdicts.forEach((v, k) => {
    const span = layout.spans[k]!;
    t.ok(v.frames >= opts.partFrames - 1, `part ${k}: judged on ${v.frames} whole views`);
    t.ok(v.firstTs! >= 1_000_000 + span.firstFrame * 67 && v.lastTs! <= 1_000_000 + span.lastFrame * 67, `part ${k}: its frames lie in its passage`);
  });
});
