import t from 'tap';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { presenceSchema } from '../../config/parts.ts';
import { composeOnBelt, conveyorLayout, emptyBelt, paintDefect, partsFromPattern, slidingFrames, withDefect, type Part } from '../../fixtures/conveyor.ts';
import { generateDevset } from '../../fixtures/devset.ts';
import { PresenceDetector, fullyInView, makeThumbnail } from '../../runtime/parts/presence.ts';

const fake = (kind: string, defective: boolean): Part => ({ kind, defective, image: `${kind}.png` });

t.test('layout: appear keeps one block of partFrames per part; slide adds slides and gaps', async (t) => {
  const parts = [fake('good', false), fake('color', true)];
  const appear = conveyorLayout(parts, { partFrames: 15 });
  t.equal(appear.frames, 30);
  t.same(appear.spans.map((s) => [s.firstFrame, s.lastFrame, s.wholeFrom, s.wholeTo]), [[0, 14, 0, 14], [15, 29, 15, 29]]);
  const slide = conveyorLayout(parts, { motion: 'slide', partFrames: 5, slideFrames: 3, gapFrames: 2, size: 224 });
  t.equal(slide.frames, 2 + (3 + 5 + 3 + 2) * 2);
  t.same(slide.spans.map((s) => [s.firstFrame, s.wholeFrom, s.wholeTo, s.lastFrame]), [[2, 5, 9, 12], [15, 18, 22, 25]]);
  t.same(slide.frameAt.slice(2, 13).map((f) => f.dx), [-168, -112, -56, 0, 0, 0, 0, 0, 56, 112, 168]);
});

t.test('composeOnBelt shifts the part over the belt', async (t) => {
  const size = 2;
  const part = Uint8Array.from([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
  const belt = new Uint8Array(12).fill(9);
  t.same([...composeOnBelt(part, belt, size, 1)], [9, 9, 9, 1, 1, 1, 9, 9, 9, 3, 3, 3]);
  t.same([...composeOnBelt(part, belt, size, -1)], [2, 2, 2, 9, 9, 9, 4, 4, 4, 9, 9, 9]);
  t.same([...composeOnBelt(part, belt, size, 2)], [...belt]);
  t.same([...composeOnBelt(part, belt, size, 0)], [...part]);
});

t.test('painted defects: strength 0 changes nothing, stronger changes more', async (t) => {
  const base = emptyBelt(64).map((v) => v + 100);
  const diff = (strength: number) => {
    const img = Uint8Array.from(base);
    paintDefect(img, 64, strength, 3);
    return img.reduce((sum, v, i) => sum + Math.abs(v - base[i]!), 0);
  };
  t.equal(diff(0), 0);
  t.ok(diff(0.2) > 0 && diff(0.2) < diff(0.5) && diff(0.5) < diff(1));
  t.match(withDefect(fake('good', false), 0.4), { kind: 'painted', defective: true, defect: { strength: 0.4 } });
  t.match(withDefect(fake('good', false), 0.1, { defective: false }), { defective: false });
  t.throws(() => withDefect(fake('good', false), 1.5));
});

t.test('parts from a pattern, back to back in any order', async (t) => {
  const good = [fake('g1', false), fake('g2', false)];
  const bad = [fake('d1', true)];
  t.same(partsFromPattern('gddgg', good, bad).map((p) => p.kind), ['g1', 'd1', 'd1', 'g2', 'g1']);
  t.throws(() => partsFromPattern('gx', good, bad));
});

t.test('sliding washers over the empty belt: one passage per part, fully-in-view frames are whole views', async (t) => {
  const dir = t.testdir();
  await generateDevset({ out: dir, train: 1, testGood: 3, testPerDefect: 0, size: 224, seed: 5, categories: ['washer'] });
  const goodDir = join(dir, 'washer', 'test', 'good');
  const parts = (await readdir(goodDir)).filter((f) => f.endsWith('.png')).sort().map((f) => ({ kind: 'good', defective: false, image: join(goodDir, f) }));
  t.ok(parts.length >= 3);
  const opts = { motion: 'slide' as const, partFrames: 6, gapFrames: 12, size: 224 };
  const layout = conveyorLayout(parts, opts);
  const settings = presenceSchema.parse({});
  const detector = new PresenceDetector(settings);
  const passages: { frames: { index: number; occupancy: number; touchesBorder: boolean; box: boolean }[] }[] = [];
  let index = 0;
  for await (const frame of slidingFrames(parts, opts)) {
    const obs = detector.observe(makeThumbnail(frame, 224, 224, settings.thumbnailSize));
    if (obs.event === 'enter') passages.push({ frames: [] });
    if (obs.present) passages.at(-1)!.frames.push({ index, occupancy: obs.occupancy, touchesBorder: obs.touchesBorder, box: obs.box !== null });
    index++;
  }
  t.equal(index, layout.frames);
  t.equal(passages.length, parts.length, 'one passage per part');
  passages.forEach((passage, p) => {
    const span = layout.spans[p]!;
    const max = Math.max(...passage.frames.map((f) => f.occupancy));
    const whole = passage.frames.filter((f) => fullyInView({ ...f, box: f.box ? { x0: 0, y0: 0, x1: 0, y1: 0 } : null }, max, settings.inViewBand)).map((f) => f.index);
    t.ok(whole.length >= opts.partFrames, `part ${p}: ${whole.length} fully-in-view frames`);
    t.ok(whole.every((i) => i >= span.wholeFrom && i <= span.wholeTo), `part ${p}: fully-in-view frames ${whole.join(',')} lie in its whole views ${span.wholeFrom}..${span.wholeTo}`);
  });
});
