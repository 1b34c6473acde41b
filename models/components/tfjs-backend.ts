/**
 * The tfjs backend the trainer's small networks (feature adaptor, spatial
 * transformer) run on: tfjs-node(-gpu) if installed, else WebAssembly, else
 * plain JavaScript. The WebAssembly backend has no convolution gradients, so
 * networks with convolutions (the spatial transformer's localisation net)
 * train on plain JavaScript there; they are small enough for it.
 */
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from './random.ts';

let installed: Promise<string[]> | undefined;

/** Backends present in this install, fastest first (probed once per process). */
function installedBackends(): Promise<string[]> {
  installed ??= (async () => {
    const optional = async (name: string) => {
      try {
        await import(name);
        return true;
      } catch {
        return false;
      }
    };
    const found: string[] = [];
    if ((await optional('@tensorflow/tfjs-node-gpu')) || (await optional('@tensorflow/tfjs-node'))) found.push('tensorflow');
    if (await optional('@tensorflow/tfjs-backend-wasm')) found.push('wasm');
    found.push('cpu');
    return found;
  })();
  return installed;
}

/** Activates the fastest installed backend that can train `kind` networks and returns its name. */
export async function trainingBackend(kind: 'dense' | 'conv' = 'dense'): Promise<string> {
  for (const name of await installedBackends()) {
    if (kind === 'conv' && name === 'wasm') continue;
    if (tf.getBackend() === name) return name;
    if (await tf.setBackend(name).catch(() => false)) {
      await tf.ready();
      return name;
    }
  }
  throw new Error('no tfjs backend could be initialised');
}

/**
 * A seed for tfjs's random initialisers from the trainer's seed and a stream
 * number (one per tensor). tfjs takes a seed of 0 as "no seed" and draws fresh
 * randomness, so an enrollment with seed 0 would train a different network
 * every time from the same golden samples; the result here is never 0.
 */
export function tfjsSeed(seed: number, stream: number): number {
  return 1 + Math.floor(seededRandom(Math.imul(seed, 7919) + stream)() * 0x7ffffffe);
}
