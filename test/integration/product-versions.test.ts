/**
 * Product versions through the `linesight` command on products enrolled by
 * the command itself: list, activate, roll back, and a damaged version that
 * is refused while the active one stays.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { linesight } from '../helpers/cli.ts';
import { writeGoldenSet } from '../helpers/images.ts';

const root = t.testdir({});
const dataDir = join(root, 'data');
const golden = join(root, 'golden');
await writeGoldenSet(golden, 12, 64);
const settings = ['--input-size', '64', '--coreset', '0.25'];
const active = async () => (await readFile(join(dataDir, 'products', 'disc', 'active'), 'utf8')).trim();

t.test('two enrollments, listed; activate and roll back', async (t) => {
  for (const v of ['v1', 'v2']) {
    const r = await linesight(['enroll', '--product', 'disc', '--images', golden, '--data-dir', dataDir, ...settings]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, `enrolled disc ${v} (active)`);
  }
  let r = await linesight(['products', '--data-dir', dataDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^product\s+active\s+versions\ndisc\s+v2\s+2$/m);
  r = await linesight(['products', '--data-dir', dataDir, '--json']);
  t.same(JSON.parse(r.stdout), [{ product: 'disc', active: 'v2', versions: 2 }]);

  r = await linesight(['versions', '--product', 'disc', '--data-dir', dataDir]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], /^version\s+active\s+created\s+golden\s+threshold\s+exp\.FRR%\s+STN SSIM\s+attachments$/);
  t.match(lines[1], /^v1\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+12\s+[\d.]+\s+[\d.]+\s+-\s+synthetic-negatives\.png$/);
  t.match(lines[2], /^v2\s+\*\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+12\s+[\d.]+\s+[\d.]+\s+-\s+synthetic-negatives\.png$/);
  r = await linesight(['versions', '--product', 'disc', '--data-dir', dataDir, '--json']);
  const versions = JSON.parse(r.stdout);
  t.same(versions.map((v: { version: string; active: boolean }) => [v.version, v.active]), [['v1', false], ['v2', true]]);
  t.equal(versions[0].calibration.method, 'cutswap');
  t.type(versions[0].calibration.expectedFrr, 'number');

  r = await linesight(['rollback', '--product', 'disc', '--data-dir', dataDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /disc: rolled back from v2 to v1/);
  t.equal(await active(), 'v1');
  r = await linesight(['rollback', '--product', 'disc', '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /linesight: product "disc" has no version older than the active v1 to roll back to/);

  r = await linesight(['activate', '--product', 'disc', '--version', 'v2', '--data-dir', dataDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /disc: v2 is active \(was v1\)/);
  t.equal(await active(), 'v2');
});

t.test('a damaged version is refused by activate and rollback; the active one stays', async (t) => {
  const bank = join(dataDir, 'products', 'disc', 'v1', 'memory-bank.safetensors');
  const bytes = await readFile(bank);
  await writeFile(bank, bytes.subarray(0, bytes.length - 64));
  let r = await linesight(['activate', '--product', 'disc', '--version', 'v1', '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /linesight: product "disc" version v1: memory-bank\.safetensors is corrupt or was modified/);
  t.equal(await active(), 'v2');
  r = await linesight(['rollback', '--product', 'disc', '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /no version older than the active v2 loads, v2 stays active/);
  t.equal(await active(), 'v2');
  r = await linesight(['versions', '--product', 'disc', '--data-dir', dataDir]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^v1\s.*DAMAGED: product "disc" version v1: memory-bank\.safetensors is corrupt/m);
});

t.test('unknown product or version, bad product id', async (t) => {
  let r = await linesight(['activate', '--product', 'disc', '--version', 'v7', '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /product "disc" has no version "v7"; its versions are v1, v2/);
  r = await linesight(['versions', '--product', 'ghost', '--data-dir', dataDir]);
  t.equal(r.code, 1);
  t.match(r.stderr, /product "ghost" is not enrolled in/);
  r = await linesight(['rollback', '--product', 'ghost', '--data-dir', dataDir]);
  t.match(r.stderr, /product "ghost" is not enrolled/);
  r = await linesight(['versions', '--product', 'Disc A', '--data-dir', dataDir]);
  t.match(r.stderr, /--product "Disc A"/);
  t.equal(await active(), 'v2');
});
