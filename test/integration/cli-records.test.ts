/**
 * The records CLI as a user runs it: `linesight records` lists kept records
 * with filters and paging (table and JSON), `linesight review` labels one
 * and logs who, and `linesight records export` writes an MVTec-layout
 * dataset that eval's dataset reader accepts.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { readCategory } from '../../eval/dataset.ts';
import { SqliteRecordStore } from '../../runtime/records/record-store.ts';
import { linesight } from '../helpers/cli.ts';

const dir = t.testdir();
const dataDir = join(dir, 'device');
const png = (v: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
const store = new SqliteRecordStore(dataDir, { maxBytes: 1e9, maxDays: 30, minFreeBytes: 0 });
const ids: number[] = [];
for (let i = 0; i < 5; i++) {
  const row = await store.add({
    ts: Date.now() - (5 - i) * 1000,
    camera: i % 2 ? 'cam2' : 'cam1',
    product: 'washer',
    version: 'v1',
    verdict: i === 4 ? 'ok' : 'reject',
    score: i === 4 ? 0.4 : 1.5,
    threshold: 1,
    partId: `part-${i}`,
    files: { image: await png(100 + i), map: await png(200), mask: await png(255) },
  });
  ids.push(row!.id);
}
store.close();
const golden = join(dataDir, 'golden', 'washer', '20260101-000000');
await mkdir(golden, { recursive: true });
for (let i = 0; i < 3; i++) await sharp(await png(120)).toFile(join(golden, `g${i}.png`));

const flags = ['--data-dir', dataDir];

t.test('records lists newest first with filters and paging', async (t) => {
  const all = await linesight(['records', ...flags, '--json']);
  t.equal(all.code, 0, all.stderr);
  t.same(JSON.parse(all.stdout).records.map((r: { partId: string }) => r.partId), ['part-4', 'part-3', 'part-2', 'part-1', 'part-0']);
  const page = JSON.parse((await linesight(['records', ...flags, '--json', '--camera', 'cam1', '--verdict', 'reject', '--limit', '1', '--offset', '1'])).stdout);
  t.same([page.total, page.records[0].partId], [2, 'part-0']);
  const table = await linesight(['records', ...flags, '--limit', '2', '--offset', 'x']);
  t.equal(table.code, 1);
  t.match(table.stderr, /--offset "x"/);
  const bad = await linesight(['records', ...flags, '--verdict', 'maybe']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /--verdict "maybe": use one of ok, reject, no_verdict/);
});

t.test('review labels a record and logs who; wrong labels are refused in words', async (t) => {
  const ok = await linesight(['review', ...flags, '--record', String(ids[0]), '--label', 'good', '--by', 'ana']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`record ${ids[0]} .*: good`));
  t.equal((await linesight(['review', ...flags, '--record', String(ids[1]), '--label', 'defect', '--type', 'scratch', '--by', 'ana'])).code, 0);
  const direct = new SqliteRecordStore(dataDir, { maxBytes: 1e9, maxDays: 30, minFreeBytes: 0 });
  direct.review(ids[2]!, { label: 'defect', who: 'ben' });
  direct.review(ids[4]!, { label: 'missed', type: 'dent', who: 'ben' });
  direct.close();
  const missedReject = await linesight(['review', ...flags, '--record', String(ids[3]), '--label', 'missed']);
  t.equal(missedReject.code, 1);
  t.match(missedReject.stderr, /was not passed \(reject\)/);
  const check = new SqliteRecordStore(dataDir, { maxBytes: 1e9, maxDays: 30, minFreeBytes: 0 });
  t.same(check.reviews().map((r) => [r.recordId, r.who, r.newLabel, r.newType]), [
    [ids[0], 'ana', 'good', null],
    [ids[1], 'ana', 'defect', 'scratch'],
    [ids[2], 'ben', 'defect', null],
    [ids[4], 'ben', 'missed', 'dent'],
  ]);
  check.close();
  const reviewed = JSON.parse((await linesight(['records', ...flags, '--json', '--reviewed', 'no'])).stdout);
  t.same(reviewed.records.map((r: { partId: string }) => r.partId), ['part-3']);
});

t.test('export writes an MVTec-layout dataset eval can read', async (t) => {
  const out = join(dir, 'dataset');
  const run = await linesight(['records', 'export', ...flags, '--product', 'washer', '--out', out]);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /1 good, 1 scratch, 1 defect, 1 dent; 3 golden samples in train\/good/);
  const category = await readCategory(out, 'washer');
  t.equal(category.trainGood.length, 3);
  t.same(category.test.map((x) => [x.defectType, x.label, x.maskPath !== undefined]).sort(), [
    ['defect', 1, true],
    ['dent', 1, true],
    ['good', 0, false],
    ['scratch', 1, true],
  ]);
  const none = await linesight(['records', 'export', ...flags, '--product', 'other', '--out', out]);
  t.equal(none.code, 1);
  t.match(none.stderr, /no reviewed records/);
});
