/**
 * Framing of the aligned part on hand-checkable inputs: the belt difference
 * per pixel, a square part turned on the belt comes out square to the frame
 * and zoomed onto with the margin, a round part keeps its orientation, and a
 * part that fills the frame or does not stand out from the belt keeps the
 * whole frame.
 */
import t from 'tap';
import { DEFAULT_FRAMING, partCoverage, partFraming, WHOLE_FRAME } from '../../models/stn/framing.ts';
import { angleOf, scaleOf, type Similarity } from '../../models/stn/pose.ts';

const N = 40;
const deg = (r: number) => (r * 180) / Math.PI;

/** Coverage map: `inside(x, y)` in normalised pixel-centre coordinates is part (level 60), the rest belt (level 1). */
function coverageOf(inside: (x: number, y: number) => boolean): Float32Array {
  const c = new Float32Array(N * N);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) c[y * N + x] = inside((2 * x + 1) / N - 1, (2 * y + 1) / N - 1) ? 60 : 1;
  return c;
}
/** Where output point q is read from. */
const apply = (m: Similarity, [x, y]: [number, number]): [number, number] => [m[0] * x - m[1] * y + m[2], m[1] * x + m[0] * y + m[3]];

t.test('partCoverage: mean difference from each image\'s border colour, largest over the channels', async (t) => {
  const a = new Float32Array(3 * 3 * 3).fill(90);
  a.set([120, 90, 50], 4 * 3); // centre pixel: +30 red, -40 blue
  const b = new Float32Array(3 * 3 * 3).fill(100);
  b.set([100, 110, 100], 4 * 3); // centre pixel: +10 green
  const c = partCoverage([a, b], 3, 3);
  t.equal(c[4], (40 + 10) / 2);
  t.equal(c[0], 0, 'the belt differs from itself by nothing');
});

t.test('a square part turned 30 deg comes out square to the frame, zoomed onto with the margin', async (t) => {
  // A square of half-side 0.4 centred at (0.1, -0.05), turned 30 deg.
  const turn = (30 * Math.PI) / 180;
  const square = coverageOf((x, y) => {
    const u = Math.cos(turn) * (x - 0.1) + Math.sin(turn) * (y + 0.05);
    const v = -Math.sin(turn) * (x - 0.1) + Math.cos(turn) * (y + 0.05);
    return Math.abs(u) < 0.4 && Math.abs(v) < 0.4;
  });
  const f = partFraming(square, N, N);
  const angle = deg(angleOf(f));
  t.ok([30, -60].some((a) => Math.abs(angle - a) <= 2), `turned with the square's sides: ${angle.toFixed(1)} deg`);
  // Half-side 0.4, half a pixel at each edge, the margin.
  t.ok(Math.abs(scaleOf(f) - (0.4 + 1 / N + DEFAULT_FRAMING.margin)) < 0.04, `side ${scaleOf(f).toFixed(3)}`);
  const centre = apply(f, [0, 0]);
  t.ok(Math.hypot(centre[0] - 0.1, centre[1] + 0.05) < 0.04, `centred on the square: ${centre.map((v) => v.toFixed(3))}`);
  // The output's edge midpoints fall just outside the square's sides.
  for (const q of [[1, 0], [0, 1], [-1, 0], [0, -1]] as [number, number][]) {
    const [x, y] = apply(f, q);
    const u = Math.cos(turn) * (x - 0.1) + Math.sin(turn) * (y + 0.05);
    const v = -Math.sin(turn) * (x - 0.1) + Math.cos(turn) * (y + 0.05);
    const out = Math.max(Math.abs(u), Math.abs(v));
    t.ok(out > 0.4 && out < 0.4 + 0.12, `edge ${q} lies ${(out - 0.4).toFixed(3)} outside the part`);
  }
});

t.test('a round part keeps its orientation; a full or invisible part keeps the whole frame', async (t) => {
  const disc = partFraming(coverageOf((x, y) => Math.hypot(x, y) < 0.45), N, N);
  t.equal(angleOf(disc), 0, 'no turn makes a disc smaller');
  t.ok(Math.abs(scaleOf(disc) - (0.45 + 1 / N + DEFAULT_FRAMING.margin)) < 0.04, `side ${scaleOf(disc).toFixed(3)}`);
  t.same(partFraming(coverageOf((x, y) => Math.hypot(x, y) < 0.98), N, N), WHOLE_FRAME, 'the part fills the frame');
  t.same(partFraming(new Float32Array(N * N).fill(3), N, N), WHOLE_FRAME, 'nothing stands out from the belt');
  const tiny = partFraming(coverageOf((x, y) => Math.hypot(x, y) < 0.1), N, N);
  t.ok(Math.abs(scaleOf(tiny) - 1 / DEFAULT_FRAMING.maxZoom) < 1e-9, 'a small part is zoomed onto at most maxZoom times');
});
