/**
 * Production statistics on hand-checked numbers: shift bucketing around
 * midnight, hourly tallies, the score histogram, the KS statistic and the
 * median drift in threshold units; the write queue drops instead of waiting;
 * which parts are kept and which frame shows a part.
 */
import t from 'tap';
import { evidenceFrame, keepsPart } from '../../runtime/records/evidence-recorder.ts';
import type { ScoredFrame } from '../../runtime/camera-pipeline.ts';
import { type CountRow, ksStatistic, median, perHour, perShift, scoreDrift, scoreHistogram, shiftStart } from '../../runtime/records/statistics.ts';
import { WriteQueue } from '../../runtime/records/write-queue.ts';

const local = (h: number, m = 0, day = 2) => new Date(2026, 11, day, h, m).getTime();
const SHIFTS = ['06:00', '14:00', '22:00'];

t.test('a time belongs to the shift that started last, the night shift across midnight', async (t) => {
  t.equal(shiftStart(local(6), SHIFTS), local(6));
  t.equal(shiftStart(local(13, 59), SHIFTS), local(6));
  t.equal(shiftStart(local(14), SHIFTS), local(14));
  t.equal(shiftStart(local(23, 30), SHIFTS), local(22));
  t.equal(shiftStart(local(3), SHIFTS), local(22, 0, 1), '03:00 is in the previous day\'s night shift');
  t.equal(shiftStart(local(5, 59), ['22:00', '06:00', '14:00']), local(22, 0, 1), 'order of the list does not matter');
});

t.test('tallies per hour and per shift', async (t) => {
  const row = (ts: number, ok: number, reject: number, noVerdict = 0): CountRow => ({ bucket: ts, camera: 'c', product: 'p', version: 'v1', ok, reject, noVerdict });
  const rows = [row(local(13, 30), 8, 2), row(local(13, 45), 10, 0), row(local(14), 5, 5, 1), row(local(22, 15), 4, 0)];
  const hours = perHour(rows);
  t.same(hours.map((h) => [h.start, h.parts, h.ok, h.ng, h.noVerdict]), [
    [local(13), 20, 18, 2, 0],
    [local(14), 11, 5, 5, 1],
    [local(22), 4, 4, 0, 0],
  ]);
  t.equal(hours[0]!.rejectRate, 0.1);
  const shifts = perShift(rows, SHIFTS);
  t.same(shifts.map((s) => [s.start, s.parts, s.ng]), [
    [local(6), 20, 2],
    [local(14), 11, 5],
    [local(22), 4, 0],
  ]);
  t.equal(shifts[0]!.key, '2026-12-02 06:00');
});

t.test('histogram of scores from 0 to twice the threshold', async (t) => {
  const h = scoreHistogram([0, 0.4, 0.5, 0.99, 1, 1.5, 7], 1, 4);
  t.same(h.edges, [0, 1.75, 3.5, 5.25], 'a score above twice the threshold widens the range');
  t.same(h.counts, [6, 0, 0, 1]);
  const g = scoreHistogram([0.1, 0.6, 1.2, 1.9], 1, 4);
  t.same(g.counts, [1, 1, 1, 1]);
});

t.test('KS statistic and median drift', async (t) => {
  t.equal(ksStatistic([1, 2, 3], [1, 2, 3]), 0);
  t.equal(ksStatistic([1, 2, 3], [4, 5, 6]), 1);
  t.equal(ksStatistic([1, 2, 3, 4], [3, 4, 5, 6]), 0.5);
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  const ref = Array.from({ length: 20 }, (_, i) => 0.3 + i * 0.01);
  const same = scoreDrift(ref, ref, 1, 0.25)!;
  t.same([same.medianShift, same.ks, same.warning], [0, 0, undefined]);
  const moved = scoreDrift(ref, ref.map((s) => s + 0.4), 2, 0.1)!;
  t.ok(Math.abs(moved.medianShift - 0.2) < 1e-9, 'a shift of 0.4 with threshold 2 is 0.2 thresholds');
  t.match(moved.warning, /0\.20 thresholds/);
  t.equal(scoreDrift(ref.slice(0, 5), ref, 1, 0.25), null, 'too few reference scores');
});

t.test('the write queue drops and counts when full, and never runs a job before push returns', async (t) => {
  const q = new WriteQueue(2);
  const ran: number[] = [];
  let release = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  t.ok(q.push(async () => {
    ran.push(1);
    await gate;
  }));
  t.same(ran, [], 'nothing runs synchronously');
  t.ok(q.push(async () => void ran.push(2)));
  t.notOk(q.push(async () => void ran.push(3)), 'the third waits for a full queue and is dropped');
  t.equal(q.dropped, 1);
  release();
  await q.idle();
  t.same(ran, [1, 2]);
});

t.test('kept parts and the frame that shows a part', async (t) => {
  const never = () => 0.99;
  t.ok(keepsPart('reject', 0, never));
  t.ok(keepsPart('no_verdict', 0, never));
  t.notOk(keepsPart('ok', 0.02, never));
  t.ok(keepsPart('ok', 0.02, () => 0.01));
  const frame = (ts: number, score: number) => ({ result: { ts, score } }) as unknown as ScoredFrame;
  const frames = [frame(10, 0.5), frame(20, 0.9), frame(30, 0.7), frame(40, 2)];
  t.equal(evidenceFrame(frames, { firstTs: 10, lastTs: 30, decidedTs: 45 })!.result.ts, 20, 'the highest score within the part');
  t.equal(evidenceFrame(frames, { firstTs: null, lastTs: null, decidedTs: 35 })!.result.ts, 30, 'no frames of its own: the newest before the verdict');
  t.equal(evidenceFrame([], { firstTs: null, lastTs: null, decidedTs: 35 }), undefined);
});
