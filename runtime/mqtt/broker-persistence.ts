/**
 * Where the embedded broker keeps what it has acknowledged: sessions,
 * subscriptions, QoS 1/2 messages waiting for an offline subscriber, wills
 * and retained messages, in a LevelDB database on disk
 * (aedes-persistence-level). A PLC with a persistent session (clean=false)
 * gets the rejects published while it was away, also after the runtime
 * restarted.
 *
 * Every write is synced to disk before aedes goes on (and acknowledges the
 * publish), so an acknowledged reject survives a power cut, not only a
 * crash of the process.
 */
import { mkdir } from 'node:fs/promises';
import AsyncLevelPersistence from 'aedes-persistence-level/asyncPersistence.js';
import { Level } from 'level';

/** The storage calls of classic-level that take write options. */
interface LevelWrites {
  _put(key: unknown, value: unknown, options: object): Promise<void>;
  _del(key: unknown, options: object): Promise<void>;
  _batch(operations: unknown, options: object): Promise<void>;
}

/** Makes every put, delete and batch of `db` wait for fsync (LevelDB's `sync: true`). */
function syncEveryWrite(db: object): void {
  const store = db as LevelWrites;
  const put = store._put.bind(store);
  const del = store._del.bind(store);
  const batch = store._batch.bind(store);
  store._put = (key, value, options) => put(key, value, { ...options, sync: true });
  store._del = (key, options) => del(key, { ...options, sync: true });
  store._batch = (operations, options) => batch(operations, { ...options, sync: true });
}

export interface BrokerStore {
  persistence: AsyncLevelPersistence;
  /** Retained messages on disk, for the retained budget at start-up. */
  retained(): AsyncIterable<{ topic: string; payload: Buffer }>;
}

export class BrokerStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerStoreError';
  }
}

/** Opens (or creates) the broker's database in `dir`. `sync: false` trades power-cut safety for speed. */
export async function openBrokerStore(dir: string, options: { sync?: boolean } = {}): Promise<BrokerStore> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const db = new Level(dir);
  try {
    await db.open();
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new BrokerStoreError(`the embedded MQTT broker cannot open its store ${dir}: ${cause} (another linesight process using the same data directory?)`);
  }
  if (options.sync !== false) syncEveryWrite(db);
  const persistence = new AsyncLevelPersistence(db);
  return { persistence, retained: () => persistence.createRetainedStream('#') };
}
