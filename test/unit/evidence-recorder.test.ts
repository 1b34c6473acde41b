/**
 * The evidence recorder fed part verdicts: no-verdict parts are kept even
 * without a frame, passes are sampled, every part is counted, a full write
 * queue drops (and health says so), and a drift of the good parts' scores
 * away from the version's first parts becomes a health warning.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { recordsSettingsSchema } from '../../config/records.ts';
import type { PartVerdict } from '../../runtime/parts/tracker.ts';
import { createEvidenceRecorder, EvidenceRecorder } from '../../runtime/records/evidence-recorder.ts';
import { countRows } from '../../runtime/records/production-log.ts';
import { SqliteRecordStore } from '../../runtime/records/record-store.ts';

const now = Date.now();
function verdict(i: number, v: PartVerdict['verdict'], score: number | null): PartVerdict {
  return { partId: `p${i}`, seq: i, camera: 'cam1', product: 'washer', modelVersion: 'v2', verdict: v, score, threshold: score === null ? null : 1, frames: 1, firstTs: null, lastTs: null, decidedTs: now - 60_000 + i, latencyMs: 3, reason: null, action: v === 'ok' ? 'pass' : 'reject' };
}

t.test('parts are kept, sampled and counted; drift of good scores warns in health', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'recorder-'));
  const settings = recordsSettingsSchema.parse({ samplePassed: 0, driftReferenceParts: 10, driftWarn: 0.25, minFreeBytes: 0 });
  const recorder = new EvidenceRecorder(new SqliteRecordStore(dataDir, settings), settings, { partVerdicts: true });
  for (let i = 0; i < 10; i++) recorder.onPartVerdict(verdict(i, 'ok', 0.3));
  recorder.onPartVerdict(verdict(10, 'no_verdict', null));
  recorder.onPartVerdict(verdict(11, 'reject', 1.5));
  await recorder.flush();
  t.same(recorder.healthWarnings(), [], 'the first parts are the reference: no drift');
  for (let i = 12; i < 42; i++) recorder.onPartVerdict(verdict(i, 'ok', 0.8));
  await recorder.flush();
  const kept = recorder.store.list({}).records;
  t.same(kept.map((r) => [r.partId, r.verdict, r.bytes]), [
    ['p11', 'reject', 0],
    ['p10', 'no_verdict', 0],
  ], 'rejects and no-verdict parts kept (no frame was seen, so no files); no passes sampled at 0');
  const counts = countRows(recorder.store.db, { from: 0, to: now + 1 });
  t.same(counts.reduce((a, c) => [a[0]! + c.ok, a[1]! + c.reject, a[2]! + c.noVerdict], [0, 0, 0]), [40, 1, 1], 'every part counted');
  const warnings = recorder.checkDrift();
  t.equal(warnings.length, 1);
  t.match(recorder.healthWarnings().join('\n'), /drift: washer v2: good parts' median score moved by 0\.50 thresholds/);
  await recorder.close();
});

t.test('a full write queue drops records instead of waiting, and health says so', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'recorder-'));
  const settings = recordsSettingsSchema.parse({ queueLength: 2, minFreeBytes: 0 });
  const recorder = new EvidenceRecorder(new SqliteRecordStore(dataDir, settings), settings, { partVerdicts: true });
  for (let i = 0; i < 5; i++) recorder.onPartVerdict(verdict(i, 'reject', 2));
  t.same(recorder.stats(), { queued: 2, dropped: 3, failed: 0, waiting: 2 });
  t.match(recorder.healthWarnings().join('\n'), /3 records were dropped/);
  await recorder.close();
  t.equal(createEvidenceRecorder({ dataDir, records: { enabled: false } } as { dataDir: string }, { partVerdicts: true }), undefined, 'records.enabled false: no recorder');
});
