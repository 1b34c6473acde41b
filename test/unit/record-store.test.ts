/**
 * The record store on small hand-made records: retention by size and age
 * takes the oldest and never the newest, the disk floor is respected, the
 * review log is append-only with the latest label counting, the review set
 * the trainer reads, and 100 000 index rows listed and paged fast.
 */
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readReviewSet } from '../../product/review-set.ts';
import { type NewRecord, SqliteRecordStore } from '../../runtime/records/record-store.ts';

const LIMITS = { maxBytes: 10_000, maxDays: 30, minFreeBytes: 1000 };
const plenty = async () => 1e12;

function record(ts: number, over: Partial<NewRecord> = {}): NewRecord {
  return {
    ts,
    camera: 'cam1',
    product: 'widget',
    version: 'v1',
    verdict: 'reject',
    score: 2,
    threshold: 1,
    partId: `p${ts}`,
    files: { image: Buffer.alloc(1000, 1), map: Buffer.alloc(500, 2), mask: Buffer.alloc(500, 3) },
    ...over,
  };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'records-'));

t.test('filling past maxBytes deletes the oldest records and their files, never the newest', async (t) => {
  const store = new SqliteRecordStore(tmp(), LIMITS, plenty);
  const now = Date.now();
  const rows = [];
  for (let i = 0; i < 12; i++) rows.push((await store.add(record(now + i)))!);
  const kept = store.list({}, { limit: 100 }).records.map((r) => r.id);
  t.equal(store.stats().bytes, 10_000, 'five records of 2000 bytes fit in 10 000');
  t.same(kept, rows.slice(7).map((r) => r.id).reverse(), 'the five newest stay');
  t.notOk(existsSync(store.filePath(rows[0]!, 'image')), 'files of a deleted record are gone');
  t.ok(existsSync(store.filePath(rows[11]!, 'image')));
  t.equal(store.stats().deletedBySize, 7);

  const big = await store.add(record(now + 20, { files: { image: Buffer.alloc(50_000) } }));
  t.same(store.list({}).records.map((r) => r.id), [big!.id], 'a record larger than the limit still stays: the newest is never deleted');
  store.close();
});

t.test('records older than maxDays go; the newest stays even when old', async (t) => {
  const store = new SqliteRecordStore(tmp(), { ...LIMITS, maxBytes: 1e9, maxDays: 1 }, plenty);
  const day = 86_400_000;
  const old = await store.add(record(Date.now() - 3 * day));
  await store.enforceRetention();
  t.ok(store.get(old!.id), 'the only (newest) record stays');
  const fresh = await store.add(record(Date.now()));
  t.notOk(store.get(old!.id), 'the old one went once a newer one came');
  t.ok(store.get(fresh!.id));
  t.equal(store.stats().deletedByAge, 1);
  store.close();
});

t.test('below the free-space floor nothing is written; the skip is counted and health warns', async (t) => {
  let free = 5000;
  const dir = tmp();
  const store = new SqliteRecordStore(dir, LIMITS, async () => free);
  t.equal(store.healthWarning(), undefined);
  t.ok(await store.add(record(1)));
  free = 999;
  t.equal(await store.add(record(2)), undefined);
  t.equal(store.stats().skippedLowDisk, 1);
  t.equal(store.stats().records, 1);
  t.match(store.healthWarning(), /minFreeBytes/);
  free = 1e9;
  t.ok(await store.add(record(3)));
  t.equal(store.healthWarning(), undefined, 'the warning clears when space is back');
  store.close();
});

t.test('reviews: the latest label counts, every change is logged, the log cannot be changed', async (t) => {
  const dir = tmp();
  const store = new SqliteRecordStore(dir, { ...LIMITS, maxBytes: 1e9 }, plenty);
  const rejected = (await store.add(record(1)))!;
  const passed = (await store.add(record(2, { verdict: 'ok', score: 0.5 })))!;
  const other = (await store.add(record(3, { product: 'gadget' })))!;
  store.setDefectTypes('widget', ['scratch', 'dent']);
  t.same(store.defectTypes('widget'), ['scratch', 'dent']);

  store.review(rejected.id, { label: 'defect', type: 'scratch', who: 'ana', ts: 10 });
  store.review(rejected.id, { label: 'good', who: 'ben', ts: 11 });
  store.review(passed.id, { label: 'missed', type: 'dent', who: 'ana', ts: 12 });
  store.review(other.id, { label: 'good', who: 'ana', ts: 13 });
  t.throws(() => store.review(rejected.id, { label: 'missed', who: 'ana' }), /not passed/, 'a reject cannot be a missed defect');
  t.throws(() => store.review(passed.id, { label: 'defect', who: 'ana' }), /"missed"/, 'a defective part that passed is a missed defect');
  t.throws(() => store.review(999, { label: 'good', who: 'ana' }), /no record 999/);

  t.equal(store.get(rejected.id)!.label, 'good');
  t.equal(store.get(rejected.id)!.defectType, null, 'a good part has no defect type');
  t.same(
    store.reviews(rejected.id).map((r) => [r.who, r.oldLabel, r.newLabel, r.newType]),
    [
      ['ana', null, 'defect', 'scratch'],
      ['ben', 'defect', 'good', null],
    ],
  );
  t.throws(() => store.db.prepare('UPDATE reviews SET who = ?').run('mallory'), /append-only/);
  t.throws(() => store.db.prepare('DELETE FROM reviews').run(), /append-only/);
  t.equal(store.reviews().length, 4);
  t.equal(readFileSync(join(dir, 'records', 'reviews.jsonl'), 'utf8').trim().split('\n').length, 4, 'mirrored to JSONL');

  t.same(store.list({ reviewed: false }).total, 0);
  t.same(store.list({ label: 'good' }).total, 2);
  const set = await readReviewSet(dir, 'widget');
  t.same(set.good, [store.filePath(rejected, 'image')]);
  t.same(set.defects, []);
  t.same(set.missed.map((m) => [m.path, m.maskPath, m.type]), [[store.filePath(passed, 'image'), store.filePath(passed, 'mask'), 'dent']]);
  store.close();
  t.same(await readReviewSet(tmp(), 'widget'), { good: [], defects: [], missed: [] }, 'no index: nothing reviewed');
});

t.test('100 000 index rows are listed and paged within 50 ms', async (t) => {
  const store = new SqliteRecordStore(tmp(), { ...LIMITS, maxBytes: 1e12 }, plenty);
  const insert = store.db.prepare(
    'INSERT INTO records (ts, camera, product, version, verdict, score, threshold, part_id, dir, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const t0 = Date.now() - 100_000_000;
  store.db.transaction(() => {
    for (let i = 0; i < 100_000; i++) insert.run(t0 + i * 1000, `cam${i % 4}`, i % 2 ? 'widget' : 'gadget', 'v1', i % 10 ? 'ok' : 'reject', 0.5, 1, `p${i}`, `d/${i}`, 2000);
  })();
  const timings: Record<string, number> = {};
  const time = (name: string, f: () => unknown) => {
    f();
    const start = performance.now();
    const result = f();
    timings[name] = performance.now() - start;
    return result;
  };
  const first = time('first page', () => store.list({}, { limit: 50 })) as ReturnType<typeof store.list>;
  t.equal(first.total, 100_000);
  t.equal(first.records.length, 50);
  const deep = time('page 1000 (offset 50 000)', () => store.list({}, { offset: 50_000, limit: 50 })) as ReturnType<typeof store.list>;
  t.equal(deep.records[0]!.partId, 'p49999');
  const filtered = time('camera + product + verdict filter', () => store.list({ camera: 'cam1', product: 'widget', verdict: 'ok' }, { limit: 50 })) as ReturnType<typeof store.list>;
  t.same([filtered.total, filtered.totalCapped], [10_000, true], 'a filtered count stops at 10 000');
  t.same(store.list({ camera: 'cam1', product: 'widget', verdict: 'reject' }).totalCapped, false);
  time('time range + unreviewed', () => store.list({ from: t0 + 10_000_000, to: t0 + 20_000_000, reviewed: false }, { limit: 50 }));
  for (const [name, ms] of Object.entries(timings)) {
    t.comment(`100 000 rows, ${name}: ${ms.toFixed(1)} ms`);
    t.ok(ms <= 50, `${name} within 50 ms`);
  }
  store.close();
});
