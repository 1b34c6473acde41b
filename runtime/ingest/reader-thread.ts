/**
 * A camera's reader on a thread of its own: ffmpeg is spawned, read and its
 * frames stamped by a worker thread (ingest/reader-thread-worker.ts), so a
 * frame's arrival time says when ffmpeg delivered it, not when the busy main
 * thread got round to it. The frame clock (ingest/frame-clock.ts) and with
 * it which frames fall in a part's window are built on those times; on the
 * main thread ONNX Runtime's inference (synchronous there) and the OPC UA
 * server's encryption made every frame late by a varying amount.
 *
 * One worker per camera lives as long as the camera; each reader start
 * (`spawn`) is numbered, and what arrives from an older reader is dropped.
 * The supervision (states, watchdog, backoff) stays in ingest/ffmpeg-camera.ts.
 */
import { Worker } from 'node:worker_threads';
import { monotonicFromHrtime } from '../clock.ts';

export type ReaderCommand = { type: 'spawn'; reader: number; path: string; args: string[]; frameBytes: number } | { type: 'kill'; signal: NodeJS.Signals };

export type ReaderMessage =
  | { type: 'spawned'; reader: number; pid: number }
  | { type: 'frame'; reader: number; bytes: ArrayBuffer; hrtimeMs: number }
  | { type: 'stderr'; reader: number; text: string }
  | { type: 'error'; reader: number; message: string }
  | { type: 'close'; reader: number; code: number | null; signal: NodeJS.Signals | null };

/** What a reader start reports (callbacks run on the main thread, in the order the worker saw things). */
export interface ReaderHandlers {
  /** A whole frame and its arrival on the runtime's clock (runtime/clock.ts). */
  frame(data: Buffer, arrival: number): void;
  stderr(text: string): void;
  error(message: string): void;
  close(code: number | null, signal: NodeJS.Signals | null): void;
}

/** A running reader: its pid once spawned, and a way to signal it. */
export interface ReaderHandle {
  readonly pid: number | undefined;
  readonly exited: boolean;
  kill(signal: NodeJS.Signals): void;
}

export class ReaderThread {
  private readonly worker: Worker;
  private current: { reader: number; handlers: ReaderHandlers; pid?: number; exited: boolean } | undefined;
  private started = 0;
  private closed = false;

  constructor(onFailure: (err: Error) => void) {
    this.worker = new Worker(new URL('Deno' in globalThis ? './reader-thread-worker.ts' : './reader-thread-entry.mjs', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: ReaderMessage) => this.onMessage(m));
    this.worker.on('error', (err) => {
      const current = this.current;
      if (current && !current.exited) {
        current.exited = true;
        current.handlers.error(`camera reader thread failed: ${err.message}`);
        current.handlers.close(null, null);
      }
      onFailure(err);
    });
  }

  /** Starts ffmpeg (`path` `args`) on the thread; frames of `frameBytes` bytes come to `handlers`. */
  spawn(path: string, args: string[], frameBytes: number, handlers: ReaderHandlers): ReaderHandle {
    if (this.closed) throw new Error('camera reader thread is closed');
    const entry = { reader: ++this.started, handlers, pid: undefined as number | undefined, exited: false };
    this.current = entry;
    this.post({ type: 'spawn', reader: entry.reader, path, args, frameBytes });
    return {
      get pid() {
        return entry.pid;
      },
      get exited() {
        return entry.exited;
      },
      kill: (signal) => {
        if (!entry.exited && this.current === entry) this.post({ type: 'kill', signal });
      },
    };
  }

  private post(command: ReaderCommand): void {
    this.worker.postMessage(command);
  }

  private onMessage(m: ReaderMessage): void {
    const current = this.current;
    if (!current || current.reader !== m.reader || current.exited) return;
    if (m.type === 'spawned') current.pid = m.pid;
    else if (m.type === 'frame') current.handlers.frame(Buffer.from(m.bytes), monotonicFromHrtime(m.hrtimeMs));
    else if (m.type === 'stderr') current.handlers.stderr(m.text);
    else if (m.type === 'error') current.handlers.error(m.message);
    else {
      current.exited = true;
      current.handlers.close(m.code, m.signal);
    }
  }

  /** Ends the thread (after its reader has exited). */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }
}
