/**
 * `linesight eval` ends a known problem (a backbone that is not installed, a
 * dataset without the layout) with its one-line message and status 1, before
 * it reads a single golden sample: every image of the tiny dataset here is
 * unreadable, so an evaluation that started reading would fail on an image
 * instead.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'linesight.js');

/** Runs the command in `cwd` (a folder without installed backbones). */
function linesightIn(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/** A dataset in the MVTec layout whose images are not images at all. */
async function unreadableDataset(root: string, opts: { goodTest: boolean }): Promise<void> {
  const notAnImage = 'this is not a PNG';
  await mkdir(join(root, 'part', 'train', 'good'), { recursive: true });
  for (let i = 0; i < 12; i++) await writeFile(join(root, 'part', 'train', 'good', `${String(i).padStart(3, '0')}.png`), notAnImage);
  await mkdir(join(root, 'part', 'test', 'scratch'), { recursive: true });
  await mkdir(join(root, 'part', 'ground_truth', 'scratch'), { recursive: true });
  await writeFile(join(root, 'part', 'test', 'scratch', '000.png'), notAnImage);
  await writeFile(join(root, 'part', 'ground_truth', 'scratch', '000_mask.png'), notAnImage);
  if (opts.goodTest) {
    await mkdir(join(root, 'part', 'test', 'good'), { recursive: true });
    await writeFile(join(root, 'part', 'test', 'good', '000.png'), notAnImage);
  }
}

function assertOneLine(t: Test, result: { code: number; stdout: string; stderr: string; seconds: number }, message: RegExp): void {
  t.equal(result.code, 1, 'exit status 1');
  t.equal(result.stdout, '', 'nothing on stdout');
  const lines = result.stderr.trim().split('\n');
  t.equal(lines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  t.match(lines[0], message);
  t.notMatch(result.stderr, /^\s+at /m, 'no stack trace');
  t.notMatch(result.stderr, /cannot read image|not a PNG|unsupported image/i, 'no golden sample was read');
  t.comment(`failed after ${result.seconds.toFixed(1)} s`);
}

t.test('eval with a ResNet whose weights are not installed fails at once with the install hint', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-fail-early-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await unreadableDataset(join(dir, 'data'), { goodTest: true });
  const result = await linesightIn(dir, ['eval', '--backbone', 'resnet18', '--dataset', join(dir, 'data')]);
  assertOneLine(t, result, /^linesight: backbone resnet18 is not installed: \.linesight\/backbones\/resnet18\.safetensors does not exist\. On a machine with internet run `npm run fetch-backbone -- resnet18`/);
});

t.test('eval with --data-dir looks for the weights there', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-fail-early-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await unreadableDataset(join(dir, 'data'), { goodTest: true });
  const result = await linesightIn(dir, ['eval', '--backbone', 'wide_resnet50_2', '--dataset', join(dir, 'data'), '--data-dir', join(dir, 'device')]);
  assertOneLine(t, result, new RegExp(`^linesight: backbone wide_resnet50_2 is not installed: ${join(dir, 'device', 'backbones', 'wide_resnet50_2.safetensors')} does not exist`));
});

t.test('eval of a dataset without good test images fails at once, naming the folder', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-fail-early-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await unreadableDataset(join(dir, 'data'), { goodTest: false });
  const result = await linesightIn(dir, ['eval', '--dataset', join(dir, 'data')]);
  assertOneLine(t, result, new RegExp(`^linesight: category part has no good test images \\(${join(dir, 'data', 'part', 'test', 'good')}\\)$`));
});

t.test('eval of an unknown backbone or a missing dataset folder fails at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'linesight-fail-early-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await unreadableDataset(join(dir, 'data'), { goodTest: true });
  assertOneLine(t, await linesightIn(dir, ['eval', '--backbone', 'vgg16', '--dataset', join(dir, 'data')]), /^linesight: unknown backbone "vgg16" \(known: /);
  assertOneLine(t, await linesightIn(dir, ['eval', '--dataset', join(dir, 'absent')]), /^linesight: dataset folder .*absent does not exist$/);
});
