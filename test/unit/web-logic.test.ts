import t from 'tap';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { enrollmentStages, parseEnrollLine, plannedStages } from '../../product/enrollment-progress.ts';
import type { VersionSummary } from '../../product/versions.ts';
import { MAX_SAMPLES_PER_SET } from '../../runtime/capture/golden-capture.ts';
import { goldenSetDir, goldenSetName, saveUpload, uploadName } from '../../runtime/web/golden-sets.ts';
import { advanceStages, etaSeconds, type StageProgress } from '../../runtime/web/job-progress.ts';
import { pushRecent } from '../../runtime/web/live-view.ts';
import { rollbackHint, servableAttachment } from '../../runtime/web/product-actions.ts';
import { contentType, safeFileName } from '../../runtime/web/static-files.ts';

t.test('ETA from the pace of the stage so far', async (t) => {
  t.equal(etaSeconds(0, 10, 5000), null, 'no pace before the first step');
  t.equal(etaSeconds(5, 10, 5000), 5);
  t.equal(etaSeconds(1, 4, 2000), 6);
  t.equal(etaSeconds(10, 10, 5000), 0);
});

t.test('progress updates become a stage list; a new stage finishes the one before', async (t) => {
  let stages: StageProgress[] = [];
  stages = advanceStages(stages, { stage: 'load', done: 1, total: 4 }, 1000);
  t.match(stages, [{ stage: 'load', done: 1, total: 4, startedAt: 1000, finished: false, etaSeconds: null }]);
  stages = advanceStages(stages, { stage: 'load', done: 2, total: 4 }, 3000);
  t.match(stages, [{ stage: 'load', done: 2, etaSeconds: 2 }]);
  stages = advanceStages(stages, { stage: 'features', done: 1, total: 10 }, 4000);
  t.match(stages, [{ stage: 'load', done: 4, finished: true, etaSeconds: 0 }, { stage: 'features', done: 1, total: 10, startedAt: 4000 }]);
  stages = advanceStages(stages, { stage: 'features', done: 10, total: 10 }, 5000);
  t.match(stages[1], { finished: true, etaSeconds: 0 });
});

t.test('the stages an enrollment goes through follow its settings', async (t) => {
  t.same(enrollmentStages({ align: 'none', adapt: 'none' }), ['load', 'features', 'coreset', 'calibrate', 'write']);
  t.same(enrollmentStages({ align: 'stn', adapt: 'cutswap' }), ['load', 'align', 'features', 'negatives', 'adapt', 'coreset', 'calibrate', 'write']);
});

t.test('the planned stages the pages show carry their labels', async (t) => {
  t.same(plannedStages({ align: 'stn', adapt: 'none' }), [
    { id: 'load', label: 'Reading golden samples' },
    { id: 'align', label: 'Training pose alignment' },
    { id: 'features', label: 'Extracting features' },
    { id: 'coreset', label: 'Building the memory bank' },
    { id: 'calibrate', label: 'Calibrating the reject threshold' },
    { id: 'write', label: 'Saving the new version' },
  ]);
});

t.test('enroll --progress json lines are recognised; other output is not', async (t) => {
  t.same(parseEnrollLine('{"event":"progress","stage":"load","done":1,"total":3}'), { event: 'progress', stage: 'load', done: 1, total: 3 });
  t.match(parseEnrollLine('{"event":"error","message":"too few images"}'), { event: 'error', message: 'too few images' });
  t.equal(parseEnrollLine('enrolled washer v1'), undefined);
  t.equal(parseEnrollLine('{"level":40,"msg":"x"}'), undefined);
  t.equal(parseEnrollLine('{"event":'), undefined);
});

t.test('golden-sample sets: names from the time, uploads by plain file names', async (t) => {
  t.equal(goldenSetName(new Date('2026-11-23T13:05:12.345Z')), '20261123-130512');
  t.match(goldenSetDir('/data', 'washer', '20261123-130512'), /golden\/washer\/20261123-130512$/);
  t.throws(() => goldenSetDir('/data', 'washer', '../../products'), { status: 400, message: /not a golden-sample set name/ });
  t.equal(uploadName('part 01.PNG'), 'part 01.PNG');
  t.equal(uploadName('C:\\photos\\part1.jpg'), 'part1.jpg', 'a browser path is reduced to the file name');
  t.throws(() => uploadName('notes.txt'), { status: 400, message: /"notes\.txt" is not an image file/ });
  t.throws(() => uploadName('.hidden.png'), { status: 400, message: /plain file name/ });
});

t.test('static and attachment names cannot leave their folder', async (t) => {
  t.equal(safeFileName('app.js'), 'app.js');
  t.equal(safeFileName('..%2Fsecret'), undefined);
  t.equal(safeFileName('../x'), undefined);
  t.equal(safeFileName('a%2F..%2Fb'), undefined);
  t.equal(safeFileName('%E0%A4%A'), undefined, 'bad encoding');
  t.equal(contentType('style.css'), 'text/css; charset=utf-8');
  const v = { attachments: ['synthetic-negatives.png'] } as VersionSummary;
  t.ok(servableAttachment(v, 'synthetic-negatives.png'));
  t.notOk(servableAttachment(v, 'manifest.json'), 'only listed attachments');
  t.notOk(servableAttachment(v, '../v1/synthetic-negatives.png'));
  t.notOk(servableAttachment(undefined, 'synthetic-negatives.png'));
});

const version = (v: string, active: boolean, error?: string) => ({ version: v, active, ...(error ? { error } : {}) }) as VersionSummary;

t.test('roll back goes to the newest usable version before the active one', async (t) => {
  t.same(rollbackHint([version('v1', false), version('v2', false), version('v3', true)]), { version: 'v2' });
  t.same(rollbackHint([version('v1', false), version('v2', false, 'damaged'), version('v3', true)]), { version: 'v1' }, 'a damaged version is skipped');
  t.match(rollbackHint([version('v1', true), version('v2', false)]), { reason: /v1 is the oldest usable version/ });
  t.match(rollbackHint([version('v1', false)]), { reason: /no version is active/ });
  t.match(rollbackHint([]), { reason: /no version is active/ });
});

t.test('recent rejects: newest first, bounded', async (t) => {
  let list: number[] = [];
  for (let i = 1; i <= 5; i++) list = pushRecent(list, i, 3);
  t.same(list, [5, 4, 3]);
});

t.test('an upload into a set that holds the most images a set may hold is refused; nothing is saved', async (t) => {
  const dataDir = t.testdir();
  const dir = goldenSetDir(dataDir, 'washer', '20261123-130512');
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < MAX_SAMPLES_PER_SET; i++) await writeFile(`${dir}/${String(i).padStart(4, '0')}.png`, '');
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
  await t.rejects(saveUpload(dataDir, 'washer', '20261123-130512', 'new.png', png), { status: 409, message: new RegExp(`holds ${MAX_SAMPLES_PER_SET} images, the most one set may hold`) });
  t.equal((await readdir(dir)).length, MAX_SAMPLES_PER_SET, 'nothing was added');
});
