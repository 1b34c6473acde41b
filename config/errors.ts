/**
 * Turns validation failures into one message a technician can act on: which
 * file (or CLI flag), which key, what is wrong with it.
 */
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function keyPath(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

export function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const at = keyPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (at ? `${at}.${k}` : k));
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
    }
    return at ? `key "${at}": ${issue.message}` : issue.message;
  });
  return `${source}: ${lines.join('; ')}`;
}

/** Parses `value` with `schema`, throwing a ConfigError that names the bad keys. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ConfigError(formatIssues(result.error, source));
  return result.data;
}
