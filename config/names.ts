/**
 * Names a technician gives things — product ids, MQTT topic levels, Sparkplug
 * ids — and the rules they must follow. They live here, at the bottom, so
 * the settings schemas can check a name when a config file is loaded and the
 * MQTT code can check it again before it builds a topic, with one wording.
 */
import { z } from 'zod';

export const productIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1-64 lowercase letters, digits, "-" or "_", starting with a letter or digit');

export class TopicIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicIdError';
  }
}

export type TopicIdKind = 'prefix' | 'device id' | 'camera id';

/** Longest id accepted, in UTF-8 bytes (ids also name outbox directories). */
export const MAX_TOPIC_ID_BYTES = 64;

function describe(kind: TopicIdKind, value: string): string {
  return `MQTT ${kind} ${JSON.stringify(value)}`;
}

/** Checks one topic level (no `/`). Returns the value when it is valid. */
function checkLevel(kind: TopicIdKind, whole: string, level: string): void {
  if (level.length === 0) throw new TopicIdError(`${describe(kind, whole)} is empty or has an empty level ("//", leading or trailing "/")`);
  if (level.includes('+') || level.includes('#')) {
    throw new TopicIdError(`${describe(kind, whole)} contains "${level.includes('+') ? '+' : '#'}": MQTT wildcards cannot be part of a name`);
  }
  if (/[\u0000-\u001f\u007f\s]/u.test(level)) {
    throw new TopicIdError(`${describe(kind, whole)} contains a space or control character`);
  }
}

/**
 * Validates a device or camera id: one topic level, no `/`, `+`, `#`,
 * whitespace or control characters, not `.`/`..`, not starting with `$`
 * (brokers reserve `$` topics), at most 64 bytes.
 */
export function validateTopicId(kind: 'device id' | 'camera id', value: string): string {
  if (typeof value !== 'string') throw new TopicIdError(`MQTT ${kind} must be a string, got ${typeof value}`);
  if (value.includes('/')) throw new TopicIdError(`${describe(kind, value)} contains "/": an id must be one topic level`);
  checkLevel(kind, value, value);
  if (value === '.' || value === '..') throw new TopicIdError(`${describe(kind, value)} is not a usable name`);
  if (value.startsWith('$')) throw new TopicIdError(`${describe(kind, value)} starts with "$", which brokers reserve for their own topics`);
  if (Buffer.byteLength(value, 'utf8') > MAX_TOPIC_ID_BYTES) {
    throw new TopicIdError(`${describe(kind, value)} is longer than ${MAX_TOPIC_ID_BYTES} bytes`);
  }
  return value;
}

/**
 * Validates the topic prefix. Unlike device and camera ids a prefix may span
 * several levels (`plant2/linesight`) so sites can fit linesight into an
 * existing topic tree; each level follows the id rules.
 */
export function validateTopicPrefix(value: string): string {
  if (typeof value !== 'string') throw new TopicIdError(`MQTT prefix must be a string, got ${typeof value}`);
  for (const level of value.split('/')) checkLevel('prefix', value, level);
  if (value.startsWith('$')) throw new TopicIdError(`${describe('prefix', value)} starts with "$", which brokers reserve for their own topics`);
  if (Buffer.byteLength(value, 'utf8') > 256) throw new TopicIdError(`${describe('prefix', value)} is longer than 256 bytes`);
  return value;
}

export type SparkplugIdKind = 'group id' | 'edge node id' | 'device id';

/**
 * Validates a Sparkplug group, edge node or device id: not empty, no `/`,
 * `+` or `#` (Sparkplug 3.0), and, as linesight's own topic ids, no
 * whitespace or control characters and not `.` / `..`.
 */
export function validateSparkplugId(kind: SparkplugIdKind, value: string): string {
  const what = `Sparkplug ${kind} ${JSON.stringify(value)}`;
  if (typeof value !== 'string') throw new TopicIdError(`Sparkplug ${kind} must be a string, got ${typeof value}`);
  if (value.length === 0) throw new TopicIdError(`${what} is empty`);
  const bad = ['/', '+', '#'].find((c) => value.includes(c));
  if (bad) throw new TopicIdError(`${what} contains "${bad}": Sparkplug ids cannot contain "/", "+" or "#"`);
  if (/[\u0000-\u001f\u007f\s]/u.test(value)) throw new TopicIdError(`${what} contains a space or control character`);
  if (value === '.' || value === '..') throw new TopicIdError(`${what} is not a usable name`);
  return value;
}

/** A zod refinement from a name check that throws: its message becomes the issue. */
export function nameRule(check: (value: string) => string) {
  return (value: string, ctx: z.RefinementCtx): void => {
    try {
      check(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  };
}
