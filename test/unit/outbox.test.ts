import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtemp, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxFullError, RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import type { RejectInput } from '../../runtime/mqtt/payloads.ts';
import { createLogger } from '../../config/logger.ts';
import { currentOwner, formatLock, lockHeld, parseLock, startTimeFromStat, systemProbe } from '../../runtime/mqtt/outbox-lock.ts';

/** The tests provoke errors on purpose; their log lines are not wanted in the test output. */
const quietLogger = createLogger('outbox-test').child({}, { level: 'silent' });
const openOutbox = (dir: string, maxEntries?: number) => RejectOutbox.open(dir, maxEntries ? { logger: quietLogger, maxEntries } : { logger: quietLogger });
const fixture = new URL('../fixtures/reject-publisher-child.ts', import.meta.url).pathname;

const freshDir = () => mkdtemp(join(tmpdir(), 'linesight-outbox-'));
const reject = (i: number): RejectInput => ({ ts: 1_700_000_000_000 + i, frameId: `cam1-${i}`, score: 2 + i / 10, threshold: 1.5, camera: 'cam1', product: 'bottle-cap' });

t.test('append assigns increasing seqs and pending keeps their order across reopen', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  const stored = [];
  for (let i = 0; i < 5; i++) stored.push(await outbox.append(reject(i)));
  t.same(stored.map((s) => s.seq), [1, 2, 3, 4, 5]);
  t.same(stored[2], { ...reject(2), seq: 3 }, 'the stored payload is the input plus its seq');
  t.equal((await readdir(dir)).filter((n) => n.endsWith('.json')).length, 5, 'one file per pending reject');
  await outbox.close();

  const again = await openOutbox(dir);
  t.teardown(() => again.close());
  t.same((await again.pending()).map((p) => p.frameId), ['cam1-0', 'cam1-1', 'cam1-2', 'cam1-3', 'cam1-4']);
  t.same(await again.oldest(), { ...reject(0), seq: 1 });
  t.equal((await again.append(reject(5))).seq, 6, 'the sequence continues after reopen');
});

t.test('ack removes exactly one entry, also after reopen', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 4; i++) await outbox.append(reject(i));
  t.equal(await outbox.ack(1), true);
  t.equal(await outbox.ack(3), true, 'an entry in the middle can be acked');
  t.equal(await outbox.ack(3), false, 'acking twice is harmless');
  t.equal(await outbox.ack(99), false);
  t.same(outbox.pendingSeqs(), [2, 4]);
  t.same(outbox.stats(), { pending: 2, lastSeq: 4, appended: 4, acked: 2, refused: 0, quarantined: 0 });
  await outbox.close();
  const again = await openOutbox(dir);
  t.teardown(() => again.close());
  t.same(again.pendingSeqs(), [2, 4]);
});

t.test('the sequence never restarts, even when every reject was acknowledged', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await outbox.append(reject(i));
  for (const seq of [1, 2, 3]) await outbox.ack(seq);
  t.equal(outbox.size, 0);
  await outbox.close();
  const again = await openOutbox(dir);
  t.equal(again.size, 0);
  t.equal(again.lastSeq, 3);
  t.equal((await again.append(reject(3))).seq, 4);
  // Acking out of order (newest first) must not lower the remembered sequence.
  await again.append(reject(4));
  await again.ack(5);
  await again.ack(4);
  await again.close();
  const third = await openOutbox(dir);
  t.teardown(() => third.close());
  t.equal((await third.append(reject(5))).seq, 6);
});

t.test('a half-written temp file is ignored and removed on open', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  await outbox.append(reject(0));
  await outbox.append(reject(1));
  await outbox.close();
  await writeFile(join(dir, '0000000000000003.json.tmp'), '{"ts":17000000, "frameId": "cam1-');
  const again = await openOutbox(dir);
  t.teardown(() => again.close());
  t.same(again.pendingSeqs(), [1, 2]);
  t.notOk((await readdir(dir)).some((n) => n.endsWith('.tmp')), 'the temp file is gone');
  t.equal((await again.append(reject(2))).seq, 3, 'its seq was never handed out, so it is used now');
});

t.test('an unreadable entry is set aside, reported and skipped; its seq is not reused', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await outbox.append(reject(i));
  await outbox.close();
  await writeFile(join(dir, '0000000000000001.json'), 'garbage');
  await writeFile(join(dir, '0000000000000003.json'), '{"ts":1}');
  const again = await openOutbox(dir);
  t.same((await again.oldest())?.seq, 2);
  t.equal(again.stats().quarantined, 1);
  t.same((await again.pending()).map((p) => p.seq), [2]);
  t.equal(again.stats().quarantined, 2);
  t.ok((await readdir(dir)).includes('0000000000000001.json.corrupt'), 'kept for inspection');
  await again.ack(2);
  await again.close();
  const third = await openOutbox(dir);
  t.teardown(() => third.close());
  t.equal((await third.append(reject(9))).seq, 4);
});

t.test('entries set aside earlier are counted on open', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await outbox.append(reject(i));
  await outbox.close();
  await writeFile(join(dir, '0000000000000002.json'), 'garbage');
  const second = await openOutbox(dir);
  t.same((await second.pending()).map((p) => p.seq), [1, 3]);
  t.equal(second.stats().quarantined, 1);
  await second.close();
  const third = await openOutbox(dir);
  t.teardown(() => third.close());
  t.equal(third.stats().quarantined, 1, 'the set-aside entry is still reported after a restart');
  t.equal(third.stats().pending, 2);
});

t.test('the sequence never goes back, even after set-aside entries holding the highest seq were deleted', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await outbox.append(reject(i));
  await outbox.close();
  await writeFile(join(dir, '0000000000000003.json'), 'garbage');
  const second = await openOutbox(dir);
  t.same((await second.pending()).map((p) => p.seq), [1, 2], 'seq 3 is set aside');
  await second.ack(1);
  await second.ack(2);
  await second.close();
  // An operator inspects and removes the set-aside entry.
  for (const name of await readdir(dir)) if (name.endsWith('.corrupt')) await unlink(join(dir, name));
  const third = await openOutbox(dir);
  t.teardown(() => third.close());
  t.equal(third.stats().quarantined, 0);
  t.equal((await third.append(reject(3))).seq, 4, 'seq 3 was handed out once: the next reject gets 4');
});

t.test('set-aside entries left by an older version still keep the sequence after they are deleted', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  for (let i = 0; i < 2; i++) await outbox.append(reject(i));
  await outbox.ack(1);
  await outbox.ack(2);
  await outbox.close();
  // As an older version left it: the newest entry set aside, no seq file.
  await writeFile(join(dir, '0000000000000005.json.corrupt'), 'garbage');
  await unlink(join(dir, 'seq')).catch(() => {});
  const second = await openOutbox(dir);
  t.equal(second.lastSeq, 5);
  await second.close();
  await unlink(join(dir, '0000000000000005.json.corrupt'));
  const third = await openOutbox(dir);
  t.teardown(() => third.close());
  t.equal((await third.append(reject(2))).seq, 6);
});

t.test('a full outbox refuses a new reject loudly and keeps the old ones', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir, 2);
  t.teardown(() => outbox.close());
  await outbox.append(reject(0));
  await outbox.append(reject(1));
  await t.rejects(outbox.append(reject(2)), { name: 'OutboxFullError', message: /is full: 2 rejects wait.*mqtt\.outboxMax = 2.*frame cam1-2 was NOT stored/ });
  t.ok((await outbox.append(reject(3)).catch((e: unknown) => e)) instanceof OutboxFullError);
  t.same(outbox.pendingSeqs(), [1, 2], 'nothing was dropped');
  t.equal(outbox.stats().refused, 2);
  await outbox.ack(1);
  t.equal((await outbox.append(reject(4))).seq, 3, 'room again after an ack');
});

t.test('bad input and a second user of the directory are refused with clear errors', async (t) => {
  const dir = await freshDir();
  const outbox = await openOutbox(dir);
  t.teardown(() => outbox.close());
  await t.rejects(outbox.append({ ...reject(0), score: Number.NaN }), { name: 'PayloadError', message: /key "score"/ });
  t.equal(outbox.size, 0);
  await t.rejects(openOutbox(dir), /already open in this process/);

  // A lock held by another live process.
  const other = await freshDir();
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  await writeFile(join(other, 'lock'), `${sleeper.pid}\n`);
  await t.rejects(openOutbox(other), new RegExp(`in use by process ${sleeper.pid}`));
  // A lock left by a process that died is taken over.
  sleeper.kill('SIGKILL');
  await new Promise((r) => sleeper.once('exit', r));
  const taken = await openOutbox(other);
  t.equal((await readFile(join(other, 'lock'), 'utf8')).split('\n')[0], String(process.pid));
  await taken.close();
});

t.test('a lock naming a live process that is not its writer (PID reused after a reboot) is taken over', async (t) => {
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  await new Promise((r) => sleeper.once('spawn', r));
  const pid = sleeper.pid!;
  const realStart = systemProbe.startTime(pid);
  const bootId = systemProbe.bootId();
  t.ok(realStart && bootId, 'this machine reports process start times and a boot id');

  const held = await freshDir();
  await writeFile(join(held, 'lock'), formatLock({ pid, startTime: realStart!, bootId: bootId! }));
  await t.rejects(openOutbox(held), new RegExp(`in use by process ${pid}`), 'the writer itself still runs: in use');

  const otherStart = await freshDir();
  await writeFile(join(otherStart, 'lock'), formatLock({ pid, startTime: String(Number(realStart) + 12345), bootId: bootId! }));
  const a = await openOutbox(otherStart);
  t.same(parseLock(await readFile(join(otherStart, 'lock'), 'utf8')), currentOwner(), 'the lock now names this process, its start and its boot');
  await a.close();

  const otherBoot = await freshDir();
  await writeFile(join(otherBoot, 'lock'), formatLock({ pid, startTime: realStart!, bootId: '00000000-0000-0000-0000-000000000000' }));
  const b = await openOutbox(otherBoot);
  await b.close();
});

t.test('lock decisions on hand-made process tables', async (t) => {
  const probe = (alive: boolean, start?: string, boot?: string) => ({ alive: () => alive, startTime: () => start, bootId: () => boot });
  t.same(parseLock('42\nstart 900\nboot abc\n'), { pid: 42, startTime: '900', bootId: 'abc' });
  t.same(parseLock('42\n'), { pid: 42 }, 'the PID-only lock of older versions');
  t.equal(parseLock('garbage'), undefined);
  t.equal(formatLock({ pid: 7, startTime: '5', bootId: 'b' }), '7\nstart 5\nboot b\n');
  t.equal(lockHeld({ pid: 42, startTime: '900', bootId: 'abc' }, probe(true, '900', 'abc')), true);
  t.equal(lockHeld({ pid: 42, startTime: '900', bootId: 'abc' }, probe(false, '900', 'abc')), false, 'dead writer');
  t.equal(lockHeld({ pid: 42, startTime: '900', bootId: 'abc' }, probe(true, '901', 'abc')), false, 'same PID, another process');
  t.equal(lockHeld({ pid: 42, startTime: '900', bootId: 'abc' }, probe(true, '900', 'xyz')), false, 'written before a reboot');
  t.equal(lockHeld({ pid: 42 }, probe(true, '901', 'xyz')), true, 'a PID-only lock of a live PID counts as held');
  t.equal(lockHeld({ pid: 42, startTime: '900' }, probe(true, undefined, undefined)), true, 'without /proc only the PID is checked');
  t.equal(startTimeFromStat('123 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20'), '777', 'field 22, after a name with spaces and parentheses');
});

t.test('SIGKILL in the middle of appends loses nothing that was reported stored', async (t) => {
  const dir = await freshDir();
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify({ mode: 'append', deviceId: 'd', outboxDir: dir, camera: 'cam1', count: 0, framePrefix: 'f' })], {
    env: { ...process.env, LINESIGHT_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const reported: number[] = [];
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^stored (\d+)/.exec(line);
      if (!m) return;
      reported.push(Number(m[1]));
      // Kill while the child keeps writing, at a point that differs run to run.
      if (reported.length === 40) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await exited;
  const outbox = await openOutbox(dir);
  t.teardown(() => outbox.close());
  const seqs = outbox.pendingSeqs();
  t.ok(seqs.length >= reported.length, `${seqs.length} entries on disk, ${reported.length} reported stored`);
  t.ok(seqs.length <= reported.length + 1, 'at most the reject being reported when killed is extra');
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'contiguous from 1: no gap, no duplicate');
  const all = await outbox.pending();
  t.equal(all.length, seqs.length, 'every entry reads back');
  t.same(all.map((p) => p.frameId), seqs.map((s) => `f-${s - 1}`), 'each entry holds its own reject');
  t.notOk((await readdir(dir)).some((n) => n.endsWith('.tmp')));
});
