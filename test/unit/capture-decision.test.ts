import t from 'tap';
import { decideCapture, greyThumbnail, initialCaptureState, recordSaved, thumbnailDifference, type CaptureRules } from '../../runtime/capture/capture-decision.ts';
import { nextSampleNumber, sampleName } from '../../runtime/capture/sample-files.ts';

/** A width x height RGB frame of one grey level, with an optional brighter square at (x, y). */
function frame(width: number, height: number, grey: number, square?: { x: number; y: number; size: number; value: number }) {
  const data = Buffer.alloc(width * height * 3, grey);
  if (square) {
    for (let y = square.y; y < square.y + square.size; y++) {
      for (let x = square.x; x < square.x + square.size; x++) data.fill(square.value, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  }
  return { width, height, data };
}

const rules: CaptureRules = { minIntervalMs: 1000, minChange: 0.02 };

t.test('grey thumbnail: box averages in 0..1, luma weights, tiny frames keep their size', async (t) => {
  const th = greyThumbnail(frame(4, 4, 0, { x: 0, y: 0, size: 2, value: 255 }), 2);
  t.same({ w: th.width, h: th.height }, { w: 2, h: 2 });
  t.same(Array.from(th.values).map((v) => Number(v.toFixed(3))), [1, 0, 0, 0], 'the white quarter is the top-left cell');
  const red = greyThumbnail({ width: 1, height: 1, data: Buffer.from([255, 0, 0]) });
  t.equal(Number(red.values[0]!.toFixed(3)), 0.299, 'red counts with its luma weight');
  const small = greyThumbnail(frame(3, 2, 51));
  t.same({ w: small.width, h: small.height }, { w: 3, h: 2 }, 'a frame smaller than the thumbnail is not upsampled');
  t.throws(() => greyThumbnail({ width: 4, height: 4, data: Buffer.alloc(10) }), /4x4 RGB needs 48/);
});

t.test('thumbnail difference: 0 for equal frames, mean absolute difference otherwise, 1 for other sizes', async (t) => {
  const black = greyThumbnail(frame(8, 8, 0));
  const white = greyThumbnail(frame(8, 8, 255));
  t.equal(thumbnailDifference(black, black), 0);
  t.equal(thumbnailDifference(black, white), 1);
  const quarter = greyThumbnail(frame(8, 8, 0, { x: 0, y: 0, size: 4, value: 255 }));
  t.equal(Number(thumbnailDifference(black, quarter).toFixed(3)), 0.25);
  t.equal(thumbnailDifference(black, greyThumbnail(frame(4, 8, 0))), 1);
});

t.test('the first frame is saved; then too soon, too similar, or saved', async (t) => {
  const part = greyThumbnail(frame(16, 16, 100, { x: 4, y: 4, size: 8, value: 200 }));
  let state = initialCaptureState();
  t.same(decideCapture(state, 0, part, rules), { action: 'save' });
  state = recordSaved(state, 0, part);

  const moved = greyThumbnail(frame(16, 16, 100, { x: 6, y: 4, size: 8, value: 200 }));
  t.same(decideCapture(state, 400, moved, rules), { action: 'too-soon', waitMs: 600 }, 'a different part, but within the interval');

  // The same part, one grey level brighter (sensor noise): near-identical.
  const same = greyThumbnail(frame(16, 16, 101, { x: 4, y: 4, size: 8, value: 201 }));
  const similar = decideCapture(state, 1500, same, rules);
  t.equal(similar.action, 'similar');
  if (similar.action === 'similar') {
    t.equal(similar.closest, 0);
    t.ok(similar.difference < 0.02 && similar.difference > 0, `difference ${similar.difference}`);
  }
  t.same(decideCapture(state, 1500, moved, rules), { action: 'save' }, 'a moved part after the interval is saved');
  t.same(decideCapture(state, 1000, moved, rules), { action: 'save' }, 'exactly the interval is enough');
});

t.test('a frame must differ from every saved frame, not only the last', async (t) => {
  const a = greyThumbnail(frame(16, 16, 50));
  const b = greyThumbnail(frame(16, 16, 150));
  let state = recordSaved(recordSaved(initialCaptureState(), 0, a), 1000, b);
  const decision = decideCapture(state, 5000, greyThumbnail(frame(16, 16, 51)), rules);
  t.same(decision.action, 'similar');
  if (decision.action === 'similar') t.equal(decision.closest, 0, 'closest to the first sample');
  state = recordSaved(state, 5000, greyThumbnail(frame(16, 16, 250)));
  t.equal(state.saved.length, 3);
  t.equal(state.lastSavedTs, 5000);
});

t.test('no interval and no change threshold: every frame is saved', async (t) => {
  const a = greyThumbnail(frame(8, 8, 10));
  const state = recordSaved(initialCaptureState(), 0, a);
  t.same(decideCapture(state, 0, a, { minIntervalMs: 0, minChange: 0 }), { action: 'save' });
});

t.test('sample numbering continues after the highest numbered PNG', async (t) => {
  t.equal(nextSampleNumber([]), 0);
  t.equal(nextSampleNumber(['000.png', '001.png', 'notes.txt', 'good_007.png', '.capture-1.tmp']), 2);
  t.equal(nextSampleNumber(['004.png', '002.PNG']), 5, 'gaps are not refilled');
  t.equal(sampleName(7), '007.png');
  t.equal(sampleName(1234), '1234.png');
});
