// README.md against the repository (issue 24): a newcomer follows the README, so every file,
// script and test suite it names must exist, and its Layout table must cover every source file.
// Fast and self-contained: no network, no server, nothing built. Run: node --test tests/docs/readme.test.mjs
//
// What is checked, in README.md's inline code spans (`…`), fenced code blocks and link targets:
//  (a) repository paths exist. A repository path is a token that starts with `src/`, `scripts/`,
//      `tests/`, `www/` or `bench/` (not preceded by a letter, `.`, `/` or `-`, so URLs,
//      `node_modules/…/src/…`, `build/www` and `.tools/…` are not paths here), or a top-level
//      name: `*.toml`, `*.lock`, `package.json`, `package-lock.json` or an upper-case `*.md`.
//      A glob (`*`) must match at least one file. Build outputs and local state (`pkg/`,
//      `build/`, `.wrangler/state`, `.dev.vars`, `node_modules/…`, `.tools/…`, `test-output/…`,
//      `.roster-import/`, `import-report.json`, `roster-users-0.1.0.tgz`) never match these
//      patterns and are not checked. In a Layout row, a bare file name (`record.rs`) or relative
//      folder (`js/`) is resolved against the folders the row's first cell names (a folder, or
//      a named file's folder); a bare file name must exist in one of them.
//  (b) every `npm run <script>` is a script in package.json.
//  (c) every test suite named (`*.test.mjs`, `test_*.py`, `core_*.rs`) exists: a path as in (a),
//      a bare name somewhere under tests/.
//  (d) the Layout table (the first table after "## Layout") covers every file under src/,
//      scripts/, tests/, www/ and bench/ (hidden files, __pycache__, node_modules and target
//      skipped). A file is covered when
//        1. a row names its path anywhere (a glob counts for the files it matches), or
//        2. its file name is in a row whose first cell names its folder (`src/edge/` … `kv.rs`;
//           `src/core/batch.rs`, `record.rs`), or
//        3. a folder containing it is in a row's first cell (or is a relative subfolder that
//           row names, `js/` in `bench/`'s), and that row names no file directly in that folder:
//           a row that lists some of a folder's files covers only those.
//      A folder merely mentioned in a description (`src/edge/` in `src/lib.rs`'s row) covers nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TREES = ['src', 'scripts', 'tests', 'www', 'bench'];
const SKIP_DIRS = new Set(['node_modules', 'target', '__pycache__']);

const PATH_RE = /(?<![\w./-])((?:src|scripts|tests|www|bench)\/[\w.*\-/]*)/g;
const TOP_RE = /(?<![\w./<>-])([A-Za-z][\w-]*(?:\.[\w-]+)*\.(?:toml|lock|json|md))(?![\w/])/g;
const SUITE_RE = /(?<![\w.-])((?:[\w.-]+\/)*(?:[\w-]+\.test\.mjs|test_\w+\.py|core_[\w*]+\.rs))(?![\w/])/g;
const NPM_RUN_RE = /npm run ([\w:.-]*[\w])/g;
// A file name (`record.rs`), a file glob (`*.test.mjs`) or a relative folder (`js/`).
const BARE_FILE_RE = /^[\w-]+(?:\.[\w-]+)*\.(?:rs|mjs|cjs|js|ts|sh|py|json|toml|txt|ini|html|css|md)$|^[\w.-]*\*[\w.*-]*$/;
const BARE_DIR_RE = /^[\w-]+\/$/;

/** Every file (repo-relative, forward slashes) under the trees Layout must cover, plus top-level files. */
export function repoFiles(root = ROOT) {
  const out = [];
  const walk = (rel) => {
    for (const name of readdirSync(join(root, rel))) {
      if (name.startsWith('.') || SKIP_DIRS.has(name)) continue;
      const p = `${rel}/${name}`;
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  for (const t of TREES) if (existsSync(join(root, t))) walk(t);
  for (const name of readdirSync(root)) {
    if (!name.startsWith('.') && statSync(join(root, name)).isFile()) out.push(name);
  }
  return out.sort();
}

const globRe = (glob) =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);

/** The README's code: inline spans and fenced blocks, each with its line number. */
function codeSpans(text) {
  const spans = [];
  const lines = text.split('\n');
  let fence = null;
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      fence = fence ? null : [];
      return;
    }
    if (fence) {
      spans.push({ text: line, line: i + 1 });
      return;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) spans.push({ text: m[1], line: i + 1 });
    for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!/^(?:[a-z]+:|#)/.test(m[1])) spans.push({ text: m[1], line: i + 1 });
    }
  });
  return spans;
}

/** The Layout table's rows: [{ cells: [..], line }]. */
function layoutRows(text) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^##\s+Layout\s*$/.test(l));
  if (start < 0) return null;
  let i = start + 1;
  while (i < lines.length && !lines[i].startsWith('|')) {
    if (/^##\s/.test(lines[i])) return null;
    i++;
  }
  const rows = [];
  for (; i < lines.length && lines[i].startsWith('|'); i++) {
    const cells = lines[i].replace(/^\||\|\s*$/g, '').split('|').map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push({ cells, line: i + 1 });
  }
  return rows.slice(1); // the header row
}

const codeIn = (cell) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1].trim());

/**
 * Checks README text against a file list and the package.json scripts. Returns a list of
 * problems (strings, each naming the README line); empty when all is well.
 */
export function checkReadme(text, { files, scripts }) {
  const problems = [];
  const fileSet = new Set(files);
  const dirSet = new Set();
  for (const f of files) for (let d = posix.dirname(f); d !== '.'; d = posix.dirname(d)) dirSet.add(d);
  const exists = (p) => {
    const q = p.replace(/\/+$/, '');
    if (q.includes('*')) {
      const re = globRe(q);
      return files.some((f) => re.test(f));
    }
    return p.endsWith('/') ? dirSet.has(q) : fileSet.has(q) || dirSet.has(q);
  };
  const reported = new Set();
  const report = (msg) => {
    if (!reported.has(msg)) problems.push(msg), reported.add(msg);
  };

  // (a) paths, (b) npm scripts, (c) suites, everywhere in the code spans.
  for (const { text: code, line } of codeSpans(text)) {
    for (const m of code.matchAll(PATH_RE)) {
      const p = m[1].replace(/[.:]+$/, '');
      if (!exists(p)) report(`line ${line}: \`${p}\` does not exist`);
    }
    for (const m of code.matchAll(TOP_RE)) {
      const name = m[1];
      const topLevel = /\.(?:toml|lock)$/.test(name) || /^package(?:-lock)?\.json$/.test(name) || /^[A-Z][A-Z0-9_-]*\.md$/.test(name);
      if (topLevel && !exists(name)) report(`line ${line}: \`${name}\` does not exist`);
    }
    for (const m of code.matchAll(SUITE_RE)) {
      const s = m[1];
      if (s.includes('/')) continue; // a path: checked as one above
      const re = globRe(s);
      if (!files.some((f) => f.startsWith('tests/') && re.test(posix.basename(f)))) {
        report(`line ${line}: test suite \`${s}\` does not exist under tests/`);
      }
    }
  }
  text.split('\n').forEach((l, i) => {
    for (const m of l.matchAll(NPM_RUN_RE)) {
      if (!scripts.has(m[1])) report(`line ${i + 1}: \`npm run ${m[1]}\`: no such script in package.json`);
    }
  });

  // (d) the Layout table.
  const rows = layoutRows(text);
  if (!rows) {
    report('no Layout table after "## Layout"');
    return problems;
  }
  const covered = new Set();
  for (const { cells, line } of rows) {
    const names = cells.flatMap(codeIn);
    const strip = (p) => p.replace(/\/+$/, '');
    // Repo paths the row names: files, globs and folders (ending in /). Folders the first cell
    // names (itself, or a named file's folder) are the row's own: bare names resolve against
    // them, and they (with relative subfolders such as `js/`) are what rule 3 covers.
    const named = [];
    const ownFolders = []; // for bare names
    const coverFolders = []; // for rule 3
    for (const n of codeIn(cells[0] ?? '')) {
      for (const [, p] of n.matchAll(PATH_RE)) {
        named.push(p);
        if (p.endsWith('/')) ownFolders.push(strip(p)), coverFolders.push(strip(p));
        else if (!p.includes('*')) ownFolders.push(posix.dirname(p));
      }
    }
    for (const n of cells.slice(1).flatMap(codeIn)) for (const [, p] of n.matchAll(PATH_RE)) named.push(p);
    const rowFolders = [...new Set(ownFolders)];
    // Bare names, resolved against the row's own folders. An unresolved bare folder is not
    // reported (`pkg/`, `build/` are outputs); what it should have covered is, by (d).
    for (const n of names) {
      const isFile = BARE_FILE_RE.test(n);
      if (!isFile && !BARE_DIR_RE.test(n)) continue;
      const hit = rowFolders.map((d) => `${d}/${n}`).find((p) => exists(p));
      if (hit) {
        named.push(hit);
        if (hit.endsWith('/')) coverFolders.push(strip(hit));
      } else if (isFile && rowFolders.length) {
        report(`Layout, line ${line}: \`${n}\` is not in ${rowFolders.map((d) => `${d}/`).join(' or ')}`);
      }
    }
    for (const p of new Set(named)) {
      if (!exists(p)) report(`Layout, line ${line}: \`${p}\` does not exist`);
    }
    // Coverage by this row: rules 1 and 2 (the paths it names), then rule 3.
    const fileNames = named.filter((p) => !p.endsWith('/'));
    for (const p of fileNames) {
      const re = globRe(p);
      for (const f of files) if (re.test(f)) covered.add(f);
    }
    for (const d of new Set(coverFolders)) {
      if (fileNames.some((p) => posix.dirname(p) === d)) continue; // the row enumerates d
      for (const f of files) if (f.startsWith(`${d}/`)) covered.add(f);
    }
  }
  for (const f of files) {
    if (TREES.some((t) => f.startsWith(`${t}/`)) && !covered.has(f)) {
      report(`Layout does not cover \`${f}\``);
    }
  }
  return problems;
}

test('the checker reports what is wrong (self-check on a made-up README)', () => {
  const files = [
    'package.json',
    'wrangler.toml',
    'src/lib.rs',
    'src/core/a.rs',
    'src/core/b.rs',
    'src/edge/mod.rs',
    'src/edge/kv.rs',
    'scripts/dev.sh',
    'scripts/env.sh',
    'tests/worker/api.test.mjs',
    'tests/worker/harness.mjs',
    'bench/js/roster.mjs',
    'bench/run.mjs',
  ];
  const scripts = new Set(['dev', 'test']);
  const good = [
    '# X',
    'Run `npm run dev`, see `scripts/dev.sh`, `wrangler.toml` and [the suites](tests/worker/api.test.mjs).',
    'Not repo paths: <https://example.com/src/x.rs>, `node_modules/pkg/src/y.js`, `build/www`,',
    '`.wrangler/state`, `pkg/roster_bg.wasm`, `.tools/py`, `test-output/x/`, `.dev.vars`,',
    '`import-report.json`, `roster-users-0.1.0.tgz`, `.roster-import/`.',
    '```sh',
    'node --test tests/worker/*.test.mjs   # npm run test',
    '```',
    '## Layout',
    '',
    '| path | what |',
    '|---|---|',
    '| `src/lib.rs` | root: `src/core/` and `src/edge/` (mentions, which cover nothing) |',
    '| `src/core/` | the core |',
    '| `src/edge/` | `mod.rs` and `kv.rs` |',
    '| `scripts/` | `dev.sh`, `env.sh` |',
    '| `tests/worker/` | `*.test.mjs`, `harness.mjs` (`api.test.mjs`) |',
    '| `bench/` | `run.mjs`, the baseline (`js/`) |',
    '',
  ].join('\n');
  assert.deepEqual(checkReadme(good, { files, scripts }), []);

  const bad = good
    .replace('see `scripts/dev.sh`', 'see `scripts/nope.sh` and `tests/worker/*.test.py`')
    .replace('# npm run test', '# npm run deploy:check, `ghost.test.mjs`')
    .replace('`mod.rs` and `kv.rs`', '`mod.rs` and `kv.rs`, `gone.rs`')
    .replace('`dev.sh`, `env.sh`', '`dev.sh`')
    .replace('| `src/core/` | the core |\n', '| `src/core/a.rs` | a |\n');
  const problems = checkReadme(bad, { files, scripts });
  const has = (re) => assert.ok(problems.some((p) => re.test(p)), `expected ${re} in:\n${problems.join('\n')}`);
  has(/`scripts\/nope\.sh` does not exist/);
  has(/`tests\/worker\/\*\.test\.py` does not exist/);
  has(/`npm run deploy:check`: no such script/);
  has(/test suite `ghost\.test\.mjs` does not exist/);
  has(/`gone\.rs` is not in src\/edge\//);
  has(/Layout does not cover `scripts\/env\.sh`/);
  has(/Layout does not cover `src\/core\/b\.rs`/);
  assert.ok(!problems.some((p) => /src\/core\/a\.rs/.test(p)), problems.join('\n'));
});

test('README.md names only files, scripts and suites that exist, and its Layout covers every file', () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const scripts = new Set(Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts ?? {}));
  const problems = checkReadme(text, { files: repoFiles(), scripts });
  assert.ok(problems.length === 0, `README.md, ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
});
