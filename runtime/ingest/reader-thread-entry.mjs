// Entry of the camera reader's worker thread under Node (ingest/reader-thread.ts;
// Deno starts reader-thread-worker.ts itself). Node loads the TypeScript
// sources through tsx, whose hooks a worker thread does not inherit: they are
// registered here again before the worker's code is loaded.
const { register } = await import('tsx/esm/api');
register();
await import('./reader-thread-worker.ts');
