/**
 * Enrollment started from the web UI. It runs `linesight enroll --progress
 * json --no-activate` as a child process at low CPU priority, so training
 * never blocks the runtime's event loop and the line's scoring comes first;
 * the technician activates the result when satisfied. One enrollment at a
 * time; it can be cancelled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../../config/device.ts';
import { parseEnrollLine, plannedStages, type EnrollResultLine, type PlannedStage } from '../../product/enrollment-progress.ts';
import { ApiError } from './http-util.ts';
import { advanceStages, type StageProgress } from './job-progress.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'linesight.js');
/** Nice value of the training process: the line's scoring runs first. */
const TRAINING_NICENESS = 10;

export interface EnrollmentState {
  id: number;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  product: string;
  set: string;
  images: number;
  startedAt: number;
  finishedAt: number | null;
  seconds: number | null;
  /** Every stage this enrollment goes through, in order, with the label the pages show. */
  plannedStages: PlannedStage[];
  stages: StageProgress[];
  result: EnrollResultLine | null;
  error: string | null;
}

export class EnrollmentRunner extends EventEmitter<{ change: [] }> {
  private current: EnrollmentState | null = null;
  private child: ChildProcess | undefined;
  private ids = 0;

  constructor(
    private readonly config: Pick<DeviceConfig, 'dataDir' | 'enroll' | 'inference'>,
    private readonly bin = BIN,
    private readonly logger?: Logger,
  ) {
    super();
  }

  snapshot(): EnrollmentState | null {
    return this.current;
  }

  get running(): boolean {
    return this.current?.state === 'running';
  }

  /** Starts enrolling `product` from `imagesDir`; refused while another enrollment runs. */
  async start(opts: { product: string; set: string; imagesDir: string; images: number }): Promise<EnrollmentState> {
    if (this.running) throw new ApiError(409, `an enrollment of "${this.current!.product}" is running; wait for it or cancel it first`);
    // The device's enroll and inference settings, as the child reads them.
    const tmp = await mkdtemp(join(tmpdir(), 'linesight-enroll-'));
    const configFile = join(tmp, 'config.json');
    await writeFile(configFile, JSON.stringify({ dataDir: this.config.dataDir, enroll: this.config.enroll, inference: this.config.inference }));
    const args = [this.bin, 'enroll', '--product', opts.product, '--images', opts.imagesDir, '--no-activate', '--data-dir', this.config.dataDir, '--config', configFile, '--progress', 'json'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' } });
    this.child = child;
    try {
      if (child.pid) setPriority(child.pid, TRAINING_NICENESS);
    } catch (err) {
      this.logger?.warn(`training runs at the runtime's priority: lowering it was refused (${(err as Error).message})`);
    }
    const job: EnrollmentState = {
      id: ++this.ids,
      state: 'running',
      product: opts.product,
      set: opts.set,
      images: opts.images,
      startedAt: Date.now(),
      finishedAt: null,
      seconds: null,
      plannedStages: plannedStages(this.config.enroll),
      stages: [],
      result: null,
      error: null,
    };
    this.current = job;
    const update = (patch: Partial<EnrollmentState>) => {
      if (this.current?.id !== job.id) return;
      this.current = { ...this.current, ...patch };
      this.emit('change');
    };
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = parseEnrollLine(text);
      if (!line || this.current?.id !== job.id) return;
      if (line.event === 'progress') update({ stages: advanceStages(this.current.stages, line, Date.now()) });
      else if (line.event === 'result') update({ result: line });
      else update({ error: line.message });
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (text) => {
      stderr.push(text);
      if (stderr.length > 20) stderr.shift();
    });
    child.on('error', (err) => update({ error: `the enrollment could not start: ${err.message}` }));
    child.on('close', (code, signal) => {
      void rm(tmp, { recursive: true, force: true });
      if (this.child === child) this.child = undefined;
      const now = Date.now();
      const state = this.current?.id === job.id ? this.current : job;
      const ended = { finishedAt: now, seconds: Math.round((now - job.startedAt) / 100) / 10 };
      if (state.state === 'cancelled') update(ended);
      else if (code === 0 && state.result) {
        update({ ...ended, state: 'done', stages: state.stages.map((s) => ({ ...s, done: s.total, finished: true, etaSeconds: 0 })) });
      } else {
        const said = state.error ?? stderr.filter((l) => l.trim()).at(-1)?.replace(/^linesight: /, '');
        update({ ...ended, state: 'failed', error: said ?? `the enrollment stopped (${signal ?? `exit code ${code}`})` });
      }
    });
    this.emit('change');
    return job;
  }

  /** Stops the running enrollment; nothing of it is activated. */
  cancel(): EnrollmentState {
    if (!this.running || !this.child) throw new ApiError(409, 'no enrollment is running');
    this.current = { ...this.current!, state: 'cancelled', error: 'cancelled by the user' };
    this.child.kill('SIGTERM');
    this.emit('change');
    return this.current;
  }

  /** Stops a running enrollment (device shutdown). */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await closed;
  }
}
