/**
 * `npm run bench:update [-- --runs 3 --counts 5,50]`: the time from the
 * operator's verdicts to an activatable version. On the conveyor sample
 * product (40 golden samples), N good parts under a brighter light the golden
 * set lacked are marked good; `updateProduct` builds and replays the new
 * version (threshold recalibrated on the golden folder), and a full
 * enrollment of the golden set plus the same N images is timed for
 * comparison. The Review page's path is timed too: the same parts as kept
 * records labelled on a device, and `linesight update --records --progress
 * json` as the page runs it (a child process: start-up, models loaded,
 * update, replay) until its result line. Reports medians over the runs and
 * the replay counts, and beside each wall time the CPU seconds it took (all
 * threads; the child's read from /proc while it runs), which a busy machine
 * does not inflate, with the load average at the start and the end.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { enrollSettingsSchema, inferenceSettingsSchema } from '../config/enroll.ts';
import { prepareSampleProduct } from '../fixtures/conveyor.ts';
import { activateVersion, productDir } from '../product/artifact.ts';
import { parseUpdateLine } from '../product/update-progress.ts';
import { SqliteRecordStore } from '../runtime/records/record-store.ts';
import { enrollProduct } from '../trainer/enroll.ts';
import { updateProduct, type Replay } from '../trainer/update-product.ts';
import { median, round, writeBenchResult } from './bench-common.ts';

const args = parseArgs({ options: { runs: { type: 'string', default: '3' }, counts: { type: 'string', default: '5,50' }, dir: { type: 'string', default: '.bench/update' } } }).values;
const runs = Number(args.runs);
const counts = args.counts.split(',').map(Number);
const dir = resolve(args.dir);
const say = (line: string) => process.stderr.write(`${line}\n`);
const inference = inferenceSettingsSchema.parse({});

const sample = await prepareSampleProduct({ dir, size: 224, goldenSamples: 40, testGood: Math.max(...counts), testPerDefect: 1, seed: 3, log: say });
const goldenDir = join(sample.devset, sample.product, 'train', 'good');
if (sample.good.length < Math.max(...counts)) throw new Error(`the sample product has ${sample.good.length} good test parts, fewer than ${Math.max(...counts)}`);

/** N good parts under a brighter light, and a folder of the golden set plus them. */
async function brighterParts(n: number): Promise<{ good: string[]; goldenPlus: string }> {
  const folder = join(dir, `brighter-${n}`);
  const goldenPlus = join(dir, `golden-plus-${n}`);
  await mkdir(folder, { recursive: true });
  await mkdir(goldenPlus, { recursive: true });
  for (const f of await readdir(goldenDir)) await copyFile(join(goldenDir, f), join(goldenPlus, f));
  const good: string[] = [];
  for (const [i, part] of sample.good.slice(0, n).entries()) {
    const path = join(folder, `brighter-${i}.png`);
    await sharp(part.image).linear(1.25, 0).toFile(path);
    await copyFile(path, join(goldenPlus, `brighter-${i}.png`));
    good.push(path);
  }
  return { good, goldenPlus };
}

/**
 * A device holding the sample product's v1, the golden set it was enrolled
 * from, and the reviewed records: the N parts marked good, the defects confirmed.
 */
async function reviewedDevice(n: number, good: string[]): Promise<string> {
  const device = join(dir, `device-${n}`);
  await rm(device, { recursive: true, force: true });
  await cp(join(productDir(sample.dataDir, sample.product), 'v1'), join(productDir(device, sample.product), 'v1'), { recursive: true });
  await activateVersion(device, sample.product, 'v1');
  await cp(goldenDir, join(device, 'golden', sample.product, '20260101-000000'), { recursive: true });
  const store = new SqliteRecordStore(device, { maxBytes: 1e10, maxDays: 3650, minFreeBytes: 0 });
  const png = (path: string) => sharp(path).png().toBuffer();
  const reviewed = [...good.map((path) => ({ path, label: 'good' as const, type: null })), ...sample.defective.map((d) => ({ path: d.image, label: 'defect' as const, type: d.kind }))];
  for (const [i, r] of reviewed.entries()) {
    const files = { image: await png(r.path), map: await png(r.path), mask: await png(r.path) };
    const row = await store.add({ ts: Date.now() - i, camera: 'cam1', product: sample.product, version: 'v1', verdict: 'reject', score: 2, threshold: 1, partId: `P-${i}`, files });
    store.review(row!.id, { label: r.label, type: r.type, who: 'bench' });
  }
  store.close();
  return device;
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc; undefined once it is gone. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds this process uses while `step` runs (all its threads: ONNX Runtime's too). */
async function withCpu<T>(step: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const before = process.cpuUsage();
  const value = await step();
  const used = process.cpuUsage(before);
  return { value, cpu: (used.user + used.system) / 1e6 };
}

/** `linesight update --records --progress json` on the device, as the Review page runs it: seconds until its result line. */
function pageUpdate(device: string): Promise<{ seconds: number; cpu: number; version: string }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/linesight.js', 'update', '--product', sample.product, '--records', '--data-dir', device, '--progress', 'json'], { env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' } });
    let cpu = 0;
    const sampler = setInterval(() => (cpu = processCpuSeconds(child.pid!) ?? cpu), 100);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      clearInterval(sampler);
      const result = out.trim().split('\n').map(parseUpdateLine).at(-1);
      if (code !== 0 || result?.event !== 'result') reject(new Error(`linesight update --records failed (${code}): ${err.trim()}`));
      else resolve({ seconds: (performance.now() - start) / 1000, cpu, version: result.version });
    });
  });
}

const loadAtStart = loadavg()[0]!;
const results = [];
for (const n of counts) {
  const parts = await brighterParts(n);
  const review = { good: parts.good, defects: sample.defective.map((d) => ({ path: d.image, type: d.kind })), missed: [] };
  const updates: number[] = [];
  const enrolls: number[] = [];
  const pages: number[] = [];
  const cpu = { update: [] as number[], enroll: [] as number[], page: [] as number[] };
  const device = await reviewedDevice(n, parts.good);
  let replay: Replay | undefined;
  let bankRowsAdded = 0;
  for (let run = 0; run < runs; run++) {
    const { value: r, cpu: updateCpu } = await withCpu(() => updateProduct({ dataDir: sample.dataDir, productId: sample.product, review, inference, settings: { goldenDir } }));
    updates.push(r.seconds);
    cpu.update.push(updateCpu);
    replay = r.replay;
    bankRowsAdded = r.bankRowsAdded;
    say(`update with ${n} good image(s), run ${run + 1}: ${r.seconds.toFixed(1)} s, ${updateCpu.toFixed(1)} CPU s (${r.version}, ${r.bankRowsAdded} bank rows added)`);
    const t = performance.now();
    const enrolled = await withCpu(() => enrollProduct({ productId: `full${n}`, imagesDir: parts.goldenPlus, dataDir: join(dir, 'full-enroll'), settings: enrollSettingsSchema.parse({ inputSize: 224 }), inference, activate: false }));
    enrolls.push((performance.now() - t) / 1000);
    cpu.enroll.push(enrolled.cpu);
    say(`full enrollment of the golden set + ${n}, run ${run + 1}: ${enrolls.at(-1)!.toFixed(1)} s, ${enrolled.cpu.toFixed(1)} CPU s`);
    const page = await pageUpdate(device);
    pages.push(page.seconds);
    cpu.page.push(page.cpu);
    say(`linesight update --records (the Review page's update) with ${n} good record(s), run ${run + 1}: ${page.seconds.toFixed(1)} s, ${page.cpu.toFixed(1)} CPU s (${page.version})`);
  }
  results.push({
    goodImages: n,
    updateSeconds: round(median(updates)),
    pageUpdateSeconds: round(median(pages)),
    fullEnrollSeconds: round(median(enrolls)),
    cpuSeconds: { update: round(median(cpu.update)), page: round(median(cpu.page)), fullEnroll: round(median(cpu.enroll)) },
    bankRowsAdded,
    replay: { active: replay!.active, candidate: replay!.candidate, totals: replay!.totals },
  });
}
writeBenchResult('update', { goldenSamples: 40, runs, loadAverage: { start: round(loadAtStart), end: round(loadavg()[0]!) }, results });
