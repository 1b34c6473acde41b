// Entry of the scoring thread under Node (scoring/scoring-thread.ts; Deno
// starts scoring-thread-worker.ts itself). Node loads the TypeScript sources
// through tsx, whose hooks a worker thread does not inherit: they are
// registered here again before the worker's code is loaded.
const { register } = await import('tsx/esm/api');
register();
await import('./scoring-thread-worker.ts');
