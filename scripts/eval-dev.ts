/**
 * `npm run eval:dev`: generates the development dataset (if it is not there
 * yet), then enrolls and evaluates every category with the default settings,
 * printing the table and writing `.bench/eval-dev.json`.
 * Extra arguments go to `linesight eval` (e.g. `-- --aggregation sppm`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

const devset = process.env.LINESIGHT_DEVSET ?? '.devset';
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
if (!existsSync(devset)) run(['scripts/make-devset.ts', '--out', devset]);
mkdirSync('.bench', { recursive: true });
run(['bin/linesight.js', 'eval', '--dataset', devset, '--json', '.bench/eval-dev.json', ...process.argv.slice(2)]);
