/**
 * What a product update reports and how it scores its left-out samples, on
 * hand-made inputs: replay counts per group and version, the side-by-side
 * table the command prints, which sample each row of an updated bank
 * belongs to, and the notes the new version keeps.
 */
import t from 'tap';
import { replayCounts, reviewEntries, type ReplayRecord } from '../../trainer/update/replay.ts';
import { updatedBankPicks } from '../../trainer/update/left-out.ts';
import { replayTable } from '../../cli/commands/update.ts';
import { updateNotes, type UpdateResult } from '../../trainer/update-product.ts';
import type { Recalibration } from '../../trainer/update/recalibrate.ts';

const rec = (group: ReplayRecord['group'], active: 'ok' | 'reject', candidate: 'ok' | 'reject'): ReplayRecord => ({
  group,
  path: `${group}.png`,
  active: { score: 1, threshold: 1, verdict: active },
  candidate: { score: 1, threshold: 1, verdict: candidate },
});

const records = [rec('good', 'reject', 'ok'), rec('good', 'reject', 'reject'), rec('good', 'ok', 'ok'), rec('defects', 'reject', 'reject'), rec('defects', 'reject', 'ok'), rec('missed', 'ok', 'reject')];

t.test('replay counts: good parts passing, defects and missed defects rejecting, per version', async (t) => {
  t.same(replayCounts(records, 'active'), { goodPass: 1, defectReject: 2, missedReject: 0 });
  t.same(replayCounts(records, 'candidate'), { goodPass: 2, defectReject: 1, missedReject: 1 });
});

t.test('review entries keep the groups and the defect types, in order', async (t) => {
  const entries = reviewEntries({ good: ['a.png'], defects: [{ path: 'b.png', type: 'scratch' }], missed: [{ path: 'c.png' }] });
  t.same(entries, [{ group: 'good', path: 'a.png' }, { group: 'defects', path: 'b.png', type: 'scratch' }, { group: 'missed', path: 'c.png' }]);
});

t.test('the replay table puts the active version and the candidate side by side', async (t) => {
  const result = {
    version: 'v4',
    updatedFrom: 'v2',
    replay: { totals: { good: 3, defects: 2, missed: 1 }, active: replayCounts(records, 'active'), candidate: replayCounts(records, 'candidate'), records },
    thresholds: { before: { image: 1.5, pixel: 1 }, after: { image: 1.25, pixel: 1 }, how: 'recalibrated' },
  } as unknown as UpdateResult;
  const table = replayTable(result);
  t.same(table.header, ['', 'active v2', 'candidate v4']);
  t.same(table.rows, [
    ['marked good, pass', '1/3', '2/3'],
    ['confirmed defects, reject', '2/2', '1/2'],
    ['missed defects, reject', '0/1', '1/1'],
    ['image threshold', '1.500', '1.250'],
  ]);
});

t.test('rows of an updated bank map to their sample: earlier rows by source, added rows after the scored samples', async (t) => {
  // 4 positions; earlier rows from samples 1, 0 and none; 2 samples scored; added rows 5 and 2 of the new images' patches.
  const picked = updatedBankPicks(Int32Array.from([1, 0, -1]), 2, Int32Array.from([5, 2]), 4);
  t.same(Array.from(picked, (p) => Math.floor(p / 4)), [1, 0, -1, 3, 2], 'sample of each row: new image 1 is sample 3, new image 0 sample 2');
});

t.test('update notes say what was added and how the thresholds were chosen', async (t) => {
  const recalibrated = { how: 'recalibrated', missing: [], calibration: { heldOut: 6 } } as unknown as Recalibration;
  t.same(updateNotes('v1', 5, { added: 409 }, recalibrated, { scores: 39, bankSamples: true }, '/golden'), [
    'updated from v1 with 5 image(s) marked good: 409 memory-bank row(s) added',
    'thresholds recalibrated on 6 held-out golden sample(s) and 39 left-out good score(s) (bank samples and new good images)',
  ]);
  t.match(updateNotes('v1', 3, { added: 74, gaussianSamples: 13 }, recalibrated, { scores: 0, bankSamples: false })[1], /^thresholds recalibrated on 6 held-out golden sample\(s\)$/, 'PaDiM: held-out samples only');
  t.match(updateNotes('v1', 3, { added: 74, gaussianSamples: 13 }, recalibrated, { scores: 0, bankSamples: false })[0], /PaDiM's Gaussians updated to 13 samples/);
  const kept = { how: 'kept', missing: [] } as unknown as Recalibration;
  t.match(updateNotes('v2', 1, { added: 0 }, kept, { scores: 0, bankSamples: false })[1], /thresholds kept from v2: the golden-sample folder was not given/);
});
