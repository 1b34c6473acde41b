/**
 * The camera reader's thread stamps frames when the reader delivers them,
 * even while the main thread is held (as ONNX Runtime's synchronous
 * inference holds it): the frame clock is built on those times.
 */
import t from 'tap';
import { monotonicNow } from '../../runtime/clock.ts';
import { ReaderThread, type ReaderHandlers } from '../../runtime/ingest/reader-thread.ts';

function collect(): { handlers: ReaderHandlers; frames: { data: string; arrival: number; handled: number }[]; closed: Promise<number | null> } {
  const frames: { data: string; arrival: number; handled: number }[] = [];
  let close!: (code: number | null) => void;
  const closed = new Promise<number | null>((resolve) => (close = resolve));
  return {
    frames,
    closed,
    handlers: { frame: (data, arrival) => frames.push({ data: data.toString(), arrival, handled: monotonicNow() }), stderr: () => {}, error: () => {}, close: (code) => close(code) },
  };
}

t.test('frames are stamped on arrival while the main thread is busy', async (t) => {
  const thread = new ReaderThread((err) => t.fail(`reader thread failed: ${err.message}`));
  t.teardown(() => thread.close());
  // Warm the thread up (loading its code) with a reader that exits at once.
  const warm = collect();
  thread.spawn('sh', ['-c', 'exit 0'], 6, warm.handlers);
  t.equal(await warm.closed, 0, 'a reader that exits reports its exit code');

  // Two 6-byte frames 300 ms apart, the first 100 ms after the start.
  const run = collect();
  const started = monotonicNow();
  const handle = thread.spawn('sh', ['-c', 'sleep 0.1; printf abcdef; sleep 0.3; printf ghijkl; sleep 0.1'], 6, run.handlers);
  // Hold the main thread for 900 ms, past both frames.
  while (monotonicNow() - started < 900) {
    /* busy, as during a long inference */
  }
  const released = monotonicNow();
  t.equal(await run.closed, 0);
  t.same(
    run.frames.map((f) => f.data),
    ['abcdef', 'ghijkl'],
    'both frames, whole and in order',
  );
  const [first, second] = run.frames;
  t.ok(first!.handled >= released && second!.handled >= released, 'the main thread saw the frames only after it was free');
  t.ok(first!.arrival < released - 400, `the first frame's time is its arrival (${first!.arrival - started} ms after the start), not when it was handled (${first!.handled - started} ms)`);
  const gap = second!.arrival - first!.arrival;
  t.ok(gap >= 200 && gap <= 500, `the frames' times are the reader's 300 ms apart (got ${gap} ms)`);
  t.ok(handle.pid! > 0, 'the reader had a process id');
});

t.test('a killed reader reports its signal and the thread takes the next one', async (t) => {
  const thread = new ReaderThread((err) => t.fail(`reader thread failed: ${err.message}`));
  t.teardown(() => thread.close());
  const first = collect();
  let signal: string | null = null;
  const handle = thread.spawn('sleep', ['30'], 4, { ...first.handlers, close: (code, s) => {
    signal = s;
    first.handlers.close(code, s);
  } });
  for (let waited = 0; handle.pid === undefined && waited < 10_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
  t.ok(handle.pid! > 0, 'the pid of the running reader is known');
  handle.kill('SIGTERM');
  await first.closed;
  t.equal(signal, 'SIGTERM', 'the reader ended by the signal');
  t.ok(handle.exited, 'the handle says the reader has exited');
  const next = collect();
  thread.spawn('sh', ['-c', 'printf wxyz'], 4, next.handlers);
  t.equal(await next.closed, 0);
  t.same(next.frames.map((f) => f.data), ['wxyz'], 'the next reader on the same thread delivers its frame');
});
