/**
 * A long training job the web UI starts — an enrollment, a product update —
 * run as the `linesight` command a technician would type, with `--progress
 * json`, as a child process at low CPU priority: training never blocks the
 * runtime's event loop and the line's scoring comes first. The job reports
 * its stages (with their pace), then its result or why it failed; one job
 * of a kind at a time, and it can be cancelled. The pages follow the job's
 * snapshot over the event stream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { ApiError } from './http-util.ts';
import { advanceStages, type StageProgress } from './job-progress.ts';

export const LINESIGHT_BIN = join(import.meta.dirname, '..', '..', 'bin', 'linesight.js');
/** Nice value of the training process: the line's scoring runs first. */
const TRAINING_NICENESS = 10;

export type JobLine<R> = { event: 'progress'; stage: string; done: number; total: number } | R | { event: 'error'; message: string };

/** What every job's snapshot holds; each kind adds its own fields. */
export interface JobState<R> {
  id: number;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  product: string;
  startedAt: number;
  finishedAt: number | null;
  seconds: number | null;
  stages: StageProgress[];
  result: R | null;
  error: string | null;
}

export interface CliJobOptions<R> {
  /** The job in words, for messages: "enrollment", "product update". */
  what: string;
  /** An article-led form for "a ... is running": "an enrollment". */
  aWhat: string;
  /** The device settings the child reads (written to a temporary config file). */
  config: Record<string, unknown>;
  /** Reads one stdout line; undefined for anything else. */
  parse: (text: string) => JobLine<R> | undefined;
  bin?: string;
  logger?: Logger;
}

/** Runs one job of a kind at a time and keeps the newest job's snapshot. */
export class CliJobRunner<R extends { event: 'result' }, S extends JobState<R>> extends EventEmitter<{ change: [] }> {
  private current: S | null = null;
  private child: ChildProcess | undefined;
  private ids = 0;

  constructor(private readonly opts: CliJobOptions<R>) {
    super();
  }

  snapshot(): S | null {
    return this.current;
  }

  get running(): boolean {
    return this.current?.state === 'running';
  }

  /** Changes the newest job's snapshot (when it is still job `id`). */
  protected patch(id: number, patch: Partial<S>): void {
    if (this.current?.id !== id) return;
    this.current = { ...this.current, ...patch };
    this.emit('change');
  }

  /** Starts `linesight <args> --config <device settings> --progress json`; refused while a job of this kind runs. */
  protected async run(args: string[], fields: Omit<S, keyof JobState<R>>, product: string): Promise<S> {
    const { what } = this.opts;
    if (this.running) throw new ApiError(409, `${this.opts.aWhat} of "${this.current!.product}" is running; wait for it or cancel it first`);
    const tmp = await mkdtemp(join(tmpdir(), 'linesight-job-'));
    const configFile = join(tmp, 'config.json');
    await writeFile(configFile, JSON.stringify(this.opts.config));
    const child = spawn(process.execPath, [this.opts.bin ?? LINESIGHT_BIN, ...args, '--config', configFile, '--progress', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LINESIGHT_LOG_LEVEL: 'warn' },
    });
    this.child = child;
    try {
      if (child.pid) setPriority(child.pid, TRAINING_NICENESS);
    } catch (err) {
      this.opts.logger?.warn(`the ${what} runs at the runtime's priority: lowering it was refused (${(err as Error).message})`);
    }
    const common: JobState<R> = { id: ++this.ids, state: 'running', product, startedAt: Date.now(), finishedAt: null, seconds: null, stages: [], result: null, error: null };
    const job = { ...fields, ...common } as S;
    this.current = job;
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = this.opts.parse(text);
      if (!line || this.current?.id !== job.id) return;
      if (line.event === 'progress') {
        const p = line as { stage: string; done: number; total: number };
        this.patch(job.id, { stages: advanceStages(this.current.stages, p, Date.now()) } as Partial<S>);
      } else if (line.event === 'result') this.patch(job.id, { result: line as R } as Partial<S>);
      else this.patch(job.id, { error: (line as { message: string }).message } as Partial<S>);
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (text) => {
      stderr.push(text);
      if (stderr.length > 20) stderr.shift();
    });
    child.on('error', (err) => this.patch(job.id, { error: `the ${what} could not start: ${err.message}` } as Partial<S>));
    child.on('close', (code, signal) => {
      void rm(tmp, { recursive: true, force: true });
      if (this.child === child) this.child = undefined;
      const now = Date.now();
      const state = this.current?.id === job.id ? this.current : job;
      const ended = { finishedAt: now, seconds: Math.round((now - job.startedAt) / 100) / 10 };
      if (state.state === 'cancelled') this.patch(job.id, ended as Partial<S>);
      else if (code === 0 && state.result) {
        this.patch(job.id, { ...ended, state: 'done', stages: state.stages.map((s) => ({ ...s, done: s.total, finished: true, etaSeconds: 0 })) } as Partial<S>);
      } else {
        const said = state.error ?? stderr.filter((l) => l.trim()).at(-1)?.replace(/^linesight: /, '');
        this.patch(job.id, { ...ended, state: 'failed', error: said ?? `the ${what} stopped (${signal ?? `exit code ${code}`})` } as Partial<S>);
      }
    });
    this.emit('change');
    return job;
  }

  /** Stops the running job; nothing of it is activated. */
  cancel(): S {
    if (!this.running || !this.child) throw new ApiError(409, `no ${this.opts.what} is running`);
    this.current = { ...this.current!, state: 'cancelled', error: 'cancelled by the user' };
    this.child.kill('SIGTERM');
    this.emit('change');
    return this.current;
  }

  /** Stops a running job (device shutdown). */
  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGTERM');
    await closed;
  }
}
