/**
 * Types for aedes-persistence-level's asynchronous persistence (the package
 * ships none): the class aedes 1.x takes as `persistence`, over a Level
 * database.
 */
declare module 'aedes-persistence-level/asyncPersistence.js' {
  import type { Readable } from 'node:stream';

  interface RetainedPacket {
    topic: string;
    payload: Buffer;
  }

  class AsyncLevelPersistence {
    constructor(db: object);
    setup(broker: object): Promise<void>;
    createRetainedStream(pattern: string): Readable & AsyncIterable<RetainedPacket>;
    destroy(): Promise<void>;
  }
  export = AsyncLevelPersistence;
}
