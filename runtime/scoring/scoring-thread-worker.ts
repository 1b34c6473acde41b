/**
 * The scoring thread (see scoring/scoring-thread.ts): loads product versions
 * with ONNX sessions of its own, warms each up, and scores batches of frames
 * with `map: 'whenNeeded'`, as the runtime's main thread did before. Here a
 * blocking inference holds up nothing but the next inference.
 *
 * Commands are handled one at a time, in the order they came: a version
 * being loaded (a swap) delays the next batch, never answers out of turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProductScorer } from '../../product/scorer.ts';
import { SharedModels } from '../../product/shared-models.ts';
import { transferables, type ScoringCommand, type ScoringReply, type ScoringThreadData } from './scoring-protocol.ts';

const port = parentPort;
if (!port) throw new Error('scoring-thread-worker.ts runs as a worker thread (see scoring/scoring-thread.ts)');

const { dataDir, inference } = workerData as ScoringThreadData;
const models = new SharedModels(dataDir, inference);
const versions = new Map<number, ProductScorer>();
let handles = 0;

async function answer(command: ScoringCommand): Promise<{ reply: ScoringReply; transfer?: ArrayBuffer[] }> {
  const { id } = command;
  if (command.type === 'load') {
    const scorer = await ProductScorer.load(dataDir, command.product, inference, command.version, models);
    await scorer.warmUp();
    versions.set(++handles, scorer);
    return { reply: { type: 'loaded', id, handle: handles } };
  }
  const scorer = versions.get(command.handle);
  if (!scorer) throw new Error(`no product version is loaded as handle ${command.handle} on the scoring thread`);
  if (command.type === 'release') {
    versions.delete(command.handle);
    await scorer.release();
    return { reply: { type: 'released', id } };
  }
  const outcomes = await scorer.scoreBatch(
    command.frames.map((data) => ({ data })),
    { map: 'whenNeeded' },
  );
  return { reply: { type: 'scored', id, outcomes }, transfer: transferables(outcomes) };
}

let queue = Promise.resolve();
port.on('message', (command: ScoringCommand) => {
  queue = queue.then(async () => {
    try {
      const { reply, transfer } = await answer(command);
      port.postMessage(reply, transfer ?? []);
    } catch (err) {
      port.postMessage({ type: 'failed', id: command.id, message: (err as Error).message } satisfies ScoringReply);
    }
  });
});
