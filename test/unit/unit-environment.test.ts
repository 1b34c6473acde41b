/**
 * Benchmarks run the runtime with the C library settings of its systemd
 * unit: which `Environment=` lines count, what the shipped unit sets, and
 * that a script started without them runs again with them.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { libcEnvironment, RUNTIME_UNIT, unitNice } from '../../scripts/unit-environment.ts';

t.test('malloc settings are read from Environment= lines, later ones winning', async (t) => {
  const unit = [
    '[Service]',
    'Environment=LINESIGHT_DATA_DIR=/var/lib/linesight',
    'Environment=MALLOC_ARENA_MAX=4',
    'Environment="MALLOC_TRIM_THRESHOLD_=131072" GLIBC_TUNABLES=glibc.malloc.tcache_count=0 OTHER=1',
    '# Environment=MALLOC_ARENA_MAX=8',
    'Environment=MALLOC_ARENA_MAX=2',
  ].join('\n');
  t.same(libcEnvironment(unit), { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' });
  t.same(libcEnvironment('[Service]\nExecStart=/usr/bin/env linesight run'), {});
});

t.test('the runtime unit caps malloc arenas at two', async (t) => {
  t.same(libcEnvironment(readFileSync(RUNTIME_UNIT, 'utf8')), { MALLOC_ARENA_MAX: '2' });
});

t.test('the nice value is read from Nice= lines, the last one winning; 0 without one', async (t) => {
  t.equal(unitNice('[Service]\nNice=10\n# Nice=3\nNice=-5\n'), -5);
  t.equal(unitNice('[Service]\n  Nice= 7\n'), 7);
  t.equal(unitNice('[Service]\nExecStart=/usr/bin/env linesight run\n'), 0);
});

t.test('the runtime unit runs before other processes, and training after it', async (t) => {
  const runtime = unitNice(readFileSync(RUNTIME_UNIT, 'utf8'));
  const enroll = unitNice(readFileSync(join(RUNTIME_UNIT, '..', 'linesight-enroll@.service'), 'utf8'));
  t.ok(runtime < 0, `the runtime at nice ${runtime}`);
  t.ok(enroll > 0, `enrollment at nice ${enroll}`);
});

t.test('a script started without the unit settings runs again with them, once', async (t) => {
  const dir = t.testdir();
  const unit = join(dir, 'test.service');
  writeFileSync(unit, '[Service]\nEnvironment=MALLOC_ARENA_MAX=2 MALLOC_TOP_PAD_=0\n');
  const script = join(dir, 'child.ts');
  const module = join(import.meta.dirname, '..', '..', 'scripts', 'unit-environment.ts');
  writeFileSync(
    script,
    `import { runWithUnitLibcEnvironment } from ${JSON.stringify(module)};\n` +
      `process.stderr.write('started\\n');\n` +
      `const env = runWithUnitLibcEnvironment(process.argv[2]);\n` +
      `console.log(JSON.stringify({ returned: env, arena: process.env.MALLOC_ARENA_MAX, pad: process.env.MALLOC_TOP_PAD_ }));\n`,
  );
  const env = { ...process.env };
  delete env.MALLOC_ARENA_MAX;
  delete env.MALLOC_TOP_PAD_;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, unit], { env });
  t.same(JSON.parse(stdout), { returned: { MALLOC_ARENA_MAX: '2', MALLOC_TOP_PAD_: '0' }, arena: '2', pad: '0' }, 'the second run has the settings and prints once');
  t.equal(stderr.match(/started/g)?.length, 2, 'the script ran twice: without, then with the settings');
});
