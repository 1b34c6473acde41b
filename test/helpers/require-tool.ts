/**
 * A test that needs a system program fails, naming the command that installs
 * it, when the program is missing: a machine without it must not pass the
 * suite by skipping what it cannot run.
 */
import { existsSync } from 'node:fs';
import { missingToolMessage } from '../../fixtures/required-tool.ts';

/** The part of tap's test object this needs. */
interface Failable {
  fail(message: string): unknown;
}

/** True when `path` exists; otherwise fails the test with the install hint and returns false (return from the test then). */
export function requireTool(t: Failable, path: string, installHint: string): boolean {
  if (existsSync(path)) return true;
  t.fail(missingToolMessage(path, installHint));
  return false;
}
