// The core's module graph (issue 23): no import cycles between the core's modules, so each can be
// read, tested and moved on its own. Reads every file under src/core, takes the modules its code
// names (`crate::core::x`, or `super::x` resolved from where the file sits; comments skipped) and
// fails naming a cycle if there is one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const CORE = fileURLToPath(new URL('../../src/core', import.meta.url));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.rs') ? [join(dir, e.name)] : []);
}

/** Module → the other core modules its code names. */
export function coreGraph(root = CORE) {
  const graph = new Map();
  for (const file of files(root)) {
    const parts = relative(root, file).replace(/\.rs$/, '').split('/');
    if (parts.length === 1 && parts[0] === 'mod') continue; // core/mod.rs only declares modules
    const module = parts[0];
    // `super` is the core for core/x.rs and core/x/mod.rs; core/x/y.rs reaches it as super::super.
    const nested = parts.length > 1 && parts[parts.length - 1] !== 'mod';
    const code = readFileSync(file, 'utf8').split('\n').filter((l) => !l.trim().startsWith('//')).join('\n');
    const pattern = nested ? /(?:crate::core::|super::super::)([a-z_0-9]+)/g : /(?:crate::core::|super::)([a-z_0-9]+)/g;
    const deps = graph.get(module) ?? new Set();
    for (const [, name] of code.matchAll(pattern)) if (name !== module && name !== 'super') deps.add(name);
    graph.set(module, deps);
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

test('the check finds a cycle when there is one', () => {
  assert.deepEqual(findCycle(new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]])), ['a', 'b', 'c', 'a']);
  assert.equal(findCycle(new Map([['a', new Set(['b'])], ['b', new Set()]])), null);
});

test('the core has no import cycles', () => {
  const graph = coreGraph();
  assert.ok(graph.size > 20 && graph.get('ops')?.has('username'), 'the graph was read');
  const cycle = findCycle(graph);
  assert.equal(cycle, null, `import cycle in src/core: ${cycle?.join(' → ')}`);
});
