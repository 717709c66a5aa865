// Real time (issue 17): the connection hubs hold every /connect socket (hibernation API); each
// committed user change goes as Stream's events to the user's own connections (with `me`) and to the
// connections watching it through a `presence: true` query; presence; custom events; signed
// webhooks with retries. Driven by the stream-chat SDK's real connections and a local receiver.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import { LIMIT, assertEnvelope, fileServer, hook, raw, rejectsWith, signJwt } from './harness.mjs';

let w;
let server;
const { connected } = fileServer((started) => ({ w, server } = started));

/** The next event of this type on a client (bounded: 15 s). */
function nextEvent(client, type) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event within 15 s`)), 15_000);
    const sub = client.on(type, (event) => {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(event);
    });
  });
}

describe('user events on the connection', () => {
  test('a rename by the server reaches the user (client.user too) and its watchers, and nobody else', LIMIT, async () => {
    const a = await connected('ev-a', { id: 'ev-a', name: 'A' });
    const b = await connected('ev-b', { id: 'ev-b', name: 'B' });
    const c = await connected('ev-c', { id: 'ev-c', name: 'C' });
    const watched = await b.queryUsers({ id: 'ev-a' }, {}, { presence: true });
    assert.equal(watched.users[0].online, true, 'ev-a is connected');
    const toA = nextEvent(a, 'user.updated');
    const toB = nextEvent(b, 'user.updated');
    const toC = nextEvent(c, 'user.updated');
    await server.partialUpdateUser({ id: 'ev-a', set: { name: 'Renamed A', mood: 'new' } });
    const [ea, eb] = await Promise.all([toA, toB]);
    assert.equal(ea.user.name, 'Renamed A');
    assert.equal(ea.me.name, 'Renamed A', 'the user\'s own connections get me');
    assert.equal(a.user.name, 'Renamed A', 'client.user follows without reconnecting');
    assert.equal(a.user.mood, 'new');
    assert.equal(eb.user.name, 'Renamed A');
    assert.equal(eb.me, undefined, 'a watcher gets no me');
    // ev-c watches nobody: the first event it gets is the custom one sent after the rename.
    const first = Promise.race([toC.then((e) => e.type), nextEvent(c, 'ping_after').then((e) => e.type)]);
    await server.sendUserCustomEvent('ev-c', { type: 'ping_after' });
    assert.equal(await first, 'ping_after');
  });

  test('deactivation and reactivation are events too', LIMIT, async () => {
    await server.upsertUser({ id: 'ev-d', name: 'D' });
    const b = await connected('ev-watcher');
    await b.queryUsers({ id: 'ev-d' }, {}, { presence: true });
    const off = nextEvent(b, 'user.deactivated');
    await server.deactivateUser('ev-d');
    assert.equal((await off).user.id, 'ev-d');
    const on = nextEvent(b, 'user.reactivated');
    await server.reactivateUser('ev-d');
    assert.equal((await on).user.id, 'ev-d');
  });
});

describe('presence', () => {
  test('online while connected, user.presence.changed to watchers, last_active kept on the way out', LIMIT, async () => {
    await server.upsertUser({ id: 'ev-p', name: 'P' });
    const b = await connected('ev-pw');
    const before = await b.queryUsers({ id: 'ev-p' }, {}, { presence: true });
    assert.equal(before.users[0].online, false);
    const on = nextEvent(b, 'user.presence.changed');
    const p = await connected('ev-p');
    const eOn = await on;
    assert.deepEqual([eOn.user.id, eOn.user.online], ['ev-p', true]);
    assert.equal((await server.queryUsers({ id: 'ev-p' })).users[0].online, true);
    const off = nextEvent(b, 'user.presence.changed');
    await p.disconnectUser();
    const eOff = await off;
    assert.deepEqual([eOff.user.id, eOff.user.online], ['ev-p', false]);
    const [stored] = (await server.queryUsers({ id: 'ev-p' })).users;
    assert.equal(stored.online, false);
    assert.ok(stored.last_active >= eOn.created_at, `last_active ${stored.last_active} kept when it went offline`);
  });
});

describe('presence limits', () => {
  test('an unclean drop takes the user offline; a connection watches at most 1,000 users', LIMIT, async () => {
    await server.upsertUser({ id: 'ev-drop' });
    const watcher = await connected('ev-dw');
    await watcher.queryUsers({ id: 'ev-drop' }, {}, { presence: true });
    const on = nextEvent(watcher, 'user.presence.changed');
    const q = new URLSearchParams({
      json: JSON.stringify({ user_id: 'ev-drop', user_details: { id: 'ev-drop' } }),
      api_key: w.key, authorization: server.createToken('ev-drop'), 'stream-auth-type': 'jwt',
    });
    const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`);
    await new Promise((resolve, reject) => {
      ws.once('message', resolve);
      ws.once('error', reject);
    });
    assert.equal((await on).user.online, true);
    const off = nextEvent(watcher, 'user.presence.changed');
    ws.terminate(); // no close frame: the TCP connection just ends
    assert.equal((await off).user.online, false);

    const ids = Array.from({ length: 1001 }, (_, i) => `ev-many-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < ids.length; i += 100) await server.upsertUsers(ids.slice(i, i + 100).map((id) => ({ id })));
    const many = await connected('ev-many-watcher');
    for (let offset = 0; offset < 1000; offset += 100) {
      await many.queryUsers({ id: { $in: ids.slice(offset, offset + 100) } }, {}, { presence: true, limit: 100 });
    }
    await rejectsWith(many.queryUsers({ id: ids[1000] }, {}, { presence: true }), { status: 400, code: 4, message: /at most 1000 users/ });
    assert.equal((await many.queryUsers({ id: ids[1000] })).users.length, 1, 'without presence the query works');
  });
});

describe('custom events', () => {
  test('sendUserCustomEvent reaches the user\'s connections; bad input is refused', LIMIT, async () => {
    const a = await connected('ev-x');
    const got = nextEvent(a, 'friendship_request');
    await server.sendUserCustomEvent('ev-x', { type: 'friendship_request', text: 'hi' });
    assert.equal((await got).text, 'hi');
    await rejectsWith(server.sendUserCustomEvent('ev-nobody', { type: 't' }), { status: 404, code: 16 });
    await rejectsWith(server.sendUserCustomEvent('ev-x', { type: 't', blob: 'x'.repeat(6000) }), { status: 413, code: 22 });
    await rejectsWith(server.sendUserCustomEvent('ev-x', { text: 'no type' }), { status: 400, code: 4 });
    const token = signJwt({ user_id: 'ev-x' }, w.secret);
    assertEnvelope(await raw(w, 'POST', '/users/ev-x/event', { token, body: { event: { type: 't' } } }), 403, 17);
  });
});

describe('webhooks', () => {
  test('each event is POSTed signed, in order per user, and retried until the receiver takes it', LIMIT, async () => {
    const got = [];
    let failNext = 2;
    const receiver = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), failed: failNext > 0 });
        res.writeHead(failNext-- > 0 ? 503 : 200).end();
      });
    });
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      await rejectsWith(server.updateAppSettings({ webhook_url: 'ftp://127.0.0.1/hook' }), { status: 400, code: 4 });
      await server.updateAppSettings({ webhook_url: `http://127.0.0.1:${receiver.address().port}/hook` });
      await server.upsertUser({ id: 'ev-h', n: 1 });
      await server.partialUpdateUser({ id: 'ev-h', set: { n: 2 } });
      for (let i = 0; i < 100 && got.filter((g) => !g.failed).length < 2; i++) {
        await hook(w, 'drain', '');
        await new Promise((r) => setTimeout(r, 100));
      }
      const delivered = got.filter((g) => !g.failed);
      assert.equal(delivered.length, 2, `two events delivered: ${JSON.stringify(got.map((g) => g.headers['x-webhook-attempt']))}`);
      assert.deepEqual(delivered.map((g) => JSON.parse(g.body).user.n), [1, 2], 'in order for the user');
      const first = got.filter((g) => g.headers['x-webhook-id'] === got[0].headers['x-webhook-id']);
      assert.deepEqual(first.map((g) => g.headers['x-webhook-attempt']), ['1', '2', '3'], 'one delivery id, attempts counted');
      for (const g of got) {
        assert.equal(server.verifyWebhook(g.body, g.headers['x-signature']), true, 'the SDK accepts the signature');
        assert.equal(g.headers['x-api-key'], w.key);
        assert.match(g.headers['x-webhook-timestamp'], /^\d+$/);
        assert.equal(JSON.parse(g.body).type, 'user.updated');
      }
      assert.equal((await hook(w, 'outbox')).webhooks_pending, 0);
    } finally {
      await server.updateAppSettings({ webhook_url: '' });
      receiver.close();
    }
  });
});

describe('webhooks: a receiver that hangs', () => {
  test('a delivery without an answer within 10 s is retried; writes never wait for it', LIMIT, async () => {
    const got = [];
    let hang = true;
    const receiver = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push(req.headers['x-webhook-attempt']);
        if (hang) {
          hang = false; // the first request is never answered
          return;
        }
        res.writeHead(200).end();
      });
    });
    await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      await server.updateAppSettings({ webhook_url: `http://127.0.0.1:${receiver.address().port}/hook` });
      await server.upsertUser({ id: 'ev-hang' });
      await server.partialUpdateUser({ id: 'ev-hang', set: { n: 1 } }); // answered while the receiver hangs
      for (let i = 0; i < 200 && (await hook(w, 'outbox')).webhooks_pending > 0; i++) {
        await hook(w, 'drain', '');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal((await hook(w, 'outbox')).webhooks_pending, 0, `delivered: attempts ${got}`);
      assert.deepEqual(got.slice(0, 2), ['1', '2'], 'the hung attempt counted as failed and was retried');
    } finally {
      await server.updateAppSettings({ webhook_url: '' });
      receiver.closeAllConnections();
      receiver.close();
    }
  });
});

describe('missed pings (last: it drops every silent connection of this server)', () => {
  // The client's socket reports the server's close only when its TCP connection ends, which
  // `ws` waits up to 30 s for after a server-initiated close: this test gets 90 s, not 60.
  test('a connection that stops pinging is closed and its user goes offline', { timeout: 90_000 }, async () => {
    await hook(w, 'ping-timeout', '4000');
    const sockets = [];
    try {
      await server.upsertUsers([{ id: 'ev-silent' }, { id: 'ev-sw' }]);
      const frames = (ws) => {
        const queue = [];
        const waiters = [];
        ws.on('message', (d) => {
          const f = JSON.parse(d.toString());
          const waiter = waiters.shift();
          if (waiter) waiter(f);
          else queue.push(f);
        });
        return (match) => new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no such frame within 30 s')), 30_000);
          const take = (f) => {
            if (match(f)) {
              clearTimeout(timer);
              resolve(f);
            } else waiters.push(take);
          };
          const queued = queue.findIndex(match);
          if (queued >= 0) {
            clearTimeout(timer);
            resolve(queue.splice(queued, 1)[0]);
          } else waiters.push(take);
        });
      };
      const open = (id) => {
        const q = new URLSearchParams({
          json: JSON.stringify({ user_id: id, user_details: { id } }),
          api_key: w.key, authorization: server.createToken(id), 'stream-auth-type': 'jwt',
        });
        const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`);
        sockets.push(ws);
        return { ws, next: frames(ws) };
      };
      // The watcher pings every 200 ms (20 pings per timeout: a busy machine does not make it miss
      // one long enough); the silent connection never does.
      const watcher = open('ev-sw');
      const hello = await watcher.next((f) => f.type === 'health.check');
      const pinger = setInterval(() => watcher.ws.send(JSON.stringify([{ type: 'health.check' }])), 200);
      try {
        const token = signJwt({ user_id: 'ev-sw' }, w.secret);
        const payload = { filter_conditions: { id: 'ev-silent' }, presence: true };
        const q = await raw(w, 'GET', '/users', { token, query: { payload, connection_id: hello.connection_id } });
        assert.equal(q.status, 200, q.text);
        const silent = open('ev-silent');
        const closed = new Promise((r) => silent.ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
        const on = await watcher.next((f) => f.type === 'user.presence.changed' && f.user.id === 'ev-silent');
        assert.equal(on.user.online, true);
        const off = await watcher.next((f) => f.type === 'user.presence.changed' && f.user.id === 'ev-silent' && !f.user.online);
        assert.equal(off.user.online, false);
        assert.deepEqual(await closed, { code: 1000, reason: 'missed pings' });
      } finally {
        clearInterval(pinger);
      }
    } finally {
      for (const ws of sockets) ws.terminate();
      await hook(w, 'ping-timeout', '75000');
    }
  });
});
