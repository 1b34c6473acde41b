/**
 * The layer rule, checked on the real source tree: every import points to the
 * importer's own layer or a lower one, the file graph has no cycles, and the
 * browser modules of the web UI import only each other. The rule is data at
 * the top; the pure functions under it are tested on a hand-made graph first.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import t from 'tap';

/** Rank of each top-level folder, bottom first. Equal ranks may not import each other. */
const LAYER_RANKS: Record<string, number> = {
  config: 0,
  models: 1,
  product: 2,
  trainer: 3,
  runtime: 3,
  eval: 4,
  cli: 5,
  fixtures: 6,
  scripts: 7,
  bin: 7,
  test: 8,
};

/** Arrows allowed although the rank alone forbids them. */
const ALLOWED_EXTRA: ReadonlyArray<readonly [from: string, to: string]> = [
  // Evaluation enrolls the products it evaluates.
  ['eval', 'trainer'],
];

/** Browser modules served as files: they may import only files under the same folder. */
const BROWSER_MODULE_DIRS = ['runtime/web/ui'];

/** The folders whose files are checked (test/ may import anything). */
const CHECKED_LAYERS = ['config', 'models', 'product', 'trainer', 'runtime', 'eval', 'cli', 'fixtures', 'scripts', 'bin'];

/** A file graph: repository-relative paths with '/' separators -> the files they import. */
type FileGraph = Map<string, string[]>;

/** The top-level folder a repository-relative path sits in. */
function layerOf(file: string): string {
  return file.split('/')[0] ?? file;
}

/** Whether a file in layer `from` may import a file in layer `to`. */
function layerArrowAllowed(from: string, to: string, ranks = LAYER_RANKS, extra = ALLOWED_EXTRA): boolean {
  if (from === to) return true;
  if (extra.some(([a, b]) => a === from && b === to)) return true;
  const fromRank = ranks[from];
  const toRank = ranks[to];
  if (fromRank === undefined || toRank === undefined) return false;
  return toRank < fromRank;
}

/** Whether an import obeys the browser-module rule (only files under the same browser folder). */
function browserArrowAllowed(file: string, target: string, dirs = BROWSER_MODULE_DIRS): boolean {
  const dir = dirs.find((d) => file.startsWith(`${d}/`));
  return dir === undefined || target.startsWith(`${dir}/`);
}

/** Every arrow of the graph that breaks the layer or browser-module rule, as `file -> import`. */
function forbiddenArrows(graph: FileGraph, ranks = LAYER_RANKS, extra = ALLOWED_EXTRA, browserDirs = BROWSER_MODULE_DIRS): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const ok = layerArrowAllowed(layerOf(file), layerOf(target), ranks, extra) && browserArrowAllowed(file, target, browserDirs);
      if (!ok) out.push(`${file} -> ${target}`);
    }
  }
  return out.sort();
}

/** The cycles a depth-first search meets, each as `a -> b -> ... -> a`, one per back edge. */
function findCycles(graph: FileGraph): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      const s = state.get(next);
      if (s === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

/**
 * The module specifiers a source file imports: static `import ... from`,
 * side-effect `import '...'`, `export ... from` and `import('...')` with a
 * literal. Comments are dropped first so examples in doc comments do not count.
 */
function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  const found: string[] = [];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) if (m[1] !== undefined) found.push(m[1]);
  return [...new Set(found)];
}

const ROOT = resolve(import.meta.dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) ? [path] : [];
  });
}

const toRepoPath = (absolute: string): string => relative(ROOT, absolute).split(sep).join('/');

/** The repository's import graph over the checked folders, and relative imports that name no file. */
function repositoryGraph(): { graph: FileGraph; unresolved: string[] } {
  const graph: FileGraph = new Map();
  const unresolved: string[] = [];
  for (const file of CHECKED_LAYERS.flatMap((layer) => sourceFiles(join(ROOT, layer)))) {
    const targets: string[] = [];
    for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue; // node: built-ins and packages
      const target = resolve(dirname(file), spec);
      if (existsSync(target) && statSync(target).isFile()) targets.push(toRepoPath(target));
      else unresolved.push(`${toRepoPath(file)} -> ${spec}`);
    }
    graph.set(toRepoPath(file), [...new Set(targets)]);
  }
  return { graph, unresolved };
}

t.test('the rule on hand-made layers', async (t) => {
  t.ok(layerArrowAllowed('runtime', 'runtime'), 'own layer');
  t.ok(layerArrowAllowed('runtime', 'product'), 'lower layer');
  t.ok(layerArrowAllowed('cli', 'config'), 'several layers down');
  t.notOk(layerArrowAllowed('config', 'models'), 'up');
  t.notOk(layerArrowAllowed('trainer', 'runtime'), 'sideways at the same rank');
  t.notOk(layerArrowAllowed('runtime', 'trainer'), 'sideways the other way');
  t.ok(layerArrowAllowed('eval', 'trainer'), 'the listed exception');
  t.ok(layerArrowAllowed('eval', 'runtime'), 'eval is above runtime anyway');
  t.notOk(layerArrowAllowed('fixtures', 'test'), 'fixtures may not reach into the tests');
  t.notOk(layerArrowAllowed('models', 'package.json'), 'an unknown folder is not allowed');
  t.ok(browserArrowAllowed('runtime/web/ui/app.js', 'runtime/web/ui/api.js'));
  t.notOk(browserArrowAllowed('runtime/web/ui/app.js', 'runtime/web/job-progress.ts'));
  t.ok(browserArrowAllowed('runtime/web/web-app.ts', 'runtime/web/ui/app.js'), 'the rule binds only the browser modules');
});

t.test('forbidden arrows and cycles of a hand-made graph', async (t) => {
  const graph: FileGraph = new Map([
    ['config/a.ts', ['models/b.ts']],
    ['models/b.ts', ['config/c.ts']],
    ['config/c.ts', ['config/a.ts']],
    ['runtime/d.ts', ['trainer/e.ts', 'product/f.ts']],
    ['trainer/e.ts', []],
    ['product/f.ts', ['models/b.ts']],
    ['eval/g.ts', ['trainer/e.ts', 'runtime/d.ts']],
    ['runtime/web/ui/h.js', ['runtime/web/ui/i.js', 'runtime/web/j.ts']],
    ['runtime/web/ui/i.js', []],
    ['runtime/web/j.ts', []],
  ]);
  t.same(forbiddenArrows(graph), ['config/a.ts -> models/b.ts', 'runtime/d.ts -> trainer/e.ts', 'runtime/web/ui/h.js -> runtime/web/j.ts']);
  t.same(findCycles(graph), ['config/a.ts -> models/b.ts -> config/c.ts -> config/a.ts']);
  t.same(findCycles(new Map([['x.ts', ['x.ts']]])), ['x.ts -> x.ts'], 'a file importing itself');
  t.same(findCycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', []]])), [], 'a chain is no cycle');
});

t.test('import specifiers of every form, none from comments', async (t) => {
  const source = [
    '/** e.g. import { x } from "./in-block-comment.ts" */',
    "// import y from './in-line-comment.ts';",
    "import t from 'tap';",
    "import { a,\n  b } from './multi-line.ts';",
    "import type { C } from '../types.ts';",
    "import './side-effect.js';",
    "export { d } from './re-export.ts';",
    "export * from './star.ts';",
    "const m = await import('./dynamic.ts');",
    'const n = await import(name);',
  ].join('\n');
  t.same(importSpecifiers(source).sort(), ['../types.ts', './dynamic.ts', './multi-line.ts', './re-export.ts', './side-effect.js', './star.ts', 'tap'].sort());
});

const { graph, unresolved } = repositoryGraph();

t.test('the source tree', async (t) => {
  t.ok(graph.size > 50, `the checked folders hold the source (${graph.size} files)`);
  t.same(unresolved, [], `every relative import names a file:\n${unresolved.join('\n')}`);
});

t.test('every import points to its own layer or a lower one', async (t) => {
  const forbidden = forbiddenArrows(graph);
  t.same(forbidden, [], `imports that point up or sideways:\n${forbidden.join('\n')}`);
});

t.test('no import cycles between files', async (t) => {
  const cycles = findCycles(graph);
  t.same(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});
