/** The whole machine's CPU share during a benchmark, from /proc/stat counters (scripts/machine-cpu.ts). */
import t from 'tap';
import { machineCpuShare, parseProcStat, startMachineCpu } from '../../scripts/machine-cpu.ts';

const stat = (fields: string) => `cpu  ${fields}\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\n`;

t.test('the cpu line: busy is user + nice + system + irq + softirq, idle includes iowait', async (t) => {
  t.same(parseProcStat(stat('100 5 20 300 7 1 2 3 0 0')), { busy: 128, idle: 307, steal: 3 });
  t.same(parseProcStat(stat('10 0 5 50')), { busy: 15, idle: 50, steal: 0 }, 'an old kernel without iowait..steal');
  t.throws(() => parseProcStat('intr 1 2\n'), /no "cpu " line/);
});

t.test('share of all cores between two readings, steal apart', async (t) => {
  const from = { busy: 1000, idle: 1000, steal: 10 };
  t.same(machineCpuShare(from, { busy: 1150, idle: 1040, steal: 20 }), { busyPct: 75, stealPct: 5 });
  t.same(machineCpuShare(from, { busy: 1000, idle: 1200, steal: 10 }), { busyPct: 0, stealPct: 0 });
  t.ok(Number.isNaN(machineCpuShare(from, from).busyPct), 'no time passed: no share');
});

t.test('a measuring window on this machine: shares between 0 and 100 once time has passed', async (t) => {
  const machineCpu = startMachineCpu();
  await new Promise((r) => setTimeout(r, 50));
  const { busyPct, stealPct } = machineCpu();
  t.ok(busyPct >= 0 && busyPct <= 100, `busy ${busyPct} %`);
  t.ok(stealPct >= 0 && stealPct <= 100, `steal ${stealPct} %`);
});
