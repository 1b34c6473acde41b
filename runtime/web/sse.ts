/**
 * Server-Sent Events: a stream of JSON snapshots the pages render as they
 * come (live view, capture and enrollment progress). Snapshots are sent at
 * most every `minIntervalMs`; the newest one wins.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SnapshotSource<T> {
  snapshot(): T;
  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

export function streamSnapshots<T>(req: IncomingMessage, res: ServerResponse, event: string, source: SnapshotSource<T>, minIntervalMs = 250): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    last = Date.now();
    res.write(`event: ${event}\ndata: ${JSON.stringify(source.snapshot())}\n\n`);
  };
  const changed = () => {
    if (timer) return;
    timer = setTimeout(send, Math.max(0, minIntervalMs - (Date.now() - last)));
  };
  const unsubscribe = source.subscribe(changed);
  // A comment every 15 s keeps proxies from closing an idle stream.
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  send();
  const close = () => {
    unsubscribe();
    clearInterval(keepAlive);
    if (timer) clearTimeout(timer);
  };
  req.on('close', close);
  res.on('close', close);
}

/**
 * One subscription to the app's sources of change, shared by every open
 * stream: the sources see one listener however many pages are open (no
 * MaxListeners warnings), and the periodic tick runs only while a stream is.
 */
export class ChangeFeed {
  private readonly listeners = new Set<() => void>();
  private detach: (() => void) | undefined;

  /** `attach` subscribes `emit` to the sources and returns the function that unsubscribes it. */
  constructor(private readonly attach: (emit: () => void) => () => void) {}

  get size(): number {
    return this.listeners.size;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    this.detach ??= this.attach(() => {
      for (const l of [...this.listeners]) l();
    });
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.detach) {
        this.detach();
        this.detach = undefined;
      }
    };
  }
}
