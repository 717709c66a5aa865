// The core's architecture (issue 23): six folders, each a layer that uses only the layers before
// it, and no import cycle between the core's modules, so each can be read, tested and moved on
// its own. Reads every file under src/core, takes the modules its code names
// (`crate::core::folder::file`, or `super::x` resolved from where the file sits; comments
// skipped) and fails naming the first import against the layer order, or a cycle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const CORE = fileURLToPath(new URL('../../src/core', import.meta.url));

/** The core's folders, lowest first: a module may use its own folder and the ones before it. */
export const LAYERS = ['wire', 'access', 'model', 'query', 'ops', 'engine'];

/** Folders that are one module (their files share `mod.rs`'s types): a node of the graph each. */
const WHOLE = new Set(['ops']);

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.rs') ? [join(dir, e.name)] : []);
}

/** The graph node of a core path (`['query', 'index']`, `['ops', 'upsert']`, `['wire']`). */
function node(parts) {
  if (WHOLE.has(parts[0]) || parts.length === 1) return parts[0];
  return `${parts[0]}/${parts[1]}`;
}

/**
 * Module → the other core modules its code names. A module is `folder/file` (`query/index`),
 * `folder/sub` for a module with files of its own (`engine/batch/`), or a whole folder for
 * `ops`; `core/mod.rs` and the layer folders' `mod.rs` only declare modules.
 */
export function coreGraph(root = CORE) {
  const known = new Set();
  const sources = [];
  for (const file of files(root)) {
    const parts = relative(root, file).replace(/\.rs$/, '').split('/');
    if (parts.length === 2 && parts[1] === 'mod' && !WHOLE.has(parts[0])) continue; // declarations only
    const here = node(parts.at(-1) === 'mod' ? parts.slice(0, -1) : parts);
    known.add(here);
    sources.push({ here, parts, code: readFileSync(file, 'utf8').split('\n').filter((l) => !l.trim().startsWith('//')).join('\n') });
  }
  const resolve = (path) => {
    const n = node(path);
    return known.has(n) ? n : path[0] === 'ApiError' || path[0] === 'Operation' ? 'wire/error' : path[0];
  };
  const graph = new Map();
  for (const { here, parts, code } of sources) {
    const deps = graph.get(here) ?? new Set();
    for (const [, path] of code.matchAll(/crate::core::((?:[A-Za-z_0-9]+::)*[A-Za-z_0-9]+)/g)) deps.add(resolve(path.split('::')));
    // `super` from core/f/x.rs is core/f; from core/f/mod.rs (a whole folder) it is the core.
    const folder = parts.length === 2 && parts[1] !== 'mod' ? parts[0] : null;
    for (const [, name] of code.matchAll(/(?<![:\w])super::([a-z_0-9]+)/g)) {
      if (folder && !WHOLE.has(folder)) deps.add(resolve([folder, name]));
    }
    deps.delete(here);
    for (const d of [...deps]) if (!known.has(d) && !LAYERS.includes(d)) deps.delete(d);
    graph.set(here, deps);
  }
  return graph;
}

/** A cycle in `graph` as a list of modules, or null. */
export function findCycle(graph) {
  const state = new Map(); // 1: on the path, 2: done
  const path = [];
  const visit = (m) => {
    state.set(m, 1);
    path.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 1) return [...path.slice(path.indexOf(d)), d];
      if (!state.has(d)) {
        const found = visit(d);
        if (found) return found;
      }
    }
    path.pop();
    state.set(m, 2);
    return null;
  };
  for (const m of graph.keys()) {
    if (!state.has(m)) {
      const found = visit(m);
      if (found) return found;
    }
  }
  return null;
}

/** The imports that reach a later layer than their own, as `from → to`. */
export function againstLayers(graph) {
  const layer = (m) => LAYERS.indexOf(m.split('/')[0]);
  const out = [];
  for (const [m, deps] of graph) for (const d of deps) if (layer(d) > layer(m)) out.push(`${m} → ${d}`);
  return out;
}

test('the checks find a cycle and an import against the layers when there is one', () => {
  assert.deepEqual(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]])), ['a', 'b', 'c', 'a']);
  assert.equal(findCycle(new Map([['a', new Set(['b'])], ['b', new Set()]])), null);
  assert.deepEqual(againstLayers(new Map([['wire/json', new Set(['model/user'])], ['model/user', new Set(['wire/json'])]])), ['wire/json → model/user']);
});

test('every folder of the core is a layer, and every module lives in one', () => {
  const folders = readdirSync(CORE, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.deepEqual(folders, [...LAYERS].sort());
  const loose = readdirSync(CORE).filter((n) => n.endsWith('.rs') && n !== 'mod.rs');
  assert.deepEqual(loose, [], 'core/mod.rs is the only file outside the folders');
});

test('each layer uses only itself and the layers before it', () => {
  const graph = coreGraph();
  assert.ok(graph.size > 30 && graph.get('ops')?.has('model/username'), 'the graph was read');
  assert.deepEqual(againstLayers(graph), []);
});

test('the core has no import cycles', () => {
  const cycle = findCycle(coreGraph());
  assert.equal(cycle, null, `import cycle in src/core: ${cycle?.join(' → ')}`);
});
