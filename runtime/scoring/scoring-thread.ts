/**
 * Frames scored on a thread of their own. ONNX Runtime's Node binding runs
 * an inference synchronously on the thread that asks for it, so on the
 * runtime's main thread every backbone run (10-30 ms a frame) held up MQTT
 * acknowledgements, part deadlines, OPC UA requests and the hand-over of
 * frames from the camera readers. The scoring thread
 * (scoring/scoring-thread-worker.ts) loads each served product version again
 * with sessions of its own and scores the batches the scoring lane hands it;
 * the main thread waits for the answer without being held.
 *
 * The main thread keeps its own copy of every version for everything off the
 * reject path (manifest, anomaly maps built later, mask refinement).
 *
 * A thread that fails (it should not: a failing batch is answered as failed)
 * fails what it was asked and is started again by the next request; each
 * version loads itself again on the new thread (a generation number tells).
 */
import { Worker } from 'node:worker_threads';
import type { InferenceSettings } from '../../config/enroll.ts';
import type { FrameBatchScorer, FrameOutcome } from '../../product/scorer.ts';
import { transferables, type ScoringCommand, type ScoringReply, type ScoringThreadData } from './scoring-protocol.ts';

/** A command as callers give it: its id is added by `request`. (Distributes over the union, which a plain `Omit` would merge.) */
type WithoutId<C> = C extends unknown ? Omit<C, 'id'> : never;
type Request = WithoutId<ScoringCommand>;

/**
 * The inference settings of each scoring thread the device starts: none when
 * frames are scored on the main thread, else `scoringThreads` of them. With
 * more than one, `threads: 0` shares the cores out (at least one intra-op
 * thread each) instead of giving every thread all of them.
 */
export function scoringThreadInference(inference: InferenceSettings, cores: number): InferenceSettings[] {
  if (!inference.scoringThread) return [];
  const count = inference.scoringThreads;
  const threads = inference.threads || (count > 1 ? Math.max(1, Math.floor(cores / count)) : 0);
  return Array.from({ length: count }, () => ({ ...inference, threads }));
}

interface Pending {
  resolve(reply: ScoringReply): void;
  reject(err: Error): void;
}

export class ScoringThread {
  private worker: Worker | undefined;
  private generationNumber = 0;
  private readonly pending = new Map<number, Pending>();
  private ids = 0;
  private closed = false;

  /** `onFailure` hears of a thread that stopped unasked (it starts again on the next request). */
  constructor(
    private readonly data: ScoringThreadData,
    private readonly onFailure: (err: Error) => void = () => {},
  ) {}

  /** Which start of the thread is running (0 before the first); versions loaded on an earlier one are gone. */
  get generation(): number {
    return this.generationNumber;
  }

  /** Loads `version` of `product` on the thread (verified and warmed up there), for the scoring lane. */
  async load(product: string, version: string, maxBatch: number): Promise<RemoteVersion> {
    const remote = new RemoteVersion(this, product, version, maxBatch);
    await remote.loaded();
    return remote;
  }

  /** Sends a command and resolves with its reply; a `failed` reply rejects with its message. */
  async request(command: Request, transfer: ArrayBuffer[] = []): Promise<ScoringReply> {
    if (this.closed) throw new Error('the scoring thread is closed');
    const worker = this.running();
    const id = ++this.ids;
    const reply = new Promise<ScoringReply>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    worker.ref();
    worker.postMessage({ ...command, id } as ScoringCommand, transfer);
    const answer = await reply;
    if (answer.type === 'failed') throw new Error(answer.message);
    return answer;
  }

  /** Ends the thread; what is still pending fails. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.failPending(new Error('the scoring thread was closed'));
    await worker?.terminate();
  }

  private running(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('Deno' in globalThis ? './scoring-thread-worker.ts' : './scoring-thread-entry.mjs', import.meta.url), { workerData: this.data });
    this.generationNumber++;
    worker.unref();
    worker.on('message', (reply: ScoringReply) => this.onReply(reply));
    worker.on('error', (err) => this.stopped(worker, err));
    worker.on('exit', (code) => this.stopped(worker, new Error(`the scoring thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private onReply(reply: ScoringReply): void {
    const pending = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    // Idle, the thread does not keep the process alive.
    if (this.pending.size === 0) this.worker?.unref();
    pending?.resolve(reply);
  }

  private stopped(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    // Versions loaded on the stopped thread see at once that they are gone.
    this.generationNumber++;
    this.failPending(err);
    if (!this.closed) this.onFailure(err);
  }

  private failPending(err: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(err);
  }
}

/** A product version loaded on the scoring thread, as the scoring lane scores frames with it. */
export class RemoteVersion implements FrameBatchScorer {
  private handle: Promise<{ handle: number; generation: number }> | undefined;

  constructor(
    private readonly thread: ScoringThread,
    readonly product: string,
    readonly version: string,
    readonly maxBatch: number,
  ) {}

  /** Resolves once the version is loaded on the thread's current start. */
  async loaded(): Promise<void> {
    await this.current();
  }

  /**
   * Scores frames on the thread, `map: 'whenNeeded'` (see ProductScorer.frames).
   * The frames' buffers move to the thread: the caller must not read them
   * afterwards (an outcome's `image` is the scored frame).
   */
  async scoreBatch(frames: { data: Float32Array }[]): Promise<FrameOutcome[]> {
    const { handle } = await this.current();
    // A frame that is a view into a larger buffer is copied: only what is the frame's own moves.
    const data = frames.map((f) => (f.data.byteLength === f.data.buffer.byteLength ? f.data : f.data.slice()));
    const reply = await this.thread.request({ type: 'score', handle, frames: data }, transferables(data));
    if (reply.type !== 'scored') throw new Error(`the scoring thread answered a batch with "${reply.type}"`);
    return reply.outcomes;
  }

  /** Frees the version's sessions on the thread (nothing to free when the thread has restarted since). */
  async release(): Promise<void> {
    const loaded = await this.handle?.catch(() => undefined);
    this.handle = undefined;
    if (!loaded || loaded.generation !== this.thread.generation) return;
    await this.thread.request({ type: 'release', handle: loaded.handle }).catch(() => undefined);
  }

  private async current(): Promise<{ handle: number; generation: number }> {
    const loaded = await this.handle?.catch(() => undefined);
    if (loaded && loaded.generation === this.thread.generation) return loaded;
    this.handle = this.thread.request({ type: 'load', product: this.product, version: this.version }).then((reply) => {
      if (reply.type !== 'loaded') throw new Error(`the scoring thread answered a load with "${reply.type}"`);
      return { handle: reply.handle, generation: this.thread.generation };
    });
    return this.handle;
  }
}
