// Raw WebSocket connections to a Worker started by the harness, speaking the JS SDK's protocol,
// watching users through them, and the hubs' test switches: what tests/worker/hubs.test.mjs,
// layout.test.mjs and bench/hubs.mjs share. Raw `ws` connections, not the SDK's: the SDK
// reconnects on its own after a close, which would blur what a hub crash or a restart does.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { hook, raw, signJwt } from './harness.mjs';

/** Polls `read()` until `ok(value)` (bounded: `ms`, 60 s unless told); the value. */
export async function until(read, ok, what, ms = 60_000) {
  let value;
  for (const end = Date.now() + ms; ;) {
    value = await read();
    if (ok(value)) return value;
    if (Date.now() > end) break;
    await sleep(100);
  }
  assert.fail(`never ${what}: ${JSON.stringify(value).slice(0, 500)}`);
}

/**
 * A raw connection of `id` to `w` (its `user_details` unchanged from what was stored when
 * `details` is `{id}` plus the stored fields). `frames` keeps every frame; `next(match)` resolves
 * the first unread one that matches (bounded: 30 s); `hello` is the first frame. `headers` go
 * with the upgrade (`x-roster-test-hubs` asks a test build for another hub layout).
 */
export function open(w, id, details = { id }, headers = {}) {
  const q = new URLSearchParams({
    json: JSON.stringify({ user_id: id, user_details: details }),
    api_key: w.key, authorization: signJwt({ user_id: id }, w.secret), 'stream-auth-type': 'jwt',
  });
  const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`, { headers });
  const frames = [];
  const waiters = [];
  let read = 0;
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()));
    for (const check of [...waiters]) check();
  });
  const next = (match) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id}: no such frame within 30 s`)), 30_000);
    const check = () => {
      const i = frames.findIndex((f, k) => k >= read && match(f));
      if (i < 0) return false;
      read = i + 1;
      clearTimeout(timer);
      waiters.splice(waiters.indexOf(check), 1);
      resolve(frames[i]);
      return true;
    };
    waiters.push(check);
    check();
  });
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  const hello = next(() => true);
  return { id, ws, frames, next, hello, closed };
}

/**
 * Stores each user with the name `Name <id>` (100 per upsert), so that a connect with
 * `{id, name: 'Name <id>'}` changes nothing stored.
 */
export async function storeNamed(server, ids) {
  for (let i = 0; i < ids.length; i += 100) {
    await server.upsertUsers(ids.slice(i, i + 100).map((id) => ({ id, name: `Name ${id}` })));
  }
}

/** `conn` (from `open`) watches `ids` through a `presence: true` query on its connection; the users found. */
export async function watch(w, conn, ids) {
  const hello = await conn.hello;
  const q = await raw(w, 'GET', '/users', {
    token: signJwt({ user_id: conn.id }, w.secret),
    query: { payload: { filter_conditions: { id: { $in: ids } }, presence: true, limit: 100 }, connection_id: hello.connection_id },
  });
  assert.equal(q.status, 200, q.text);
  return q.json.users;
}

/** Every hub's state (test hook), or one hub's after a switch (`what`: hold, release, crash, restart). */
export async function hubStates(w, what = 'state', hub = null) {
  return (await hook(w, 'hubs', JSON.stringify({ hub, what }))).hubs;
}

/** The hubs holding a user's connections (from the hubs' own state). */
export async function hubsOf(w, id) {
  return (await hubStates(w)).filter((h) => h.users.includes(id)).map((h) => h.hub);
}

export const isPresence = (f) => f.type === 'user.presence.changed';

/** The number of sockets the Writer counts over every hub in a stats answer. */
export const sockets = (s) => s.hubs.reduce((n, h) => n + h.sockets, 0);
