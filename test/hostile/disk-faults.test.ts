/**
 * A full disk and a read-only data folder (a 2 MB tmpfs, filled, then
 * remounted read-only): an outbox append, an artifact write and a golden-sample
 * capture each fail with an error that says why, leave no half-written file,
 * keep what was there (the active version still loads, pending rejects stay)
 * and work again once there is room.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { listVersions, loadProductArtifact, writeProductArtifact } from '../../product/artifact.ts';
import type { Frame } from '../../runtime/camera-pipeline.ts';
import { captureGoldenSamples } from '../../runtime/capture/golden-capture.ts';
import { RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import { TINY_BANK, tinyManifestDraft } from '../helpers/manifest-draft.ts';
import { mountSmallDisk } from './mounts.ts';

const root = await mkdtemp(join(tmpdir(), 'linesight-disk-'));
const disk = await mountSmallDisk(join(root, 'disk'));
const dataDir = join(disk.dir, 'data');
const outboxDir = join(disk.dir, 'outbox');
const goldenDir = join(disk.dir, 'golden');
const reject = (i: number) => ({ ts: 1_700_000_000_000 + i, frameId: `f-${i}`, score: 2.5, threshold: 1, camera: 'cam1', product: 'washer' });
const frame = (grey: number, ts: number): Frame => ({ cameraId: 'cam1', seq: ts, ts, width: 64, height: 48, data: Buffer.from(Array.from({ length: 64 * 48 * 3 }, (_, i) => (i * grey) % 251)) });

/** Every entry of a folder, recursively, that is a temporary or partial file. */
async function leftovers(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return names.filter((n) => /(^|\/)\.(tmp|active|capture)-|\.tmp$/.test(n));
}

const outbox = await RejectOutbox.open(outboxDir, { logger: pino({ level: 'silent' }) });
t.teardown(async () => {
  await outbox.close();
  await disk.unmount();
  await rm(root, { recursive: true, force: true });
});
await outbox.append(reject(0));
await writeProductArtifact(dataDir, tinyManifestDraft('washer'), TINY_BANK);

t.test('disk full: each write fails saying so, leaves nothing half-written, and works again with room', async (t) => {
  const filler = await disk.fill();
  await t.rejects(outbox.append(reject(1)), { name: 'OutboxError', message: /cannot store the reject of camera cam1, frame f-1 \(the disk is full\); it was NOT stored/ });
  const bigBank = new Float32Array(2 * 300_000).fill(1); // 2.4 MB, more than the disk holds
  await t.rejects(
    writeProductArtifact(dataDir, tinyManifestDraft('washer', { featureDim: 300_000 }), bigBank),
    { name: 'ArtifactError', message: /cannot write version v2 .*the disk is full; nothing was changed, the active version stays/ },
  );
  const camera = new EventEmitter();
  const capture = captureGoldenSamples(camera, { count: 1, outDir: goldenDir, minIntervalMs: 0, minChange: 0 });
  await new Promise((r) => setTimeout(r, 100));
  camera.emit('frame', frame(7, 1));
  await t.rejects(capture, { name: 'CaptureError', message: /cannot write a golden sample into .*golden: ENOSPC/ });

  t.same(await leftovers(disk.dir), [], 'no temporary or half-written file remains');
  t.same(await listVersions(dataDir, 'washer'), ['v1'], 'no half version');
  t.equal((await loadProductArtifact(dataDir, 'washer')).manifest.version, 'v1', 'the active version still loads');
  t.same(outbox.pendingSeqs(), [1], 'the stored reject is still pending');
  t.same(JSON.parse(await readFile(join(outboxDir, '0000000000000001.json'), 'utf8')).frameId, 'f-0');

  await rm(filler);
  t.equal((await outbox.append(reject(2))).seq, 2, 'with room again the next reject is stored');
  t.equal((await writeProductArtifact(dataDir, tinyManifestDraft('washer'), TINY_BANK)).version, 'v2');
});

t.test('read-only data folder: writes are refused with the reason, reads still work', async (t) => {
  await disk.readOnly();
  t.teardown(() => disk.writable());
  await t.rejects(outbox.append(reject(3)), { name: 'OutboxError', message: /frame f-3 \(the disk is read-only\); it was NOT stored/ });
  await t.rejects(writeProductArtifact(dataDir, tinyManifestDraft('washer'), TINY_BANK), { name: 'ArtifactError', message: /not writable \(EROFS\); nothing was changed/ });
  const camera = new EventEmitter();
  const capture = captureGoldenSamples(camera, { count: 1, outDir: goldenDir, minIntervalMs: 0, minChange: 0 });
  await new Promise((r) => setTimeout(r, 100));
  camera.emit('frame', frame(9, 2));
  await t.rejects(capture, { name: 'CaptureError', message: /EROFS/ });
  await t.rejects(RejectOutbox.open(join(disk.dir, 'outbox-new')), { name: 'OutboxError', message: /cannot create the directory/ });
  t.equal((await loadProductArtifact(dataDir, 'washer')).manifest.version, 'v2', 'the active version loads from a read-only disk');
  t.same(outbox.pendingSeqs(), [1, 2], 'pending rejects are kept');
});
