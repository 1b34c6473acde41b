/**
 * Messages between the runtime and its scoring thread
 * (scoring/scoring-thread.ts, scoring/scoring-thread-worker.ts). Every
 * command carries an id its reply repeats. Frames and outcomes move between
 * the threads by transfer, not by copy: their buffers change owner.
 */
import type { InferenceSettings } from '../../config/enroll.ts';
import type { FrameOutcome } from '../../product/scorer.ts';

/** What the thread starts with: where products live and how inference runs. */
export interface ScoringThreadData {
  dataDir: string;
  inference: InferenceSettings;
}

export type ScoringCommand =
  | { type: 'load'; id: number; product: string; version: string }
  | { type: 'score'; id: number; handle: number; frames: Float32Array[] }
  | { type: 'release'; id: number; handle: number };

export type ScoringReply =
  | { type: 'loaded'; id: number; handle: number }
  | { type: 'scored'; id: number; outcomes: FrameOutcome[] }
  | { type: 'released'; id: number }
  | { type: 'failed'; id: number; message: string };

/**
 * The distinct buffers behind the typed arrays of `values` (searched one
 * object level deep, as outcomes and frames hold them), for a transfer list:
 * a buffer listed twice would make `postMessage` throw, and views of one
 * buffer (a batch's patch scores) arrive as views of one buffer.
 */
export function transferables(values: readonly unknown[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (v: unknown) => {
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer && v.buffer.byteLength > 0) buffers.add(v.buffer);
  };
  for (const value of values) {
    add(value);
    if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) for (const field of Object.values(value)) add(field);
  }
  return [...buffers];
}
