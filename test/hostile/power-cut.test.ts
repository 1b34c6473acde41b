/**
 * Power cuts mid-write: SIGKILL at random points of an enrollment (the real
 * `linesight enroll`, killed in a random stage after a random delay, often
 * while it writes the artifact) and of outbox appends (a child storing rejects
 * as fast as it can). After every kill the active version loads and verifies,
 * every version folder is whole, and every reject the child reported as stored
 * is still in the outbox. `npm test` runs 5 + 5 cuts, `npm run test:hostile`
 * 25 + 25.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { pino } from 'pino';
import t from 'tap';
import { inferenceSettingsSchema } from '../../config/enroll.ts';
import { generateDevset } from '../../fixtures/devset.ts';
import { SharedModels } from '../../product/shared-models.ts';
import { ProductLibrary } from '../../runtime/product-library.ts';
import { listVersions, loadProductArtifact, readActiveVersion } from '../../product/artifact.ts';
import { RejectOutbox } from '../../runtime/mqtt/outbox.ts';
import { linesight } from '../helpers/cli.ts';
import { runs } from './budget.ts';

const dir = t.testdir();
const seedText = process.env.FC_SEED ?? String(Date.now() % 2 ** 31);
let state = Number(seedText) >>> 0 || 1;
/** A small seeded generator, so a failing run can be repeated with FC_SEED. */
const random = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};
t.comment(`power cuts seeded with FC_SEED=${seedText}`);

/** Starts a child; `onLine` sees each stdout line; resolves with the child once spawned. */
function start(args: string[], onLine: (line: string) => void): ChildProcess {
  const child = spawn(process.execPath, args, { env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  child.stderr!.resume();
  return child;
}
const exited = (child: ChildProcess) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r())));

t.test('SIGKILL during enrollment: the active version always loads, no version is half-written', async (t) => {
  await generateDevset({ out: join(dir, 'devset'), train: 12, testGood: 1, testPerDefect: 1, size: 64, seed: 3, categories: ['washer'] });
  const images = join(dir, 'devset', 'washer', 'train', 'good');
  const dataDir = join(dir, 'data');
  const enrollArgs = ['bin/linesight.js', 'enroll', '--product', 'washer', '--images', images, '--data-dir', dataDir, '--input-size', '64', '--progress', 'json'];
  const first = await linesight(enrollArgs.slice(1));
  t.equal(first.code, 0, `a first, whole enrollment: ${first.stderr.slice(-300)}`);
  const stages = ['load', 'features', 'coreset', 'calibrate', 'write', 'write', 'write'];
  const cuts = runs(5, 25);
  const outcomes: string[] = [];
  for (let i = 0; i < cuts; i++) {
    const stage = stages[Math.floor(random() * stages.length)]!;
    const delayMs = Math.floor(random() * (stage === 'write' ? 60 : 400));
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const child = start(enrollArgs, (line) => {
      if (timer || !line.startsWith('{')) return;
      const event = JSON.parse(line) as { event: string; stage?: string };
      if (event.event === 'result') finished = true;
      if (event.event === 'progress' && event.stage === stage) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    await exited(child);
    clearTimeout(timer);
    outcomes.push(`${stage}+${delayMs}ms${finished || child.exitCode === 0 ? ' (finished first)' : ''}`);
    const active = await readActiveVersion(dataDir, 'washer');
    t.ok(active, `cut ${i + 1} (${outcomes.at(-1)}): a version is active`);
    await loadProductArtifact(dataDir, 'washer'); // throws on a broken active version
    for (const v of await listVersions(dataDir, 'washer')) await loadProductArtifact(dataDir, 'washer', v);
  }
  t.comment(`enrollment power cuts: ${cuts}, 0 broken versions; kill points ${outcomes.join(', ')}`);
  const after = await linesight(enrollArgs.slice(1));
  t.equal(after.code, 0, 'an enrollment after the cuts succeeds and clears their leftovers');

  // An `active` pointer damaged to name a path: refused, and the device starts on the newest version that loads.
  const newest = (await listVersions(dataDir, 'washer')).at(-1);
  await writeFile(join(dataDir, 'products', 'washer', 'active'), '../../etc\n');
  const library = new ProductLibrary(new SharedModels(dataDir, inferenceSettingsSchema.parse({})), pino({ level: 'silent' }));
  t.teardown(() => library.close());
  await library.load(['washer']);
  t.same(library.versions(), { washer: newest }, 'the runtime scores with the newest version that loads');
});

t.test('SIGKILL during outbox appends: every reject reported as stored is still there', async (t) => {
  const outboxDir = join(dir, 'outbox');
  const cuts = runs(5, 25);
  let lastSeq = 0;
  let storedTotal = 0;
  for (let i = 0; i < cuts; i++) {
    const stored: number[] = [];
    const options = { mode: 'append', deviceId: 'line9', outboxDir, camera: 'cam1', count: 0, framePrefix: `cut${i}` };
    const delayMs = Math.floor(random() * 300);
    let timer: NodeJS.Timeout | undefined;
    const child = start(['--import', 'tsx', 'test/fixtures/reject-publisher-child.ts', JSON.stringify(options)], (line) => {
      const m = /^stored (\d+) /.exec(line);
      if (!m) return;
      stored.push(Number(m[1]));
      // Killed a random time after its first stored reject, mid-stream.
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    await exited(child);
    clearTimeout(timer);
    const outbox = await RejectOutbox.open(outboxDir, { logger: pino({ level: 'silent' }) });
    const pending = new Set(outbox.pendingSeqs());
    const lost = stored.filter((s) => !pending.has(s));
    t.same(lost, [], `cut ${i + 1} after ${delayMs} ms: ${stored.length} stored, none lost`);
    t.ok(stored.every((s) => s > lastSeq), 'seq keeps rising across power cuts');
    const entries = await outbox.pending();
    t.same(entries.map((e) => e.seq), [...pending].sort((a, b) => a - b), 'every pending entry reads back whole');
    lastSeq = outbox.lastSeq;
    storedTotal += stored.length;
    for (const seq of pending) await outbox.ack(seq);
    await outbox.close();
  }
  t.comment(`outbox power cuts: ${cuts}, ${storedTotal} rejects reported stored, 0 lost`);
});
