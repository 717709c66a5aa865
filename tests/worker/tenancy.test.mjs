// Tenant isolation and client permissions (issue 15) through the Worker, with the stream-chat
// SDK client-side (connectUser, then queries and writes with the user's token) and server-side.
// Two tenants hold same-named users; a user of team A probes team B every way the API allows.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { LIMIT, connectRefused, fileServer, rejectsWith, userClient } from './harness.mjs';

let w;
let server;
const { connected } = fileServer(async (started) => {
  ({ w, server } = started);
  await server.updateAppSettings({
    multi_tenant_enabled: true,
    user_search_disallowed_roles: ['guest'],
    roster_server_only_fields: ['verified', 'billing.tier'],
    roster_hidden_fields: ['secret'],
  });
  await server.upsertUsers([
    { id: 'a1', name: 'Ann', teams: ['A'], verified: true, billing: { tier: 'pro' } },
    { id: 'a2', name: 'Bob', teams: ['A'], secret: 'a2-secret' },
    { id: 'b1', name: 'Ann', teams: ['B'], secret: 'b1-secret' },
    { id: 'b2', name: 'Cy', teams: ['B'] },
    { id: 'g1', name: 'Guest', teams: ['A'], role: 'guest' },
    { id: 'n1', name: 'Nomad' },
  ]);
});

const idsOf = (res) => res.users.map((u) => u.id).sort();

describe('multi-tenant queries', () => {
  test('a user of team A sees team A only, whatever it asks', LIMIT, async () => {
    const c = await connected('a1', { id: 'a1', name: 'Ann' });
    assert.deepEqual(idsOf(await c.queryUsers({})), ['a1', 'a2', 'g1'], 'no teams clause: the caller\'s teams');
    for (const probe of [
      { id: 'b1' }, { id: { $in: ['b1', 'b2', 'a2'] } }, { name: 'Ann' }, { name: { $autocomplete: 'an' } },
      { $or: [{ id: 'b1' }, { name: 'Cy' }] }, { $nor: [{ id: 'a1' }] }, { teams: null }, { id: { $gt: 'a' } },
    ]) {
      const seen = idsOf(await c.queryUsers(probe, {}, { limit: 100 }));
      assert.ok(seen.every((id) => ['a1', 'a2', 'g1'].includes(id)), `${JSON.stringify(probe)} showed ${seen}`);
    }
    for (const probe of [{ teams: 'B' }, { teams: { $in: ['A', 'B'] } }, { $or: [{ teams: 'B' }, { id: 'a1' }] },
      { $nor: [{ teams: { $ne: 'B' } }] }]) {
      await rejectsWith(c.queryUsers(probe), { status: 403, code: 17, message: /not allowed to query users of team 'B'/ });
    }
    const seen = new Set();
    for (let offset = 0; offset < 8; offset++) {
      for (const u of (await c.queryUsers({}, { name: -1 }, { limit: 1, offset })).users) seen.add(u.id);
    }
    assert.deepEqual([...seen].sort(), ['a1', 'a2', 'g1'], 'paging one by one through every offset');
  });

  test('connect with another tenant\'s id is refused; the server sees everyone', LIMIT, async () => {
    // The SDK itself refuses a token of another user, so the socket is opened by hand.
    const q = new URLSearchParams({
      json: JSON.stringify({ user_id: 'b1', user_details: { id: 'b1', name: 'Taken over' } }),
      api_key: w.key, authorization: server.createToken('a1'), 'stream-auth-type': 'jwt',
    });
    const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`);
    const frame = await new Promise((resolve, reject) => {
      ws.once('message', (data) => resolve(JSON.parse(data.toString())));
      ws.once('error', reject);
    });
    ws.close();
    assert.equal(frame.type, 'connection.error');
    assert.equal(frame.error.StatusCode, 401);
    assert.equal((await server.queryUsers({ id: 'b1' })).users[0].name, 'Ann', 'b1 is untouched');
    assert.deepEqual(idsOf(await server.queryUsers({}, {}, { limit: 100 })), ['a1', 'a2', 'b1', 'b2', 'g1', 'n1']);
    const nomad = await connected('n1', { id: 'n1' });
    assert.deepEqual(idsOf(await nomad.queryUsers({})), ['n1'], 'a user without teams sees only team-less users');
  });

  test('user_search_disallowed_roles refuses a guest\'s queries', LIMIT, async () => {
    const g = await connected('g1');
    await rejectsWith(g.queryUsers({}), { status: 403, code: 17, message: /with role 'guest' is not allowed/ });
  });
});

describe('server-only and hidden fields', () => {
  test('a user token cannot set or unset a server-only field by any write path', LIMIT, async () => {
    const c = await connected('a1', { id: 'a1', name: 'Ann' });
    await rejectsWith(c.partialUpdateUser({ id: 'a1', set: { verified: false } }), { status: 403, code: 17, message: /field 'verified'/ });
    await rejectsWith(c.partialUpdateUser({ id: 'a1', unset: ['billing'] }), { status: 403, code: 17, message: /field 'billing.tier'/ });
    await rejectsWith(c.upsertUser({ id: 'a1', name: 'Ann', verified: false }), { status: 403, code: 17 });
    await c.upsertUser({ id: 'a1', name: 'Ann', teams: ['A'], color: 'red' });
    const [stored] = (await server.queryUsers({ id: 'a1' })).users;
    assert.equal(stored.color, 'red');
    assert.equal(stored.verified, true, 'omitted by the upsert, kept');
    assert.deepEqual(stored.billing, { tier: 'pro' });
    const again = userClient(w); // refused: its socket is closed by the server
    const refused = await connectRefused(again.connectUser({ id: 'a1', verified: false }, server.createToken('a1')));
    assert.equal(refused.code, 17);
    await server.partialUpdateUser({ id: 'a1', set: { verified: false } });
    assert.equal((await server.queryUsers({ id: 'a1' })).users[0].verified, false, 'the server writes them');
  });

  test('hidden fields never reach a user token and cannot be searched by one', LIMIT, async () => {
    const c = await connected('a1', { id: 'a1', name: 'Ann' });
    const [a2] = (await c.queryUsers({ id: 'a2' })).users;
    assert.equal(a2.name, 'Bob');
    assert.equal(a2.secret, undefined);
    await rejectsWith(c.queryUsers({ secret: 'a2-secret' }), { status: 403, code: 17 });
    await rejectsWith(c.queryUsers({}, { secret: 1 }), { status: 403, code: 17 });
    assert.equal((await server.queryUsers({ secret: 'a2-secret' })).users[0].id, 'a2', 'the server sees and searches them');
  });
});
