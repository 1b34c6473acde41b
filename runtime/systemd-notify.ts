/**
 * sd_notify for Node and Deno without native modules: when systemd started
 * us with Type=notify (NOTIFY_SOCKET set), messages go through the
 * `systemd-notify` binary. Since systemd 246 it waits until the manager has
 * processed the message (a notify barrier), so a message is never dropped
 * because the short-lived sender exited first. Needs NotifyAccess=all.
 * Without NOTIFY_SOCKET every call is a no-op.
 */
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

export interface SystemdNotifier {
  enabled: boolean;
  ready(status?: string): Promise<void>;
  status(text: string): Promise<void>;
  stopping(): Promise<void>;
  /** Pings WATCHDOG=1 at half the unit's WatchdogSec while `isHealthy()`; returns a stop function. */
  startWatchdog(isHealthy: () => boolean): () => void;
}

export function createSystemdNotifier(opts: { logger?: Logger; env?: NodeJS.ProcessEnv; binary?: string } = {}): SystemdNotifier {
  const env = opts.env ?? process.env;
  const binary = opts.binary ?? 'systemd-notify';
  const enabled = Boolean(env.NOTIFY_SOCKET);
  let warned = false;

  const send = (args: string[]): Promise<void> =>
    new Promise((resolve) => {
      if (!enabled) return resolve();
      execFile(binary, args, { env, timeout: 10_000 }, (err) => {
        if (err && !warned) {
          warned = true;
          opts.logger?.warn({ err: err.message }, `cannot notify systemd (${binary} ${args.join(' ')}): ${err.message}`);
        }
        resolve();
      });
    });

  return {
    enabled,
    ready: (status) => send(['--ready', ...(status ? [`--status=${status}`] : [])]),
    status: (text) => send([`--status=${text}`]),
    stopping: () => send(['STOPPING=1']),
    startWatchdog(isHealthy) {
      const usec = Number(env.WATCHDOG_USEC);
      const pid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
      if (!enabled || !(usec > 0) || pid !== process.pid) return () => undefined;
      const timer = setInterval(() => {
        if (isHealthy()) void send(['WATCHDOG=1']);
      }, Math.max(500, usec / 1000 / 2));
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
