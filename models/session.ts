/**
 * ONNX Runtime sessions with the execution providers the config asks for.
 * A GPU provider missing from the installed onnxruntime build (the npm CPU
 * build, or a Jetson without a CUDA/TensorRT build) falls back to CPU with one
 * clear log line instead of failing start-up.
 */
import os from 'node:os';
import ort from 'onnxruntime-node';
import { createLogger, type Logger } from '../config/logger.ts';

export type ExecutionProvider = 'tensorrt' | 'cuda' | 'cpu';

export interface SessionOptions {
  executionProviders?: ExecutionProvider[];
  intraOpThreads?: number;
}

/** Session options from the `inference` section of the device config. */
export function sessionOptions(inference: { executionProviders: ExecutionProvider[]; threads: number }): SessionOptions {
  return { executionProviders: inference.executionProviders, intraOpThreads: inference.threads || undefined };
}

const warned = new Set<string>();

/** The requested providers this build has, in order, always ending with cpu. */
export function resolveExecutionProviders(
  requested: ExecutionProvider[] = ['cpu'],
  available: string[] = ort.listSupportedBackends().map((b) => b.name),
  log: Logger = createLogger('session'),
): ExecutionProvider[] {
  const have = requested.filter((p) => p === 'cpu' || available.includes(p));
  const missing = requested.filter((p) => !have.includes(p));
  if (missing.length > 0) {
    const key = missing.join(',');
    if (!warned.has(key)) {
      warned.add(key);
      log.warn(
        `execution provider ${missing.join(' and ')} is not available in this onnxruntime build; using ${[...new Set([...have, 'cpu'])].join(', ')}. ` +
          'GPU hosts install onnxruntime-node with onnxruntime-node-install=cuda12; on a Jetson build onnxruntime with CUDA/TensorRT (see README)',
      );
    }
  }
  return [...new Set<ExecutionProvider>([...have, 'cpu'])];
}

export async function createSession(model: Uint8Array, opts: SessionOptions = {}, log?: Logger): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: resolveExecutionProviders(opts.executionProviders, undefined, log),
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.intraOpThreads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    // Several sessions run one after the other per frame (backbone, aggregation,
    // search, map) and several cameras share the CPU: idle pools must sleep,
    // not spin, or they steal the cores from the session that is working.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
}

/** For tests: forget which fallbacks were already reported. */
export function resetFallbackWarnings(): void {
  warned.clear();
}
