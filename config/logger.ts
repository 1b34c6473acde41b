/**
 * Structured logging (pino). Every module takes a child logger named after
 * itself so a technician can filter the journal by component.
 * LINESIGHT_LOG_LEVEL sets the level (default `info`; tests use `silent`).
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const rootLogger: Logger = pino({
  name: 'linesight',
  level: process.env.LINESIGHT_LOG_LEVEL ?? 'info',
  base: undefined,
});

export function createLogger(component: string): Logger {
  return rootLogger.child({ component });
}
