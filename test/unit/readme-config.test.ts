/**
 * The device config shown in the README is one a device accepts: every key
 * exists and every value passes its schema (the example is what technicians
 * copy).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { deviceConfigSchema } from '../../config/device.ts';

t.test("the README's device config parses", async (t) => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Device config'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  t.ok(yaml, 'the section has a YAML example');
  const result = deviceConfigSchema.safeParse(parse(yaml!));
  t.ok(result.success, result.success ? 'accepted' : JSON.stringify(result.error.issues));
});
