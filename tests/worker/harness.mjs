// Test harness for the compiled Worker: runs it under `wrangler dev --local` (workerd) and gives
// tests the official `stream-chat` SDK pointed at it, plus raw HTTP/JWT helpers for what the SDK
// cannot send (malformed JSON, bad tokens, unknown routes).
//
// The harness builds nothing: scripts/test.sh runs `bash scripts/build-worker.sh` first. Each
// server runs a snapshot of build/ with a copy of wrangler.toml that has no [build] table, so
// starting is fast and an edit under src/ during a run cannot rebuild the Worker under test.
// Every server gets a fresh --persist-to directory and a random key and secret (--var overrides
// .dev.vars), runs in its own process group, and is stopped with that group.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { StreamChat } from 'stream-chat';
import { signJwt } from '../../scripts/jwt.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

// Stream's SDK lets these override baseURL; the tests must talk to the server they started.
delete process.env.STREAM_LOCAL_TEST_RUN;
delete process.env.STREAM_LOCAL_TEST_HOST;

const running = new Set();
const dataDirs = new Set();
function killAll(signal) {
  for (const child of running) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}
process.on('exit', () => {
  killAll('SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll('SIGKILL');
    process.exit(130);
  });
}

/** A free TCP port on 127.0.0.1 (avoiding 3030: the SDK would dial :8800 for the WebSocket). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    if (port !== 3030) return port;
  }
}

/**
 * A snapshot of build/ and a wrangler config without [build], in a fresh temp dir; both from
 * `root` (this checkout, or another one: the benchmarks compare an earlier commit's build).
 */
function stageWorker(hooks, root = ROOT) {
  const build = join(root, 'build');
  if (!existsSync(join(build, 'index.js')) || !existsSync(join(build, 'index_bg.wasm'))) {
    throw new Error('build/index.js is missing: run `ROSTER_HOOKS=1 bash scripts/build-worker.sh` first (scripts/test.sh does)');
  }
  const features = existsSync(join(build, 'features')) ? readFileSync(join(build, 'features'), 'utf8') : '';
  if (hooks && !features.includes('test-hooks')) {
    throw new Error('build/ has no test hooks: run `ROSTER_HOOKS=1 bash scripts/build-worker.sh` (scripts/test.sh does), or start with {hooks: false}');
  }
  const dir = mkdtempSync(join(tmpdir(), 'roster-worker-'));
  cpSync(build, join(dir, 'build'), { recursive: true });
  const original = readFileSync(join(root, 'wrangler.toml'), 'utf8');
  const lines = [];
  let inBuild = false;
  for (const line of original.split('\n')) {
    const table = line.match(/^\s*\[+([^\]]+)\]+\s*$/);
    if (table) inBuild = table[1].trim() === 'build' || table[1].trim().startsWith('build.');
    if (!inBuild) lines.push(line);
  }
  let config = lines.join('\n');
  if (!/^main\s*=/m.test(config)) throw new Error('wrangler.toml has no top-level main');
  config = config.replace(/^main\s*=.*$/m, `main = ${JSON.stringify(join(dir, 'build', 'index.js'))}`);
  writeFileSync(join(dir, 'wrangler.toml'), config);
  return dir;
}

/**
 * Starts the Worker. Options: `persistTo` (reuse a KV directory: a restart), `key`, `secret`,
 * `hooks` (false: no test hooks), `vars` (more `--var`s), `root` (another checkout's build/
 * and wrangler.toml).
 * Returns {baseURL, port, inspectorPort, key, secret, persistTo, serverToken, logs(), stop()};
 * stop() keeps the KV directory so a restart can reuse it. `inspectorPort` is the DevTools
 * endpoint of workerd (`bench/worker-profile.mjs` profiles through it).
 */
export async function startWorker(opts = {}) {
  const key = opts.key ?? `test${randomBytes(6).toString('hex')}`;
  const secret = opts.secret ?? randomBytes(24).toString('hex');
  let persistTo = opts.persistTo;
  if (!persistTo) {
    persistTo = mkdtempSync(join(tmpdir(), 'roster-kv-'));
    dataDirs.add(persistTo); // removed when the test process exits (restarts reuse it before)
  }
  const stage = stageWorker(opts.hooks !== false, opts.root);
  dataDirs.add(stage); // removed by stop(), or at exit if a test process dies before it
  const port = await freePort();
  const inspectorPort = await freePort();
  const args = [
    'dev', '--local', '--config', join(stage, 'wrangler.toml'),
    '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort),
    '--persist-to', persistTo, '--show-interactive-dev-session=false',
    '--var', `STREAM_API_KEY:${key}`, '--var', `STREAM_API_SECRET:${secret}`,
    // The test-only hooks (/__roster/test/…: KV fault switch, outbox state, a forced drain, a
    // full-scan query) and the simulated per-key KV write limit; `hooks: false` turns them off.
    ...(opts.hooks === false ? [] : ['--var', 'ROSTER_TEST_HOOKS:1']),
    ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]),
  ];
  const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_UPDATE_NOTIFIER: '1', CI: '1' };
  delete env.STREAM_LOCAL_TEST_RUN;
  delete env.STREAM_LOCAL_TEST_HOST;
  const child = spawn(WRANGLER, args, { cwd: stage, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    running.delete(child);
    resolve({ code, signal });
  }));
  const ready = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
      if (/Ready on http:\/\/127\.0\.0\.1:\d+/.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', reject);
    exited.then(({ code, signal }) => reject(new Error(`wrangler exited early (${code ?? signal}):\n${output}`)));
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`wrangler not ready after ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
  });
  const baseURL = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const killTimer = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(killTimer);
    }
    rmSync(stage, { recursive: true, force: true });
  };
  try {
    await Promise.race([ready, timeout]);
    // "Ready on" precedes the first request by a hair; poll until the Worker itself answers.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const r = await fetch(`${baseURL}/app?api_key=${key}`, { signal: AbortSignal.timeout(5_000) });
        if (r.headers.get('content-type')?.includes('application/json')) break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
      if (Date.now() > deadline) throw new Error(`the Worker did not answer:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    baseURL, port, inspectorPort, key, secret, persistTo,
    serverToken: signJwt({ server: true }, secret),
    logs: () => output,
    stop,
  };
}

// ------------------------------------------------------------------------------------ tokens

/** A JWT with any header/payload; HS256-signed with `secret` unless `signature` is given. */
export { signJwt };

// ------------------------------------------------------------------------------------ clients

/** A server-side SDK client (`new StreamChat(key, secret, {baseURL})`). */
export function serverClient(w) {
  return new StreamChat(w.key, w.secret, { baseURL: w.baseURL, allowServerSideConnect: true, timeout: 20_000 });
}

/** A client-side SDK client (`new StreamChat(key, {baseURL})`); connect it with connectUser. */
export function userClient(w) {
  return new StreamChat(w.key, { baseURL: w.baseURL, allowServerSideConnect: true, timeout: 20_000 });
}

/**
 * A raw HTTP request with Stream's transport. `query` gets api_key unless `apiKey: null`;
 * `token` defaults to the server token (null sends none); `body` is JSON-encoded unless a string.
 * Resolves {status, headers, rawHeaders (as on the wire), text, json}.
 */
export function raw(w, method, path, { query = {}, body, token = w.serverToken, apiKey = w.key, headers = {} } = {}) {
  const url = new URL(path, w.baseURL);
  if (apiKey !== null) url.searchParams.set('api_key', apiKey);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  const h = { ...headers };
  if (token !== null) Object.assign(h, { Authorization: token, 'stream-auth-type': 'jwt' });
  let data;
  if (body !== undefined) {
    data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    h['Content-Type'] ??= 'application/json';
    h['Content-Length'] = String(data.length);
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: h, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

// ------------------------------------------------------------------------------------ asserts

/** Asserts a raw response is Stream's error envelope with this status and code. */
export function assertEnvelope(res, status, code, message) {
  assert.equal(res.status, status, `HTTP ${res.status}: ${res.text}`);
  const b = res.json;
  assert.ok(b && typeof b === 'object', `not JSON: ${res.text}`);
  assert.equal(b.code, code, res.text);
  assert.equal(b.StatusCode, status, res.text);
  assert.equal(typeof b.message, 'string');
  assert.equal(typeof b.duration, 'string');
  assert.equal(typeof b.more_info, 'string');
  assert.deepEqual(b.details, []);
  if (message instanceof RegExp) assert.match(b.message, message);
  else if (message !== undefined) assert.equal(b.message, message);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  return b;
}

/** Awaits an SDK call that must fail with this HTTP status and Stream code; returns the error. */
export async function rejectsWith(promise, { status, code, message }) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected the call to fail${code === undefined ? '' : ` with code ${code}`}`);
  if (code !== undefined) assert.equal(error.code, code, `code: ${error.message}`);
  if (status !== undefined) assert.equal(error.status, status, `status: ${error.message}`);
  if (message instanceof RegExp) assert.match(error.message, message);
  else if (message !== undefined) assert.equal(error.message, message);
  return error;
}

/**
 * Awaits a connectUser that must be refused; the SDK rejects with an Error whose message is
 * JSON {code, StatusCode, message, isWSFailure}. Returns that parsed object.
 */
export async function connectRefused(promise) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, 'expected connectUser to be refused');
  let parsed;
  try {
    parsed = JSON.parse(error.message);
  } catch {
    assert.fail(`connectUser failed without Stream's JSON error: ${error.message}`);
  }
  assert.equal(parsed.isWSFailure, false, `a refusal, not a transport failure: ${error.message}`);
  return parsed;
}

/** Users by id, via the SDK (includes nothing soft-deleted). */
export async function usersById(client, ids) {
  const { users } = await client.queryUsers({ id: { $in: ids } }, [], { limit: 100 });
  return Object.fromEntries(users.map((u) => [u.id, u]));
}

/** A unique id with a readable prefix. */
export function uid(prefix = 'u') {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/**
 * A `startWorker` for a test file that starts several servers (restarts included): every
 * server it starts is stopped when the file's tests end.
 */
export function serverPool() {
  const servers = [];
  after(() => Promise.all(servers.map((s) => s.stop())));
  return async (opts = {}) => {
    const w = await startWorker(opts);
    servers.push(w);
    return w;
  };
}

/**
 * One server for a whole test file: started before its tests, then `started({w, server})` runs
 * (in the same hook: node runs a file's root `before` hooks concurrently), and stopped after
 * them, once the user-side clients opened by `connected` are disconnected.
 * Returns `{w, server, connected(id, details)}`; `w` and `server` are set once started.
 */
export function fileServer(started) {
  const ctx = { w: undefined, server: undefined };
  const clients = [];
  before(async () => {
    ctx.w = await startWorker();
    ctx.server = serverClient(ctx.w);
    await started?.(ctx);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.disconnectUser().catch(() => {})));
    await ctx.w?.stop();
  });
  /** A user-side client connected as `id` (with `details`) by a token the server made. */
  ctx.connected = async (id, details = { id }) => {
    const c = userClient(ctx.w);
    clients.push(c);
    await c.connectUser(details, ctx.server.createToken(id));
    return c;
  };
  return ctx;
}

// ------------------------------------------------------------------------------------ test hooks

/** Calls a test hook of the Writer (`/__roster/test/<what>`); resolves its JSON answer. */
export async function hook(w, what, body) {
  const res = await raw(w, body === undefined ? 'GET' : 'POST', `/__roster/test/${what}`, { body });
  assert.equal(res.status, 200, `hook ${what}: ${res.text}`);
  return res.json;
}

/** Sets the KV fault switch: 'none', 'fail', '429' or 'delay:<ms>'. */
export function kvFault(w, mode) {
  return hook(w, 'kv-fault', mode);
}

/**
 * Drains the outbox to KV until nothing is pending (entries backing off are made due again;
 * a key written within the last second waits out its second). Bounded: 120 rounds.
 */
export async function drained(w) {
  let state;
  for (let i = 0; i < 120; i++) {
    state = await hook(w, 'drain', '');
    if (state.pending === 0) return state;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`the outbox did not drain: ${JSON.stringify(state)}`);
}

/** What KV holds under a prefix: {key: {value, metadata}}. */
export async function kvDump(w, prefix = '') {
  const res = await raw(w, 'GET', '/__roster/test/kv', { query: { prefix } });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** Every user row of the Writer, {id: record}. */
export async function writerUsers(w) {
  return (await hook(w, 'users')).users;
}

/** `GET /roster/stats` with the server token (asserted 200); its JSON. */
export async function stats(w) {
  const res = await raw(w, 'GET', '/roster/stats');
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** Per-test options: every test has a bounded run time. */
export const LIMIT = { timeout: 60_000 };

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
