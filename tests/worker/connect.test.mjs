// Issue 5: client-side connectUser against the Worker's /connect WebSocket, with the official
// stream-chat SDK (user-side clients) and a raw `ws` client for the frames themselves.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import {
  UUID_V4, connectRefused, raw, rejectsWith, serverClient, signJwt, startWorker, uid, userClient,
  LIMIT,
} from './harness.mjs';

let w;
let server;
const open = new Set();

before(async () => {
  w = await startWorker();
  server = serverClient(w);
});
after(async () => {
  await Promise.all([...open].map((c) => c.disconnectUser().catch(() => {})));
  await w?.stop();
});

/** A user-side client, disconnected at the end of the file if a test leaves it open. */
function client() {
  const c = userClient(w);
  open.add(c);
  return c;
}

async function stored(id) {
  const res = await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { id }, include_deactivated_users: true } } });
  assert.equal(res.status, 200, res.text);
  return res.json.users[0];
}

/** Connects a user-side client and returns it with the `me` the SDK resolved with. */
async function connect(user, token = server.createToken(user.id)) {
  const c = client();
  const res = await c.connectUser(user, token);
  return { c, res };
}

/** A connectUser that must be refused; the SDK client is cleaned up. */
async function refused(user, token) {
  const c = client();
  try {
    return await connectRefused(c.connectUser(user, token));
  } finally {
    await c.disconnectUser();
    open.delete(c);
  }
}

/** A raw WebSocket to /connect. Resolves {ws, frames: async next(), closed: Promise<{code}>}. */
function rawSocket({ userId, details = { id: userId }, token = server.createToken(userId), params = {}, headers = {} }) {
  const q = new URLSearchParams({
    json: JSON.stringify({ user_id: userId, user_details: details, client_request_id: 'req-1' }),
    api_key: w.key,
    authorization: token,
    'stream-auth-type': 'jwt',
    ...params,
  });
  for (const [k, v] of Object.entries(params)) if (v === null) q.delete(k);
  const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`, { headers });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const frame = isBinary ? data : JSON.parse(data.toString());
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
    else queue.push(frame);
  });
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const next = (ms = 10_000) => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no frame within the timeout')), ms);
    waiters.push((f) => {
      clearTimeout(t);
      resolve(f);
    });
  }));
  ws.once('error', () => {});
  return { ws, next, closed };
}

describe('connectUser', () => {
  test('resolves with me; role from the client is ignored; connection_id is a UUID v4', LIMIT, async () => {
    const id = uid('ann');
    const { c, res } = await connect({ id, name: 'Ann', image: 'https://example.com/a.png', color: 'blue', role: 'admin' });
    assert.equal(res.type, 'health.check');
    assert.match(res.connection_id, UUID_V4);
    assert.equal(res.cid, '*');
    assert.match(res.created_at, /Z$/);
    const { me } = res;
    assert.equal(me.id, id);
    assert.equal(me.online, true);
    for (const k of ['devices', 'mutes', 'channel_mutes']) assert.ok(Array.isArray(me[k]), `me.${k} is an array`);
    assert.equal(me.role, 'user', "role: 'admin' from the client is ignored");
    assert.equal(me.name, 'Ann');
    assert.equal(me.color, 'blue');
    assert.match(me.last_active, /Z$/);
    assert.equal(c.user.id, id, 'the SDK took me as its user');
    assert.equal(c._getConnectionID(), res.connection_id);
    const s = await stored(id);
    assert.equal(s.role, 'user');
    assert.equal(s.color, 'blue');
    await c.disconnectUser();

    // A second connect with fewer fields removes nothing; the stored admin role is kept.
    await server.partialUpdateUser({ id, set: { role: 'admin' } });
    const again = await connect({ id, mood: 'happy', role: 'user' });
    assert.equal(again.res.me.color, 'blue');
    assert.equal(again.res.me.name, 'Ann');
    assert.equal(again.res.me.image, 'https://example.com/a.png');
    assert.equal(again.res.me.mood, 'happy');
    assert.equal(again.res.me.role, 'admin', 'connect never changes the role');
    assert.notEqual(again.res.connection_id, res.connection_id);
    assert.match(again.res.connection_id, UUID_V4);
    await again.c.disconnectUser();
    const s2 = await stored(id);
    assert.deepEqual([s2.color, s2.name, s2.mood, s2.role], ['blue', 'Ann', 'happy', 'admin']);
  });

  test('bad, expired, wrong-user and wrong-key tokens are refused with Stream codes', LIMIT, async () => {
    const id = uid('tok');
    await server.upsertUser({ id, name: 'Tok' });
    const before = await stored(id);
    const other = serverClient({ ...w, secret: 'not-the-secret' }); // the SDK signs with another secret
    let e = await refused({ id, name: 'Changed' }, other.createToken(id));
    assert.deepEqual([e.code, e.StatusCode], [43, 401], 'a bad signature is code 43');
    assert.match(e.message, /Connect failed with error: /);
    e = await refused({ id, name: 'Changed' }, server.createToken(id, Math.floor(Date.now() / 1000) - 60));
    assert.deepEqual([e.code, e.StatusCode], [40, 401]);
    e = await refused({ id, name: 'Changed' }, signJwt({ user_id: id }, '', { header: { alg: 'none', typ: 'JWT' }, signature: '' }));
    assert.deepEqual([e.code, e.StatusCode], [5, 401]);
    assert.deepEqual(await stored(id), before, 'a refused connect writes nothing');

    // The SDK checks the token's user itself, so the server-side check needs a raw socket.
    const victim = uid('victim');
    const s = rawSocket({ userId: victim, token: server.createToken(id) });
    const frame = await s.next();
    assert.equal(frame.type, 'connection.error');
    assert.equal(frame.error.StatusCode, 401);
    assert.equal((await s.closed).code, 1000);
    assert.equal(await stored(victim), undefined, 'no user was created');

    const bad = rawSocket({ userId: id, params: { api_key: 'nope' } });
    const f2 = await bad.next();
    assert.deepEqual([f2.type, f2.error.code, f2.error.StatusCode], ['connection.error', 2, 401]);
    assert.equal((await bad.closed).code, 1000);
  });

  test('reserved fields, oversized data and team changes are refused', LIMIT, async () => {
    const id = uid('rsv');
    let e = await refused({ id, created_at: 'helloworld' }, server.createToken(id));
    assert.equal(e.StatusCode, 400);
    e = await refused({ id, a: 'x'.repeat(3072), b: 'x'.repeat(3072) }, server.createToken(id));
    assert.deepEqual([e.code, e.StatusCode], [22, 413]);
    e = await refused({ id, teams: ['red'] }, server.createToken(id));
    assert.ok(e.StatusCode >= 400 && e.StatusCode < 500, `teams at connect: ${e.message}`);
    assert.equal(await stored(id), undefined, 'nothing was created');
    await server.upsertUser({ id, teams: ['alpha', 'bravo'] });
    const ok = await connect({ id, teams: ['bravo', 'alpha'] });
    assert.deepEqual(ok.res.me.teams, ['alpha', 'bravo'], 'the same teams in another order are fine');
    await ok.c.disconnectUser();
  });

  test('a deactivated user is refused with "was deactivated"', LIMIT, async () => {
    const id = uid('gone');
    await server.upsertUser({ id, name: 'Gone' });
    await server.deactivateUser(id);
    const e = await refused({ id }, server.createToken(id));
    assert.match(e.message, /was deactivated/);
    assert.deepEqual([e.code, e.StatusCode], [16, 404]);
  });

  test('unique usernames apply to connect', LIMIT, async () => {
    const name = `Unique ${uid('n')}`;
    await server.updateAppSettings({ enforce_unique_usernames: 'app' });
    try {
      await server.upsertUser({ id: uid('holder'), name });
      const id = uid('late');
      const e = await refused({ id, name: name.toLowerCase() }, server.createToken(id));
      assert.equal(e.code, 6);
      assert.match(e.message, new RegExp(`username '${name.toLowerCase()}' already exists`));
      assert.equal(await stored(id), undefined);
    } finally {
      await server.updateAppSettings({ enforce_unique_usernames: 'no' });
    }
  });

  test('roster_connect_fill_only: a reconnect with a stale profile does not roll back a server update', LIMIT, async () => {
    const id = uid('fill');
    const profile = { id, name: 'Old Name', color: 'red' };
    await (await connect(profile)).c.disconnectUser();
    await server.partialUpdateUser({ id, set: { name: 'New Name', color: 'blue' } });
    // Off (Stream's merge): the stale profile is written back.
    let { c } = await connect(profile);
    await c.disconnectUser();
    assert.deepEqual([(await stored(id)).name, (await stored(id)).color], ['Old Name', 'red']);
    await server.partialUpdateUser({ id, set: { name: 'New Name', color: 'blue' } });
    await server.updateAppSettings({ roster_connect_fill_only: true });
    try {
      assert.equal((await server.getAppSettings()).app.roster_connect_fill_only, true);
      let res;
      ({ c, res } = await connect({ ...profile, mood: 'fine' }));
      assert.equal(res.me.name, 'New Name', 'me shows the stored value');
      await c.disconnectUser();
      const after = await stored(id);
      assert.deepEqual([after.name, after.color, after.mood], ['New Name', 'blue', 'fine'], 'only the missing field is filled');
      await rejectsWith(server.updateAppSettings({ roster_connect_fill_only: 'yes' }), { status: 400, code: 4 });
    } finally {
      await server.updateAppSettings({ roster_connect_fill_only: false });
    }
  });

  test('a code-6 refusal quoting a long non-ASCII name reaches the client (close reason cut to 123 bytes)', LIMIT, async () => {
    // Quoted in "username '…' already exists": 97 characters, 157 bytes of UTF-8, and byte 123
    // falls inside a two-byte 'Ж'.
    const name = `${'ж'.repeat(60)} ${uid('n')}`;
    const taken = name.toUpperCase();
    await server.updateAppSettings({ enforce_unique_usernames: 'app' });
    try {
      await server.upsertUser({ id: uid('holder'), name });
      const id = uid('long');
      const e = await refused({ id, name: taken }, server.createToken(id));
      assert.deepEqual([e.code, e.StatusCode], [6, 400]);
      assert.ok(e.message.includes(`username '${taken}' already exists`), e.message);

      const s = rawSocket({ userId: id, details: { id, name: taken } });
      const frame = await s.next();
      assert.deepEqual([frame.type, frame.error.code], ['connection.error', 6]);
      const { code, reason } = await s.closed;
      assert.equal(code, 1000);
      const bytes = Buffer.byteLength(reason);
      assert.equal(bytes, 122, `reason of ${bytes} bytes: ${reason}`);
      assert.ok(frame.error.message.includes(reason), `the reason is a prefix of the error, cut between characters: ${reason}`);
      assert.equal(await stored(id), undefined);
    } finally {
      await server.updateAppSettings({ enforce_unique_usernames: 'no' });
    }
  });
});

describe('REST with the connected client (user token)', () => {
  test('may update itself, not its role, not another user; disconnect is clean', LIMIT, async () => {
    const id = uid('me');
    const other = uid('other');
    await server.upsertUser({ id: other, name: 'Other', keep: 1 });
    const { c } = await connect({ id, name: 'Me' });
    const ok = await c.partialUpdateUser({ id, set: { mood: 'fine', 'nested.a': 1 }, unset: ['name'] });
    assert.equal(ok.users[id].mood, 'fine');
    assert.deepEqual(ok.users[id].nested, { a: 1 });
    assert.equal(ok.users[id].name, undefined);
    const mine = await stored(id);
    await rejectsWith(c.partialUpdateUser({ id, set: { role: 'admin' } }), {
      status: 403, code: 17, message: /^StreamChat error code 17: UpdateUsersPartial failed with error: /,
    });
    await rejectsWith(c.partialUpdateUser({ id, set: { role: 'user' } }), { status: 403, code: 17 });
    await rejectsWith(c.upsertUser({ id, role: 'admin' }), { status: 403, code: 17 });
    const theirs = await stored(other);
    await rejectsWith(c.partialUpdateUser({ id: other, set: { keep: 2 } }), { status: 403, code: 17 });
    await rejectsWith(c.upsertUser({ id: other, name: 'Pwned' }), { status: 403, code: 17 });
    await rejectsWith(c.deactivateUser(other), { status: 403, code: 17 });
    assert.deepEqual(await stored(id), mine);
    assert.deepEqual(await stored(other), theirs);

    // The SDK closes with 1000 and resolves on the server's close frame, or after 1 s without one;
    // `ws` reports the code of the server's close frame, or 1006 if the server never sends one.
    // The SDK removes every listener of its socket before closing it, so the close is observed
    // where `ws` emits it.
    const { ws } = c.wsConnection;
    const closed = new Promise((resolve) => {
      const emit = ws.emit.bind(ws);
      ws.emit = (event, ...args) => {
        if (event === 'close') resolve(args[0]);
        return emit(event, ...args);
      };
    });
    await c.disconnectUser();
    assert.equal(await closed, 1000, 'the server answered the close handshake');
    assert.equal(ws.readyState, ws.CLOSED);
    assert.equal(c.wsConnection.isDisconnected, true);
    assert.equal(c.userID, undefined);
  });
});

describe('the /connect WebSocket', () => {
  test('answers health.check pings on the same connection and closes cleanly', LIMIT, async () => {
    const id = uid('ping');
    const s = rawSocket({ userId: id, details: { id, name: 'Ping' } });
    const first = await s.next();
    assert.equal(first.type, 'health.check');
    assert.match(first.connection_id, UUID_V4);
    assert.equal(first.me.id, id);
    assert.equal(first.me.online, true);
    for (let i = 0; i < 2; i++) {
      s.ws.send(JSON.stringify([{ type: 'health.check', client_id: 'x' }]));
      const pong = await s.next();
      assert.equal(pong.type, 'health.check');
      assert.equal(pong.connection_id, first.connection_id);
      assert.match(pong.created_at, /Z$/);
    }
    s.ws.close(1000);
    assert.equal((await s.closed).code, 1000);
  });

  test('auth may come as headers instead of query parameters', LIMIT, async () => {
    const id = uid('hdr');
    const s = rawSocket({
      userId: id,
      params: { authorization: null, 'stream-auth-type': null },
      headers: { Authorization: server.createToken(id), 'Stream-Auth-Type': 'jwt' },
    });
    const first = await s.next();
    assert.equal(first.type, 'health.check', JSON.stringify(first));
    assert.equal(first.me.id, id);
    s.ws.close(1000);
    await s.closed;
  });

  test('an error is one connection.error frame with Stream fields, then close 1000', LIMIT, async () => {
    const id = uid('err');
    const s = rawSocket({ userId: id, token: signJwt({ user_id: id }, 'wrong') });
    const frame = await s.next();
    assert.equal(frame.type, 'connection.error');
    for (const k of ['code', 'message', 'StatusCode', 'more_info', 'details']) assert.ok(k in frame.error, `error.${k}`);
    assert.equal(frame.error.StatusCode, 401);
    assert.match(frame.error.message, /^Connect failed with error: "/);
    assert.equal((await s.closed).code, 1000);
  });
});
