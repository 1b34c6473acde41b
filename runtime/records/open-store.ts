/**
 * One record store per data folder in this process: the runtime's recorder
 * and the web UI share it, so reviews and new records go through one
 * connection to the index.
 */
import type { RecordsSettings } from '../../config/records.ts';
import { type RecordStore, SqliteRecordStore } from './record-store.ts';

const stores = new Map<string, RecordStore>();

export function openRecordStore(dataDir: string, settings: RecordsSettings): RecordStore {
  let store = stores.get(dataDir);
  if (!store || !store.db.open) {
    store = new SqliteRecordStore(dataDir, settings);
    stores.set(dataDir, store);
  }
  return store;
}
