#!/usr/bin/env node
// Import from Stream (issue 24): copies every user of a Stream Chat app, and its
// `enforce_unique_usernames` setting, into a Roster, through the public user API only.
//
//   npm run import -- --from https://chat.stream-io-api.com --key KEY --secret SECRET \
//                     [--to http://127.0.0.1:8787 --to-key KEY --to-secret SECRET]
//
// The source is read with what Stream itself serves: a server token (HS256 over
// {"server":true}), `GET /app`, and `GET /users?payload=` paged by a keyset cursor on
// (created_at, id) — Stream caps `offset` at 1000, a cursor has no cap:
//   filter  {created_at: {$gte: T}, $or: [{created_at: {$gt: T}}, {id: {$gt: I}}]}
//   sort    [{created_at: 1}, {id: 1}], include_deactivated_users: true
// Each page is written to the target before the checkpoint (.roster-import/<hash>.json) moves
// past it, so a stopped or failed run resumes where it left off; replaying a page is harmless
// (users already equal in the target are skipped, writes are upserts). A batch refused for one
// user (a taken name, code 6, or any bad record) is split until the bad users are alone, and
// each of them is reported (stdout and the report file) with Stream's error: never dropped
// silently. `node scripts/import.mjs --help` lists the options.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { signJwt } from './jwt.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STREAM_BASE = 'https://chat.stream-io-api.com';
const DEV_BASE = 'http://127.0.0.1:8787';
const MAX_BATCH = 100;
const CHECKPOINT_VERSION = 1;

// Server-computed fields, mirroring Roster's field table `src/core/model/fields.rs` (reserved and server-computed kinds)
// plus what Stream's user responses carry besides: never written, never compared.
const SERVER_FIELDS = new Set([
  'created_at', 'updated_at', 'last_active', 'online',
  'banned', 'shadow_banned', 'ban_expires', 'devices', 'mutes', 'channel_mutes', 'blocked_user_ids',
  'unread_count', 'total_unread_count', 'unread_channels', 'unread_threads', 'total_unread_count_by_team',
  'latest_hidden_channels', 'avg_response_time', 'push_preferences', 'push_notifications', 'deactivated_at',
  'deleted_at', 'last_engaged_at', 'revoke_tokens_issued_before', 'bypass_moderation', 'created_by_id',
  '__hard_deleted',
]);

const EXIT = { done: 0, fatal: 1, rejected: 2, stopped: 3, usage: 64 };

const HELP = `Import from Stream: copy every user of a Stream Chat app (and its enforce_unique_usernames
setting) into a Roster, through Stream's public API. Resumable.

Usage: npm run import -- [options]

Source (Stream, or anything that speaks its API, another Roster included):
  --from URL            base URL (default ${STREAM_BASE}; env STREAM_BASE_URL)
  --key KEY             API key (env STREAM_API_KEY or STREAM_KEY)
  --secret SECRET       API secret (env STREAM_API_SECRET or STREAM_SECRET)
Target (a Roster):
  --to URL              base URL (default ${DEV_BASE}, the dev server; env ROSTER_BASE_URL)
  --to-key KEY          API key (env ROSTER_API_KEY)
  --to-secret SECRET    API secret (env ROSTER_API_SECRET), or
  --to-token TOKEN      a server token instead of the secret (env ROSTER_TOKEN)
                        Neither given and the target is on this machine: GET /_dev/token
                        (npm run dev), else .dev.vars.
Behaviour:
  --unique-usernames M  the target's enforce_unique_usernames before users are written:
                        source (default: the source app's), keep (leave the target's),
                        no, app or team
  --page-size N         users per source page and per target batch, 1-100 (default 100)
  --max-pages N         stop after N pages in this run (resume later by running again)
  --restart             forget the checkpoint and start from the first user
  --state-dir DIR       where checkpoints live (default .roster-import)
  --report FILE         the report (default import-report.json)
  --no-progress         no progress output on stderr
  --json                print the final summary as JSON on stdout
  -h, --help            this text

Exit status: 0 all users copied; 2 finished, some users rejected (see the report);
3 stopped before the end (--max-pages, Ctrl-C): run again to resume; 1 error (resumable);
64 a bad option.`;

class Fatal extends Error {}
/** A mistake in the command line. */
class Usage extends Fatal {}

/** Stream's error envelope, as an Error. */
class ApiError extends Error {
  constructor(side, method, path, status, body, text) {
    const code = body && typeof body === 'object' ? body.code : undefined;
    const msg = body && typeof body.message === 'string' ? body.message : (text ?? '').slice(0, 300);
    super(`${side} ${method} ${path}: HTTP ${status}${code === undefined ? '' : ` code ${code}`}: ${msg}`);
    this.status = status;
    this.code = code;
    this.apiMessage = msg;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------ HTTP

/** One side of the import: a base URL, an API key and a server token, with retries. */
class Api {
  constructor(side, base, key, token, log) {
    this.side = side;
    this.base = base.replace(/\/+$/, '');
    this.key = key;
    this.token = token;
    this.log = log;
    this.requests = 0;
  }

  /** A request; 429 waits for x-ratelimit-reset, 5xx and network errors back off. Returns
   * {status, body} for any other status. */
  async send(method, path, { query = {}, body } = {}) {
    const url = new URL(this.base + path);
    url.searchParams.set('api_key', this.key);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    const headers = { Authorization: this.token, 'stream-auth-type': 'jwt', 'X-Stream-Client': 'roster-import' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let failures = 0;
    let limited = 0;
    for (;;) {
      let res;
      let text;
      try {
        this.requests++;
        res = await fetch(url, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(60_000),
        });
        text = await res.text();
      } catch (e) {
        if (++failures > 5) throw new Fatal(`${this.side} ${method} ${path}: ${e.cause?.message ?? e.message} (after 5 retries)`);
        const wait = Math.min(500 * 2 ** (failures - 1), 10_000);
        this.log.note(`${this.side}: ${e.cause?.code ?? e.name} on ${method} ${path}; retrying in ${wait} ms`);
        await sleep(wait);
        continue;
      }
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (res.status === 429) {
        if (++limited > 30) throw new Fatal(`${this.side} ${method} ${path}: still rate limited after 30 waits`);
        const reset = Number(res.headers.get('x-ratelimit-reset'));
        const wait = Number.isFinite(reset) && reset > 0
          ? Math.min(Math.max(reset * 1000 - Date.now(), 0) + 250, 65_000)
          : Math.min(1000 * 2 ** (limited - 1), 60_000);
        this.log.note(`${this.side}: rate limited (429${json?.code === undefined ? '' : ` code ${json.code}`}) on ${method} ${path}; waiting ${Math.ceil(wait / 1000)} s`);
        await sleep(wait);
        continue;
      }
      if (res.status >= 500) {
        if (++failures > 5) throw new ApiError(this.side, method, path, res.status, json, text);
        const wait = Math.min(500 * 2 ** (failures - 1), 10_000);
        this.log.note(`${this.side}: HTTP ${res.status} on ${method} ${path}; retrying in ${wait} ms`);
        await sleep(wait);
        continue;
      }
      return { status: res.status, body: json, text, method, path };
    }
  }

  /** `send`, throwing an ApiError unless the answer is a 2xx JSON object. */
  async call(method, path, opts) {
    const r = await this.send(method, path, opts);
    if (r.status < 200 || r.status > 299 || !r.body || typeof r.body !== 'object') {
      throw new ApiError(this.side, method, path, r.status, r.body, r.text);
    }
    return r.body;
  }
}

/** Whether a refused write names something wrong with the records themselves (so splitting
 * the batch finds them) rather than with the request as a whole (credentials, permissions). */
function isRecordError(status) {
  return status === 400 || status === 404 || status === 409 || status === 413 || status === 422;
}

// ------------------------------------------------------------------------------------ users

/** What the import writes of a user read from the source. */
function prepare(raw) {
  const fields = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v !== null && v !== undefined && !SERVER_FIELDS.has(k)) fields[k] = v;
  }
  const revoke = raw.revoke_tokens_issued_before ?? null;
  return {
    id: raw.id,
    raw,
    fields,
    deactivated: raw.deactivated_at !== null && raw.deactivated_at !== undefined,
    revoke: typeof revoke === 'string' || typeof revoke === 'number' ? revoke : null,
    banned: raw.banned === true || raw.shadow_banned === true,
  };
}

/** JSON with object keys sorted, for comparing users whatever their key order. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

const instant = (t) => (t === null ? null : typeof t === 'number' ? Math.floor(t / 1e6) : Date.parse(t));

/** Whether the target already holds the source's user as the import would write it. */
function sameUser(src, dst) {
  return src.deactivated === dst.deactivated
    && instant(src.revoke) === instant(dst.revoke)
    && canonical(src.fields) === canonical(dst.fields);
}

// ------------------------------------------------------------------------------------ progress

class Log {
  constructor({ progress, json }) {
    this.tty = Boolean(process.stderr.isTTY) && progress;
    this.lines = progress && !this.tty;
    this.json = json;
    this.started = Date.now();
    this.lastLine = 0;
    this.frame = 0;
    this.shown = false;
  }
  clear() {
    if (this.tty && this.shown) {
      process.stderr.write('\r\x1b[K');
      this.shown = false;
    }
  }
  /** A note on stderr (retries, waits). */
  note(text) {
    if (!this.tty && !this.lines) return;
    this.clear();
    process.stderr.write(`${text}\n`);
  }
  /** A result line on stdout (rejections), unless --json. */
  out(text) {
    this.clear();
    if (!this.json) process.stdout.write(`${text}\n`);
  }
  progress(run, total, final = false) {
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? Math.round(run.read / secs) : 0;
    const n = (x) => x.toLocaleString('en-US');
    const text = `${n(total.read)} read · ${n(total.written)} written · ${n(total.skipped)} skipped · ${n(total.rejected)} rejected · ${n(rate)} users/s · ${secs.toFixed(1)} s`;
    if (this.tty) {
      // Stream has no count of an app's users, so the bar only shows that work goes on.
      const width = 12;
      const pos = this.frame++ % (2 * (width - 3));
      const at = pos < width - 3 ? pos : 2 * (width - 3) - pos;
      const bar = final ? '='.repeat(width) : ' '.repeat(at) + '===' + ' '.repeat(width - 3 - at);
      process.stderr.write(`\r\x1b[K[${bar}] ${text}`);
      this.shown = true;
      if (final) {
        process.stderr.write('\n');
        this.shown = false;
      }
    } else if (this.lines && (final || Date.now() - this.lastLine >= 1000)) {
      // The final line once, unless the last one already said the same (rate and time aside).
      const counts = text.split(' · ').slice(0, 4).join(' · ');
      if (final && counts === this.lastCounts) return;
      this.lastLine = Date.now();
      this.lastCounts = counts;
      process.stderr.write(`progress: ${text}\n`);
    }
  }
}

// ------------------------------------------------------------------------------------ options

function options(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        from: { type: 'string' }, key: { type: 'string' }, secret: { type: 'string' },
        to: { type: 'string' }, 'to-key': { type: 'string' }, 'to-secret': { type: 'string' }, 'to-token': { type: 'string' },
        'unique-usernames': { type: 'string' }, 'page-size': { type: 'string' }, 'max-pages': { type: 'string' },
        restart: { type: 'boolean' }, 'state-dir': { type: 'string' }, report: { type: 'string' },
        'no-progress': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new Usage(`${e.message}\n(npm run import -- --help lists the options)`);
  }
  const env = process.env;
  const int = (name, lo, hi, dflt) => {
    const v = parsed[name];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new Usage(`--${name} must be an integer from ${lo} to ${hi}`);
    return n;
  };
  const mode = parsed['unique-usernames'] ?? 'source';
  if (!['source', 'keep', 'no', 'app', 'team'].includes(mode)) {
    throw new Usage('--unique-usernames must be one of source, keep, no, app, team');
  }
  return {
    help: parsed.help,
    from: parsed.from ?? env.STREAM_BASE_URL ?? STREAM_BASE,
    key: parsed.key ?? env.STREAM_API_KEY ?? env.STREAM_KEY,
    secret: parsed.secret ?? env.STREAM_API_SECRET ?? env.STREAM_SECRET,
    to: parsed.to ?? env.ROSTER_BASE_URL ?? DEV_BASE,
    toKey: parsed['to-key'] ?? env.ROSTER_API_KEY,
    toSecret: parsed['to-secret'] ?? env.ROSTER_API_SECRET,
    toToken: parsed['to-token'] ?? env.ROSTER_TOKEN,
    unique: mode,
    pageSize: int('page-size', 1, MAX_BATCH, MAX_BATCH),
    maxPages: int('max-pages', 1, Number.MAX_SAFE_INTEGER, Infinity),
    restart: Boolean(parsed.restart),
    stateDir: resolve(parsed['state-dir'] ?? '.roster-import'),
    report: resolve(parsed.report ?? 'import-report.json'),
    progress: !parsed['no-progress'],
    json: Boolean(parsed.json),
  };
}

function isLoopback(base) {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(base).hostname);
  } catch {
    return false;
  }
}

/** The target's API key and server token: given, or the local dev server's. */
async function targetCredentials(o) {
  if (o.toKey && o.toSecret) return { key: o.toKey, token: signJwt({ server: true }, o.toSecret) };
  if (o.toKey && o.toToken) return { key: o.toKey, token: o.toToken };
  if (o.toKey || o.toSecret || o.toToken) throw new Fatal('give --to-key with --to-secret (or --to-token)');
  if (!isLoopback(o.to)) throw new Fatal(`--to-key and --to-secret are required for ${o.to}`);
  try {
    const r = await fetch(`${o.to.replace(/\/+$/, '')}/_dev/token`, { signal: AbortSignal.timeout(5_000) });
    if (r.ok) {
      const b = await r.json();
      if (b?.api_key && b?.token) return { key: b.api_key, token: b.token };
    }
  } catch {
    // not the dev server, or not running: try .dev.vars
  }
  const vars = join(ROOT, '.dev.vars');
  if (existsSync(vars)) {
    const { loadCredentials } = await import('./credentials.mjs');
    const c = loadCredentials(vars);
    if (c.key && c.secret) return { key: c.key, token: c.serverToken };
  }
  throw new Fatal(`no credentials for ${o.to}: give --to-key and --to-secret, or start it with npm run dev`);
}

// ------------------------------------------------------------------------------------ checkpoint

function checkpointPath(o) {
  const id = createHash('sha256')
    .update(JSON.stringify([o.from.replace(/\/+$/, ''), o.key, o.to.replace(/\/+$/, ''), o.toKey ?? o.targetKey]))
    .digest('hex').slice(0, 16);
  return join(o.stateDir, `${id}.json`);
}

function writeAtomic(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function freshState(o) {
  return {
    version: CHECKPOINT_VERSION,
    from: o.from, from_key: o.key, to: o.to, to_key: o.targetKey,
    started_at: new Date().toISOString(), updated_at: null,
    cursor: null, pages: 0, complete: false,
    counts: { read: 0, written: 0, skipped: 0, rejected: 0 },
    unique_usernames: null, banned_not_copied: 0,
    pending: [], rejected: [],
  };
}

function loadState(path, o) {
  if (o.restart || !existsSync(path)) return freshState(o);
  let s;
  try {
    s = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Fatal(`the checkpoint ${path} cannot be read (${e.message}); use --restart to start over`);
  }
  if (s.version !== CHECKPOINT_VERSION || !s.counts || !Array.isArray(s.pending)) {
    throw new Fatal(`the checkpoint ${path} is from another version; use --restart to start over`);
  }
  return s;
}

// ------------------------------------------------------------------------------------ the import

/** One page of source users after `cursor`, in (created_at, id) order. */
async function readPage(src, cursor, limit) {
  // The first page names created_at too (from the epoch), rather than an empty filter.
  const filter = cursor
    ? { created_at: { $gte: cursor.created_at }, $or: [{ created_at: { $gt: cursor.created_at } }, { id: { $gt: cursor.id } }] }
    : { created_at: { $gte: '1970-01-01T00:00:00Z' } };
  const payload = {
    filter_conditions: filter,
    sort: [{ field: 'created_at', direction: 1 }, { field: 'id', direction: 1 }],
    limit, offset: 0, presence: false, include_deactivated_users: true,
  };
  const body = await src.call('GET', '/users', { query: { payload } });
  if (!Array.isArray(body.users)) throw new Fatal(`source GET /users: no users array in ${JSON.stringify(body).slice(0, 200)}`);
  for (const u of body.users) {
    if (!u || typeof u.id !== 'string' || (typeof u.created_at !== 'string' && typeof u.created_at !== 'number')) {
      throw new Fatal(`source GET /users: a user without id or created_at: ${JSON.stringify(u).slice(0, 200)}`);
    }
    if (cursor && u.id === cursor.id && String(u.created_at) === String(cursor.created_at)) {
      throw new Fatal('the source ignored the cursor filter (it returned the last user again); cannot page through it');
    }
  }
  return body.users;
}

/** Sends `items` with `send`; a batch refused for its records is split in halves until each
 * refused record is alone, then `reject(item, error)`. Resolves the items written, in order. */
async function splitting(items, send, reject) {
  if (items.length === 0) return [];
  const r = await send(items);
  if (r.status >= 200 && r.status < 300) return items;
  const err = new ApiError('target', r.method, r.path, r.status, r.body, r.text);
  if (!isRecordError(r.status)) throw err;
  if (items.length === 1) {
    reject(items[0], err);
    return [];
  }
  const mid = Math.ceil(items.length / 2);
  const first = await splitting(items.slice(0, mid), send, reject);
  const second = await splitting(items.slice(mid), send, reject);
  return [...first, ...second];
}

/** A refused write as a rejection: the stage it failed at and Stream's error. */
const failure = (stage, err) => ({ stage, status: err.status, code: err.code, message: err.apiMessage });

/** Writes one page of prepared source users to the target: upserts now; what must wait until
 * a user is in the target (deactivating it, then its name; revoke_tokens_issued_before; the
 * data of a user deactivated on both sides) comes back as `pending` entries, which `finish`
 * sends in batches of 100 for many pages at once (each write costs the target a replication
 * round, so fewer, fuller requests are faster). Every step is idempotent: a page may be
 * replayed after a crash. */
async function writePage(dst, users, reject) {
  const ids = users.map((p) => p.id);
  // What the target holds already (deactivated users included): equal users are skipped, and a
  // user deactivated there cannot be upserted (Stream's rule), so it is handled apart.
  const found = await dst.call('GET', '/users', {
    query: { payload: { filter_conditions: { id: { $in: ids } }, limit: MAX_BATCH, presence: false, include_deactivated_users: true } },
  });
  const existing = new Map((found.users ?? []).map((u) => [u.id, prepare(u)]));

  let skipped = 0;
  const upserts = [];
  const pending = [];
  for (const p of users) {
    const t = existing.get(p.id);
    if (t && sameUser(p, t)) {
      skipped++;
    } else if (t?.deactivated && p.deactivated) {
      // Deactivated on both sides: a partial update replaces its data (no name is held).
      const { id, ...set } = p.fields;
      const unset = Object.keys(t.fields).filter((k) => k !== 'id' && !(k in p.fields));
      if (p.revoke !== null) set.revoke_tokens_issued_before = p.revoke;
      else if (t.revoke !== null) set.revoke_tokens_issued_before = null;
      pending.push({ id, raw: p.raw, deactivate: false, set, ...(unset.length ? { unset } : {}) });
    } else if (t?.deactivated) {
      const r = await dst.send('POST', `/users/${encodeURIComponent(p.id)}/reactivate`, { body: {} });
      if (r.status >= 200 && r.status < 300) upserts.push(p);
      else if (isRecordError(r.status)) reject(p.id, p.raw, failure('reactivate', new ApiError('target', r.method, r.path, r.status, r.body, r.text)));
      else throw new ApiError('target', r.method, r.path, r.status, r.body, r.text);
    } else {
      upserts.push(p);
    }
  }

  // A user deactivated in the source goes in without its name: deactivated users hold no name,
  // so its name is set once it is deactivated, and it can collide with nobody.
  const upserted = await splitting(upserts, (batch) => dst.send('POST', '/users', {
    body: {
      users: Object.fromEntries(batch.map((p) => {
        const fields = { ...p.fields };
        if (p.deactivated) delete fields.name;
        return [p.id, fields];
      })),
    },
  }), (p, err) => reject(p.id, p.raw, failure('upsert', err)));

  for (const p of upserted) {
    const set = {};
    if (p.deactivated && p.fields.name !== undefined) set.name = p.fields.name;
    if (p.revoke !== null) set.revoke_tokens_issued_before = p.revoke;
    if (p.deactivated || Object.keys(set).length) pending.push({ id: p.id, raw: p.raw, deactivate: p.deactivated, set });
  }
  return { skipped, pending, banned: users.filter((p) => p.banned).length };
}

/** Sends pending entries (from `writePage`): deactivations first (batch tasks), then the
 * partial updates, 100 at a time. */
async function finish(dst, pending, reject) {
  const failed = new Set();
  const toDeactivate = pending.filter((e) => e.deactivate);
  for (let i = 0; i < toDeactivate.length; i += MAX_BATCH) {
    const chunk = toDeactivate.slice(i, i + MAX_BATCH);
    const r = await dst.send('POST', '/users/deactivate', { body: { user_ids: chunk.map((e) => e.id) } });
    if (r.status < 200 || r.status > 299) throw new ApiError('target', r.method, r.path, r.status, r.body, r.text);
    let task;
    for (let n = 0; ; n++) {
      task = await dst.call('GET', `/tasks/${encodeURIComponent(r.body.task_id)}`);
      if (task.status === 'completed' || task.status === 'failed') break;
      if (n > 600) throw new Fatal(`target deactivation task ${r.body.task_id} did not finish`);
      await sleep(Math.min(50 * 2 ** n, 1000));
    }
    const done = new Set((task.result?.users ?? []).map((u) => u.id));
    const errors = task.result?.errors ?? {};
    for (const e of chunk) {
      if (done.has(e.id)) continue;
      failed.add(e.id);
      const message = `${errors[e.id] ?? task.error?.description ?? 'not deactivated'} (the user is in the target, not deactivated)`;
      reject(e.id, e.raw, { stage: 'deactivate', status: r.status, code: undefined, message });
    }
  }
  const patches = pending.filter((e) => !failed.has(e.id) && (Object.keys(e.set).length || e.unset));
  for (let i = 0; i < patches.length; i += MAX_BATCH) {
    const chunk = patches.slice(i, i + MAX_BATCH);
    await splitting(chunk, (batch) => dst.send('PATCH', '/users', {
      body: { users: batch.map((e) => ({ id: e.id, set: e.set, ...(e.unset ? { unset: e.unset } : {}) })) },
    }), (e, err) => {
      failed.add(e.id);
      reject(e.id, e.raw, failure('update', err));
    });
  }
  return failed;
}

function summaryText(s, run, o, elapsed, stopped) {
  const n = (x) => x.toLocaleString('en-US');
  const lines = [
    `${s.complete ? 'Import complete' : stopped ? 'Import stopped (run again to resume)' : 'Import incomplete'}: ${o.from} → ${o.to}`,
    `  read ${n(s.counts.read)}, written ${n(s.counts.written)}, skipped ${n(s.counts.skipped)} (already up to date), rejected ${n(s.counts.rejected)}`,
    `  this run: read ${n(run.read)} in ${elapsed.toFixed(1)} s (${n(Math.round(run.read / Math.max(elapsed, 0.001)))} users/s)`,
    `  enforce_unique_usernames on the target: ${s.unique_usernames ?? '(unchanged)'}`,
  ];
  if (s.banned_not_copied) lines.push(`  note: ${n(s.banned_not_copied)} banned or shadow-banned users were copied without their ban (Roster has no bans)`);
  if (s.rejected.length) {
    const reasons = new Map();
    for (const r of s.rejected) {
      const k = `code ${r.code ?? '?'} (${r.stage})`;
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
    lines.push(`  rejected by reason: ${[...reasons].map(([k, v]) => `${v} × ${k}`).join(', ')}`);
    lines.push(`  every rejected user, with its error and record: ${o.report}`);
  }
  return lines.join('\n');
}

async function main() {
  const o = options(process.argv.slice(2));
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.done;
  }
  if (!o.key || !o.secret) throw new Usage('--key and --secret (the source app\'s) are required; --help lists the options');
  const log = new Log({ progress: o.progress, json: o.json });
  const src = new Api('source', o.from, o.key, signJwt({ server: true }, o.secret), log);
  const creds = await targetCredentials(o);
  o.targetKey = creds.key;
  const dst = new Api('target', o.to, creds.key, creds.token, log);
  if (src.base === dst.base && src.key === dst.key) throw new Fatal('the source and the target are the same app');

  // Both sides answer, with these credentials, before anything is written.
  const srcApp = (await src.call('GET', '/app')).app ?? {};
  const dstApp = (await dst.call('GET', '/app')).app ?? {};

  const ckpt = checkpointPath(o);
  const state = loadState(ckpt, o);
  const save = () => {
    state.updated_at = new Date().toISOString();
    writeAtomic(ckpt, `${JSON.stringify(state, null, 1)}\n`);
  };
  if (state.cursor) log.note(`resuming after ${state.counts.read} users (${state.pages} pages) from ${ckpt}`);

  // The uniqueness mode goes first, so that users are checked against it as they arrive.
  const wanted = o.unique === 'source' ? srcApp.enforce_unique_usernames ?? 'no' : o.unique;
  if (o.unique !== 'keep' && dstApp.enforce_unique_usernames !== wanted) {
    await dst.call('PATCH', '/app', { body: { enforce_unique_usernames: wanted } });
  }
  state.unique_usernames = o.unique === 'keep' ? dstApp.enforce_unique_usernames ?? null : wanted;
  save();

  let stopRequested = false;
  const onSigint = () => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    log.note('stopping after this page (Ctrl-C again to quit at once; the page is replayed on resume)');
  };
  process.on('SIGINT', onSigint);

  const run = { read: 0, written: 0, skipped: 0, rejected: 0 };
  const started = Date.now();
  let pagesThisRun = 0;
  let stopped = false;
  state.complete = false;
  // A refused user: printed now, and kept (with the record as read) for the checkpoint and report.
  const rejectedNow = new Map();
  const reject = (id, raw, info) => {
    rejectedNow.set(id, { id, ...info, user: raw });
    log.out(`rejected ${id} (${info.stage}): ${info.code === undefined ? `HTTP ${info.status}` : `code ${info.code}`}: ${info.message}`);
  };
  const keepRejected = () => {
    const byId = new Map(state.rejected.map((r) => [r.id, r]));
    for (const [id, r] of rejectedNow) byId.set(id, r);
    state.rejected = [...byId.values()];
    const n = rejectedNow.size;
    rejectedNow.clear();
    return n;
  };
  // Follow-ups of users already written (see writePage), sent once 100 are waiting and at the end.
  const flush = async () => {
    if (!state.pending.length) return;
    await finish(dst, state.pending, reject);
    const n = keepRejected(); // users counted as written whose follow-up was refused
    state.counts.written -= n;
    state.counts.rejected += n;
    run.written -= n;
    run.rejected += n;
    state.pending = [];
  };

  // Pages are read one ahead of the writes.
  let next = readPage(src, state.cursor, o.pageSize);
  next.catch(() => {});
  for (;;) {
    const page = await next;
    if (page.length === 0) break;
    const last = page[page.length - 1];
    const cursor = { created_at: last.created_at, id: last.id };
    const more = page.length === o.pageSize;
    const stopAfter = stopRequested || pagesThisRun + 1 >= o.maxPages;
    if (more && !stopAfter) {
      next = readPage(src, cursor, o.pageSize);
      next.catch(() => {});
    }
    const result = await writePage(dst, page.map(prepare), reject);
    const refused = keepRejected();
    const add = { read: page.length, skipped: result.skipped, rejected: refused, written: page.length - result.skipped - refused };
    for (const [k, v] of Object.entries(add)) {
      state.counts[k] += v;
      run[k] += v;
    }
    state.banned_not_copied += result.banned;
    const pending = new Map(state.pending.map((e) => [e.id, e]));
    for (const e of result.pending) pending.set(e.id, e);
    state.pending = [...pending.values()];
    if (state.pending.length >= MAX_BATCH) await flush();
    state.cursor = cursor;
    state.pages++;
    pagesThisRun++;
    save();
    log.progress(run, state.counts);
    if (!more) break;
    if (stopRequested || pagesThisRun >= o.maxPages) {
      stopped = true;
      break;
    }
  }
  await flush();
  state.complete = !stopped;
  process.off('SIGINT', onSigint);
  save();
  log.progress(run, state.counts, true);

  const elapsed = (Date.now() - started) / 1000;
  const summary = {
    complete: state.complete,
    from: o.from, to: o.to,
    counts: state.counts, this_run: { ...run, seconds: Number(elapsed.toFixed(3)), pages: pagesThisRun },
    unique_usernames: state.unique_usernames,
    banned_not_copied: state.banned_not_copied,
    started_at: state.started_at, updated_at: state.updated_at,
    checkpoint: ckpt,
    requests: { source: src.requests, target: dst.requests },
    rejected: state.rejected,
  };
  writeAtomic(o.report, `${JSON.stringify(summary, null, 1)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, report: o.report })}\n`);
  else process.stdout.write(`${summaryText(state, run, o, elapsed, stopped)}\n`);
  if (!state.complete) return EXIT.stopped;
  return state.counts.rejected ? EXIT.rejected : EXIT.done;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`\nimport failed: ${e instanceof Fatal || e instanceof ApiError ? e.message : e.stack}\n`);
    if (e instanceof Usage) process.exit(EXIT.usage);
    process.stderr.write('Nothing written is lost: run the same command again to resume after the last page written.\n');
    process.exit(EXIT.fatal);
  },
);
