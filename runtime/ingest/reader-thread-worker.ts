/**
 * The camera reader's thread (see ingest/reader-thread.ts): runs ffmpeg,
 * cuts its output into frames and stamps each the moment it is complete,
 * here, where nothing else runs. On the runtime's main thread a frame that
 * ffmpeg wrote while a model was being run (ONNX Runtime's `run` holds that
 * thread for the whole inference) or while an OPC UA request was encrypted
 * would be read, and stamped, only afterwards.
 *
 * Messages in: `spawn` (a reader), `kill` (a signal to it). Messages out:
 * `spawned` (pid), `frame` (bytes, transferred, and `hrtimeMs` of arrival),
 * `stderr` (text), `error`, `close` (code, signal). Each names the reader
 * start it belongs to, so a late message of an old reader is told apart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parentPort } from 'node:worker_threads';
import { hrtimeMs } from '../clock.ts';
import { FrameAssembler } from './frame-assembler.ts';
import type { ReaderCommand, ReaderMessage } from './reader-thread.ts';

const port = parentPort;
if (!port) throw new Error('reader-thread-worker.ts runs as a worker thread (see ingest/reader-thread.ts)');

let child: ChildProcess | undefined;
const send = (message: ReaderMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', (command: ReaderCommand) => {
  if (command.type === 'kill') {
    if (child && child.exitCode === null && child.signalCode === null) child.kill(command.signal);
    return;
  }
  const { reader } = command;
  const assembler = new FrameAssembler(command.frameBytes);
  const proc = spawn(command.path, command.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  if (proc.pid !== undefined) send({ type: 'spawned', reader, pid: proc.pid });
  proc.stdout!.on('data', (chunk: Buffer) => {
    for (const frame of assembler.push(chunk)) {
      const arrival = hrtimeMs();
      // A frame of a camera has its own memory, which moves to the main thread; one small enough to come from Buffer's shared pool is copied first.
      const bytes = frame.buffer.byteLength === frame.byteLength ? (frame.buffer as ArrayBuffer) : (frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength) as ArrayBuffer);
      send({ type: 'frame', reader, bytes, hrtimeMs: arrival }, [bytes]);
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => send({ type: 'stderr', reader, text: chunk.toString() }));
  proc.once('error', (err) => send({ type: 'error', reader, message: err.message }));
  proc.once('close', (code, signal) => {
    if (child === proc) child = undefined;
    send({ type: 'close', reader, code, signal });
  });
});
