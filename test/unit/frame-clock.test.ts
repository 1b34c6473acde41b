/**
 * The camera's frame clock (runtime/ingest/frame-clock.ts) on hand-checkable
 * arrival sequences: a stream of 25 fps (40 ms per frame) whose frames are
 * truly on the camera at 1000 + 40 k ms, read late by varying amounts.
 */
import fc from 'fast-check';
import t from 'tap';
import { FrameClock, fitLine, initialFrameClock, stampFrame } from '../../runtime/ingest/frame-clock.ts';

const I = 40;
const truth = (k: number) => 1000 + k * I;

/** Stamps of frames 0.. arriving at `arrivals` (index = position) on a fresh clock. */
function stamps(arrivals: readonly number[], settings = {}): number[] {
  const clock = new FrameClock({ intervalMs: I, ...settings });
  return arrivals.map((a, k) => clock.stamp(k, a));
}

t.test('frames read on time keep their arrival time', async (t) => {
  const arrivals = Array.from({ length: 20 }, (_, k) => truth(k) + 7);
  t.same(stamps(arrivals), arrivals);
});

t.test('jitter: frames read late by varying amounts are stamped at their place in the stream', async (t) => {
  const late = [0, 12, 3, 30, 0, 18, 25, 1, 0, 33, 9, 0];
  const arrivals = late.map((d, k) => truth(k) + d);
  t.same(stamps(arrivals), late.map((_, k) => truth(k)), 'every stamp is 1000 + 40 k');
});

t.test('a burst: frames held up by a busy device and delivered together keep their spacing', async (t) => {
  // Frames 5..9 come out of the pipe together, with frame 10.
  const arrivals = Array.from({ length: 14 }, (_, k) => (k >= 5 && k <= 10 ? truth(10) + 2 : truth(k)));
  t.same(stamps(arrivals), arrivals.map((_, k) => truth(k)));
});

t.test('a burst at the start (decoder pre-roll): stamps wait for the stream to catch up, then follow it', async (t) => {
  // Frames 0..3 were buffered and arrive at once, when frame 3 was due; then the stream runs on time.
  const arrivals = [1120, 1120, 1120, 1120, 1160, 1200, 1240];
  t.same(stamps(arrivals), [1120, 1120, 1120, 1120, 1160, 1200, 1240]);
});

t.test('a frame the camera lost, replaced by the constant-rate output of ffmpeg with a copy sent along with the next one: no shift', async (t) => {
  // Source frame 5 missing: the filter emits its copy of frame 4 as output frame 5 once frame 6 is in.
  const arrivals = Array.from({ length: 10 }, (_, k) => (k === 5 ? truth(6) : truth(k)));
  t.same(stamps(arrivals), arrivals.map((_, k) => truth(k)));
});

t.test('the first frame late: stamped at its arrival, and the clock settles on the next on-time frame', async (t) => {
  const arrivals = [truth(0) + 25, truth(1) + 10, truth(2), truth(3) + 5];
  t.same(stamps(arrivals), [1025, 1050, 1080, 1120], 'a stamp is never after its arrival, never before the previous stamp');
});

t.test('reconnect: a new reader (index from 0 again) starts a new anchor', async (t) => {
  const clock = new FrameClock({ intervalMs: I });
  const first = [0, 1, 2, 3].map((k) => clock.stamp(k, truth(k) + 4));
  t.same(first, [1004, 1044, 1084, 1124]);
  // The camera came back 3 s later with a longer delay (20 ms).
  const second = [0, 1, 2, 3].map((k) => clock.stamp(k, 5000 + k * I + 20 + (k === 1 ? 15 : 0)));
  t.same(second, [5020, 5060, 5100, 5140]);
  clock.reset();
  t.equal(clock.stamp(7, 9000), 9000, 'after reset() the next frame anchors the clock whatever its index');
});

t.test("a camera whose clock runs slow (100 ppm) does not drift away: the anchor's slow rise follows it", async (t) => {
  const slow = (k: number) => 1000 + k * I * 1.0001;
  const clock = new FrameClock({ intervalMs: I });
  let last = 0;
  for (let k = 0; k < 30_000; k++) last = slow(k) - clock.stamp(k, Math.floor(slow(k)));
  // Without the rise the stamps would be 120 ms early after 20 minutes.
  t.ok(last <= 2, `after 20 minutes a frame arrives ${last.toFixed(2)} ms after its stamp`);
});

t.test('a camera whose clock runs fast: the minimum follows it', async (t) => {
  const fast = (k: number) => 1000 + k * I * 0.9999;
  const clock = new FrameClock({ intervalMs: I });
  let last = 0;
  for (let k = 0; k < 30_000; k++) last = fast(k) - clock.stamp(k, Math.floor(fast(k)));
  t.ok(last >= -0.01 && last <= 1, `after 20 minutes a frame arrives ${last.toFixed(2)} ms after its stamp`);
});

t.test('minutes of heavy load (every frame 300 ms late) move the stamps by at most the slow rise', async (t) => {
  const arrivals = Array.from({ length: 3000 }, (_, k) => truth(k) + (k >= 100 && k < 2600 ? 300 : 0));
  const out = stamps(arrivals);
  const worst = Math.max(...out.map((s, k) => s - truth(k)));
  t.ok(worst <= 0.2 * ((2500 * I) / 1000) + 1, `stamps at most ${worst} ms after the stream's time during 100 s of load`);
  t.equal(out.at(-1), truth(2999), 'back on time afterwards');
});

t.test('arrivals that step a frame later and stay there (a pipeline fallen behind) do not move the stamps', async (t) => {
  // 25 fps for 6 minutes; from 60 s on every frame arrives 40 ms (one frame) later, with 0-3 ms of jitter throughout.
  const jitter = (k: number) => (k * 7) % 4;
  const arrivals = Array.from({ length: 9000 }, (_, k) => truth(k) + jitter(k) + (k >= 1500 ? 40 : 0));
  const out = stamps(arrivals);
  const worst = Math.max(...out.map((s, k) => Math.abs(s - truth(k))));
  t.ok(worst <= 1, `every stamp within 1 ms of the stream's time for 5 minutes after the step (worst ${worst} ms; a fixed 200 ppm rise: 40 ms after 200 s)`);
});

t.test('a slow camera (100 ppm) whose arrivals also step later: the drift learnt before the step is kept', async (t) => {
  const slow = (k: number) => 1000 + k * I * 1.0001;
  const clock = new FrameClock({ intervalMs: I });
  let worst = 0;
  for (let k = 0; k < 15_000; k++) {
    const stamp = clock.stamp(k, Math.floor(slow(k)) + (k >= 6000 ? 40 : 0));
    if (k >= 3000) worst = Math.max(worst, Math.abs(slow(k) - stamp));
  }
  t.ok(worst <= 2, `from 2 minutes on (through a step at 4 minutes, to 10 minutes) every stamp within 2 ms of the camera's time (worst ${worst.toFixed(2)} ms)`);
});

t.test('fitLine: slope and largest residual of block minima, by hand', async (t) => {
  const line = fitLine([{ index: 0, candidate: 5 }, { index: 10, candidate: 6 }, { index: 20, candidate: 7 }], 1);
  t.ok(Math.abs(line.slope - 0.1) < 1e-12 && line.maxResidual < 1e-9, 'three points on a line of slope 0.1');
  // A step of 40 between two pairs: the least-squares line (slope 16) misses the inner points by 12, the outer by 4.
  const step = fitLine([{ index: 0, candidate: 0 }, { index: 1, candidate: 0 }, { index: 2, candidate: 40 }, { index: 3, candidate: 40 }], 1);
  t.equal(step.slope, 16);
  t.ok(Math.abs(step.maxResidual - 12) < 1e-9, `a step leaves residuals of 12 (got ${step.maxResidual})`);
});

t.test('a stream whose time base jumps (every frame 5 s later than the clock says for 2 s) is re-anchored', async (t) => {
  const arrivals = Array.from({ length: 200 }, (_, k) => truth(k) + (k >= 100 ? 5000 : 0));
  const out = stamps(arrivals);
  t.equal(out[99], truth(99));
  t.equal(out[100], truth(100), 'one late frame is just late');
  const reanchored = out.findIndex((s, k) => k >= 100 && s === arrivals[k]);
  t.equal(reanchored, 150, 're-anchored after 2 s (50 frames) of lagging frames');
  t.ok(out.slice(150).every((s, k) => s === arrivals[150 + k]), 'then on the new time base');
});

t.test('pure state: stampFrame returns the next state and leaves the given one alone', async (t) => {
  const s0 = initialFrameClock();
  const a = stampFrame(s0, 0, 1010, { intervalMs: I });
  const b = stampFrame(a.state, 1, 1040, { intervalMs: I });
  t.same([a.ts, b.ts], [1010, 1040]);
  t.equal(s0.anchor, null);
  t.equal(a.state.anchor, 1010);
  t.equal(b.state.anchor, 1000);
  t.equal(b.lagMs, 0);
  t.throws(() => stampFrame(s0, 0, 0, { intervalMs: 0 }), /interval/);
});

t.test('any delays: stamps never after arrival, never backwards, and within the rise of the truth after an on-time frame', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 2, maxLength: 300 }), fc.integer({ min: 1, max: 50 }), (delays, every) => {
      // Every `every`-th frame (and the first) is read on time; ordered arrivals as a pipe delivers them.
      const arrivals: number[] = [];
      delays.forEach((d, k) => arrivals.push(Math.max(arrivals.at(-1) ?? 0, truth(k) + (k % every === 0 ? 0 : d))));
      const out = stamps(arrivals);
      for (let k = 0; k < out.length; k++) {
        if (out[k]! > arrivals[k]!) return false;
        if (k > 0 && out[k]! < out[k - 1]!) return false;
        // The anchor may have risen by 0.2 ms per s since the last on-time frame; 1 ms of rounding.
        const rise = (0.2 * (k % every) * I) / 1000;
        if (Math.abs(out[k]! - truth(k)) > rise + 1) return false;
      }
      return true;
    }),
  );
  t.pass('property holds');
});
