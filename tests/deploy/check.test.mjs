// `npm run deploy:check` (scripts/deploy-check.mjs), run as a child process against the
// committed wrangler.toml — a development config, so it must flag exactly its placeholders —
// and against temp configs that each hold one fault. Cloudflare's API is stood in for by small
// node scripts passed as ROSTER_WRANGLER, which print what `wrangler secret list --format json`
// would and record the arguments they got. One case runs the real wrangler without credentials
// (a temp HOME), which fails fast offline. Fast and self-contained: nothing built, no network
// needed. Run: node --test tests/deploy/check.test.mjs
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../scripts/deploy-check.mjs';
import { parseToml } from '../../scripts/toml.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'deploy-check.mjs');
const COMMITTED = join(ROOT, 'wrangler.toml');
const REAL_ID = '3f0c9a51d2e84b7f9a6c1e0d5b2a4c87';

const work = mkdtempSync(join(tmpdir(), 'roster-deploy-check-'));
after(() => rmSync(work, { recursive: true, force: true }));
let seq = 0;

/** A fresh folder in the temp dir. */
function folder() {
  const dir = join(work, String(++seq));
  mkdirSync(dir);
  return dir;
}

/**
 * An executable stand-in for wrangler in `dir`: records its arguments in args.json, prints
 * `stdout` and `stderr`, and exits with `code`.
 */
function standIn(dir, { stdout = '', stderr = '', code = 0 } = {}) {
  const path = join(dir, 'fake-wrangler');
  writeFileSync(path, `#!${process.execPath}
require('node:fs').writeFileSync(${JSON.stringify(join(dir, 'args.json'))}, JSON.stringify(process.argv.slice(2)));
process.stdout.write(${JSON.stringify(stdout)});
process.stderr.write(${JSON.stringify(stderr)});
process.exitCode = ${code};
`);
  chmodSync(path, 0o755);
  return path;
}

const noSecrets = (dir) => standIn(dir, { stdout: '[]\n' });
const withSecret = (dir, ...extra) =>
  standIn(dir, { stdout: JSON.stringify([{ name: 'STREAM_API_SECRET', type: 'secret_text' }, ...extra]) });
const argsOf = (dir) => JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8'));

/** The process environment without Cloudflare credentials or an earlier ROSTER_WRANGLER. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(CLOUDFLARE_|CF_|WRANGLER_)|^ROSTER_WRANGLER$/.test(k)) delete env[k];
  return { ...env, ...extra };
}

/** Runs the check; resolves {code, out} (stdout and stderr, in that order). */
function check(args, env) {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', fail);
    child.on('close', (code) => done({ code, out: out + err, lines: out.trim().split('\n') }));
  });
}

/** A config like the committed one, with a real KV id and key; `edit` changes its text. */
function config(dir, edit = (t) => t) {
  const text = readFileSync(COMMITTED, 'utf8')
    .replaceAll('00000000000000000000000000000000', REAL_ID)
    .replace('STREAM_API_KEY = "roster-dev-key"', 'STREAM_API_KEY = "my-app-key"');
  const path = join(dir, 'wrangler.toml');
  writeFileSync(path, edit(text));
  return path;
}

const KV_PLACEHOLDER =
  '✗ KV namespace USERS has the placeholder id 00000000000000000000000000000000 — npx wrangler kv namespace create USERS and put the id in wrangler.toml';
const DEV_KEY = '✗ STREAM_API_KEY is the development key "roster-dev-key" — set [vars] STREAM_API_KEY to your app\'s key';
const NO_SECRET = '✗ STREAM_API_SECRET is not set — npx wrangler secret put STREAM_API_SECRET';
const problems = (lines) => lines.filter((l) => l.startsWith('✗'));

describe('the committed wrangler.toml', () => {
  test('flags the placeholder KV id, the dev key and the missing secret', async () => {
    const dir = folder();
    const { code, lines } = await check([], cleanEnv({ ROSTER_WRANGLER: noSecrets(dir) }));
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(problems(lines), [KV_PLACEHOLDER, DEV_KEY, NO_SECRET]);
    assert.ok(lines.includes('✓ STREAM_API_SECRET is not in [vars]'));
    assert.ok(lines.includes('✓ no test or development switches in [vars]'));
    assert.ok(lines.includes('· playground: off (ROSTER_PLAYGROUND "off"; "on" serves it publicly)'));
    assert.ok(lines.includes('· observability: on (Workers Logs)'));
    assert.equal(lines.at(-1), 'deploy:check: 3 problem(s)');
    const args = argsOf(dir);
    assert.deepEqual(args.slice(0, 4), ['secret', 'list', '--format', 'json']);
    assert.equal(args[args.indexOf('--config') + 1], COMMITTED);
    assert.ok(!args.includes('--env'));
  });

  test('without credentials the real wrangler cannot confirm the secret', {
    timeout: 90_000,
    skip: !existsSync(join(ROOT, 'node_modules', '.bin', 'wrangler')) && 'wrangler is not installed',
  }, async () => {
    const home = folder();
    const env = cleanEnv({ HOME: home, XDG_CONFIG_HOME: join(home, '.config'), USERPROFILE: home });
    const { code, lines } = await check(['--config', 'wrangler.toml'], env);
    assert.equal(code, 1, lines.join('\n'));
    const unconfirmed = lines.filter((l) => l.startsWith('✗ could not confirm STREAM_API_SECRET is set (wrangler secret list: '));
    assert.equal(unconfirmed.length, 1, lines.join('\n'));
    assert.match(unconfirmed[0], /CLOUDFLARE_API_TOKEN.*\) — log in with npx wrangler login or set CLOUDFLARE_API_TOKEN$/);
    assert.deepEqual(problems(lines), [KV_PLACEHOLDER, DEV_KEY, unconfirmed[0]]);
    assert.equal(lines.at(-1), 'deploy:check: 3 problem(s)');
  });
});

describe('temp configs', () => {
  test('a ready config passes', async () => {
    const dir = folder();
    const previous = { name: 'STREAM_API_SECRET_PREVIOUS', type: 'secret_text' };
    const { code, lines } = await check(['--config', config(dir)], cleanEnv({ ROSTER_WRANGLER: withSecret(dir, previous) }));
    assert.equal(code, 0, lines.join('\n'));
    assert.deepEqual(problems(lines), []);
    assert.ok(lines.includes(`✓ KV namespace USERS: id ${REAL_ID}`));
    assert.ok(lines.includes('✓ STREAM_API_KEY is "my-app-key"'));
    assert.ok(lines.includes('✓ STREAM_API_SECRET is set (a Wrangler secret)'));
    assert.ok(lines.some((l) => l.startsWith('· STREAM_API_SECRET_PREVIOUS is set: a secret rotation is in progress')));
    assert.match(lines.at(-1), /ready to deploy$/);
    assert.equal(argsOf(dir)[argsOf(dir).indexOf('--config') + 1], join(dir, 'wrangler.toml'));
  });

  test('STREAM_API_SECRET in [vars] is a problem', async () => {
    const dir = folder();
    const path = config(dir, (t) => t.replace('[vars]\n', '[vars]\nSTREAM_API_SECRET = "s3cr3t"\n'));
    const { code, lines } = await check(['--config', path], cleanEnv({ ROSTER_WRANGLER: withSecret(dir) }));
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(problems(lines), [
      `✗ STREAM_API_SECRET is in [vars], in plaintext — remove it from wrangler.toml and npx wrangler secret put STREAM_API_SECRET --config ${path}`,
    ]);
    assert.equal(lines.at(-1), 'deploy:check: 1 problem(s)');
  });

  test('ROSTER_TEST_HOOKS in [vars] is a problem', async () => {
    const dir = folder();
    const path = config(dir, (t) => t.replace('[vars]\n', '[vars]\nROSTER_TEST_HOOKS = "1"\n'));
    const { code, lines } = await check(['--config', path], cleanEnv({ ROSTER_WRANGLER: withSecret(dir) }));
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(problems(lines), [
      '✗ ROSTER_TEST_HOOKS is in [vars] — remove it from wrangler.toml: test hooks expose fault injection',
    ]);
  });

  test('--env production reads [env.production], whose vars do not inherit the top level', async () => {
    const dir = folder();
    const path = config(dir, (t) => `${t}
[env.production]
kv_namespaces = [
  # the production replica
  { binding = "USERS", id = "${REAL_ID}" },
]

[env.production.vars]
STREAM_API_KEY = "roster-dev-key"
`);
    const wrangler = withSecret(dir);
    const top = await check(['--config', path], cleanEnv({ ROSTER_WRANGLER: wrangler }));
    assert.equal(top.code, 0, top.lines.join('\n'));
    const prod = await check(['--config', path, '--env', 'production'], cleanEnv({ ROSTER_WRANGLER: wrangler }));
    assert.equal(prod.code, 1, prod.lines.join('\n'));
    assert.deepEqual(problems(prod.lines), [
      '✗ STREAM_API_KEY is the development key "roster-dev-key" — set [env.production.vars] STREAM_API_KEY to your app\'s key',
    ]);
    assert.ok(prod.lines.includes('· observability: on (Workers Logs)'), 'observability is inherited');
    const args = argsOf(dir);
    assert.equal(args[args.indexOf('--env') + 1], 'production');
  });

  test('a failing wrangler secret list is reported with its first error line', async () => {
    const dir = folder();
    const wrangler = standIn(dir, { stderr: '\n\x1b[31m✘ [ERROR]\x1b[0m Authentication error [code: 10000]\n\nmore detail\n', code: 1 });
    const { code, lines } = await check(['--config', config(dir)], cleanEnv({ ROSTER_WRANGLER: wrangler }));
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(problems(lines), [
      '✗ could not confirm STREAM_API_SECRET is set (wrangler secret list: Authentication error [code: 10000]) — log in with npx wrangler login or set CLOUDFLARE_API_TOKEN',
    ]);
  });

  test('non-JSON from wrangler secret list is not taken for a list', async () => {
    const dir = folder();
    const wrangler = standIn(dir, { stdout: 'Secrets:\nSTREAM_API_SECRET\n' });
    const { code, lines } = await check(['--config', config(dir)], cleanEnv({ ROSTER_WRANGLER: wrangler }));
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(problems(lines), [
      '✗ could not confirm STREAM_API_SECRET is set (wrangler secret list: not a JSON list: Secrets:) — log in with npx wrangler login or set CLOUDFLARE_API_TOKEN',
    ]);
  });

  test('no observability and an unreadable config', async () => {
    const dir = folder();
    const path = config(dir, (t) => t.replace('[observability]\nenabled = true\n', ''));
    const quiet = await check(['--config', path], cleanEnv({ ROSTER_WRANGLER: withSecret(dir) }));
    assert.equal(quiet.code, 0, quiet.lines.join('\n'));
    assert.ok(quiet.lines.includes('! observability is off — add [observability] enabled = true to keep Worker logs'));
    const missing = await check(['--config', join(dir, 'nope.toml')], cleanEnv({ ROSTER_WRANGLER: withSecret(dir) }));
    assert.equal(missing.code, 1);
    assert.deepEqual(problems(missing.lines), ['✗ cannot read nope.toml (ENOENT) — pass the config with --config <path>']);
  });
});

describe('the TOML reader', () => {
  test('reads the committed wrangler.toml', () => {
    const raw = parseToml(readFileSync(COMMITTED, 'utf8'));
    assert.equal(raw.name, 'roster');
    assert.deepEqual(raw.kv_namespaces, [
      { binding: 'USERS', id: '00000000000000000000000000000000', preview_id: '00000000000000000000000000000000' },
    ]);
    assert.equal(raw.vars.STREAM_API_KEY, 'roster-dev-key');
    assert.deepEqual(raw.durable_objects.bindings, [
      { name: 'WRITER', class_name: 'Writer' },
      { name: 'HUB', class_name: 'Hub' },
    ]);
    assert.deepEqual(raw.migrations, [
      { tag: 'v1', new_sqlite_classes: ['Writer'] },
      { tag: 'v2', new_sqlite_classes: ['Hub'] },
    ]);
    assert.equal(raw.vars.ROSTER_HUBS, '64');
    assert.equal(raw.assets.run_worker_first, true);
    assert.equal(raw.observability.enabled, true);
  });

  test('strings, numbers, dotted keys, nested arrays of tables', () => {
    const raw = parseToml(`
a = "x # not a comment \\"q\\" \\u00e9" # a comment
'quoted key' = 'C:\\path'
n = 1_000
f = -2.5e3
date = 2026-11-01
dotted.key = true
multi = """
one \\
  two"""
arr = [ 1, [2, 3], { x = 'y' } , ]
[[env.prod.routes]]
pattern = "a/*"
[[env.prod.routes]]
pattern = "b/*"
[env.prod.vars]
K = "v"
`);
    assert.equal(raw.a, 'x # not a comment "q" é');
    assert.equal(raw['quoted key'], 'C:\\path');
    assert.equal(raw.n, 1000);
    assert.equal(raw.f, -2500);
    assert.equal(raw.date, '2026-11-01');
    assert.deepEqual(raw.dotted, { key: true });
    assert.equal(raw.multi, 'one two');
    assert.deepEqual(raw.arr, [1, [2, 3], { x: 'y' }]);
    assert.deepEqual(raw.env.prod.routes, [{ pattern: 'a/*' }, { pattern: 'b/*' }]);
    assert.deepEqual(resolveConfig(raw, 'prod').vars, { K: 'v' });
    assert.throws(() => parseToml('a = 1\na = 2\n'), /line 2: a is defined twice/);
    assert.throws(() => parseToml('a = "open\n'), /line 1: newline in a string/);
  });
});
