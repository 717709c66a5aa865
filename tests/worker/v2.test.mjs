// Stream's current server API (`/api/v2`, issue 16) with `@stream-io/node-sdk` 0.7.64 as the client,
// next to the legacy stream-chat SDK on the same server: custom data nested in `custom`, one user
// stored once and read the same through both API versions.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamClient } from '@stream-io/node-sdk';
import { LIMIT, assertEnvelope, raw, serverClient, signJwt, startWorker } from './harness.mjs';

let w;
let v2;
let v1;
before(async () => {
  w = await startWorker();
  v2 = new StreamClient(w.key, w.secret, { basePath: w.baseURL, timeout: 20_000 });
  v1 = serverClient(w);
});
after(() => w?.stop());

/** Awaits a node-SDK call that must fail with this Stream code; returns the error. */
async function failsWith(promise, code, message) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected code ${code}`);
  assert.equal(error.code, code, error.message);
  if (message) assert.match(error.message, message);
  return error;
}

describe('/api/v2 users', () => {
  test('upsert nests custom data; the same user reads the same through both API versions', LIMIT, async () => {
    const res = await v2.upsertUsers([{ id: 'v2-ann', name: 'Ann', teams: ['red'], custom: { color: 'blue', deep: { x: 1.5 } } }]);
    const ann = res.users['v2-ann'];
    assert.equal(ann.name, 'Ann');
    assert.deepEqual(ann.custom, { color: 'blue', deep: { x: 1.5 } });
    assert.equal(ann.color, undefined, 'custom fields are not at the top');
    assert.ok(ann.created_at instanceof Date, 'the SDK decodes created_at');
    const [legacy] = (await v1.queryUsers({ id: 'v2-ann' })).users;
    assert.equal(legacy.color, 'blue', 'stream-chat sees the same data spread at the top');
    assert.deepEqual(legacy.deep, { x: 1.5 });

    await v1.upsertUser({ id: 'v1-bob', name: 'Bob', mood: 'fine' });
    const { users } = await v2.queryUsers({ payload: { filter_conditions: { id: { $in: ['v1-bob', 'v2-ann'] } }, sort: [{ field: 'id', direction: 1 }] } });
    assert.deepEqual(users.map((u) => u.id), ['v1-bob', 'v2-ann']);
    assert.deepEqual(users[0].custom, { mood: 'fine' });
  });

  test('partial updates address custom data as custom.x or x alike', LIMIT, async () => {
    await v2.upsertUsers([{ id: 'v2-cy', name: 'Cy', custom: { color: 'blue', deep: { x: 1 }, keep: true } }]);
    const r = await v2.updateUsersPartial({ users: [{ id: 'v2-cy', set: { 'custom.color': 'red', name: 'Cy B', 'custom.deep.y': 2 }, unset: ['custom.keep'] }] });
    assert.deepEqual(r.users['v2-cy'].custom, { color: 'red', deep: { x: 1, y: 2 } });
    assert.equal(r.users['v2-cy'].name, 'Cy B');
    const r2 = await v2.updateUsersPartial({ users: [{ id: 'v2-cy', set: { color: 'green', custom: { size: 3 } } }] });
    assert.deepEqual(r2.users['v2-cy'].custom, { color: 'green', deep: { x: 1, y: 2 }, size: 3 });
    const hit = await v2.queryUsers({ payload: { filter_conditions: { 'custom.color': 'green' } } });
    assert.deepEqual(hit.users.map((u) => u.id), ['v2-cy']);
    await failsWith(v2.updateUsersPartial({ users: [{ id: 'v2-cy', unset: ['custom'] }] }), 4);
  });

  test('app settings, unique usernames and the lifecycle through /api/v2', LIMIT, async () => {
    await v2.updateApp({ enforce_unique_usernames: 'app' });
    const { app } = await v2.getApp();
    assert.equal(app.enforce_unique_usernames, 'app');
    try {
      await v2.upsertUsers([{ id: 'v2-dee', name: 'Dee' }]);
      await failsWith(v2.upsertUsers([{ id: 'v2-dee2', name: 'dee' }]), 6, /username 'dee' already exists/);
      const d = await v2.deactivateUser({ user_id: 'v2-dee' });
      assert.ok(d.user.deactivated_at, 'deactivated');
      assert.deepEqual(d.user.custom, {});
      await v2.upsertUsers([{ id: 'v2-dee2', name: 'dee' }]); // the name is free now
      await failsWith(v2.reactivateUser({ user_id: 'v2-dee' }), 6);
      const back = await v2.reactivateUser({ user_id: 'v2-dee', name: 'Dee Again' });
      assert.equal(back.user.name, 'Dee Again');
      await v1.deleteUser('v2-dee');
      await v2.restoreUsers({ user_ids: ['v2-dee'] });
      assert.equal((await v1.queryUsers({ id: 'v2-dee' })).users.length, 1, 'restored');
    } finally {
      await v2.updateApp({ enforce_unique_usernames: 'no' });
    }
  });

  test('custom keys named like built-ins round-trip on v2; v1 shows the built-in fields', LIMIT, async () => {
    // The node SDK's own date test: custom.created_at next to the server's created_at.
    const iso = '2020-01-01T00:00:00.000Z';
    const res = await v2.upsertUsers([{ id: 'v2-dup', name: 'Real', custom: { created_at: iso, role: 'x', name: 'y', color: 'c' } }]);
    const u = res.users['v2-dup'];
    assert.deepEqual(u.custom, { color: 'c', created_at: iso, role: 'x', name: 'y' });
    assert.equal(u.role, 'user');
    assert.equal(u.name, 'Real');
    assert.ok(u.created_at instanceof Date && u.created_at.getTime() > Date.parse(iso), 'the server\'s created_at');
    const [legacy] = (await v1.queryUsers({ id: 'v2-dup' })).users;
    assert.equal(legacy.name, 'Real');
    assert.equal(legacy.role, 'user');
    assert.equal(legacy.color, 'c');
    assert.equal(legacy.__custom, undefined, 'v1 shows the built-in fields only');
    // The same instant. The node SDK decodes nanoseconds as Math.floor(ns / 1e6) in floating
    // point, which is 1 ms low for about 1 in 8 whole-millisecond values (ns > 2^53), so its
    // Date is checked against that same arithmetic on the nanoseconds Roster sent.
    const ms = Date.parse(legacy.created_at);
    const sent = JSON.parse(String(BigInt(ms) * 1_000_000n)); // what the SDK parsed
    assert.equal(u.created_at.getTime(), Math.floor(sent / 1e6), 'the same instant, as the SDK reads it');
    assert.ok(ms - u.created_at.getTime() <= 1, 'to the millisecond, but for the SDK\'s rounding');
    const r = await v2.updateUsersPartial({ users: [{ id: 'v2-dup', set: { 'custom.role': 'z' }, unset: ['custom.name'] }] });
    assert.deepEqual(r.users['v2-dup'].custom, { color: 'c', created_at: iso, role: 'z' });
    // A v1 write may not name where those keys live.
    assertEnvelope(await raw(w, 'POST', '/users', { body: { users: { 'v2-dup': { id: 'v2-dup', __custom: {} } } } }), 400, 4,
      'UpdateUsers failed with error: "users[v2-dup].__custom is a reserved field"');
  });

  test('times are integer nanoseconds on v2 (in and out), RFC 3339 on v1', LIMIT, async () => {
    await v2.upsertUsers([{ id: 'v2-time' }]);
    const revoke = Date.UTC(2024, 3, 4, 9, 26, 11, 805);
    const nanos = `${revoke}000000`;
    const patched = await raw(w, 'PATCH', '/api/v2/users', { body: { users: [{ id: 'v2-time', set: { revoke_tokens_issued_before: Number(nanos) } }] } });
    assert.equal(patched.status, 200, patched.text);
    assert.match(patched.text, new RegExp(`"revoke_tokens_issued_before":${nanos}[,}]`), 'exact integer nanoseconds');
    assert.match(patched.text, /"created_at":\d{19}[,}]/);
    const [legacy] = (await v1.queryUsers({ id: 'v2-time' })).users;
    assert.equal(legacy.revoke_tokens_issued_before, '2024-04-04T09:26:11.805000Z');
    const asText = await raw(w, 'PATCH', '/api/v2/users', { body: { users: [{ id: 'v2-time', set: { revoke_tokens_issued_before: nanos } }] } });
    assert.equal(asText.status, 200, asText.text);
    const after = await raw(w, 'GET', '/api/v2/users', { query: { payload: JSON.stringify({ filter_conditions: { created_at: { $gt: 0 }, id: 'v2-time' } }) } });
    assert.deepEqual(after.json.users.map((x) => x.id), ['v2-time'], 'a time operand in nanoseconds');
  });

  test('a token signed over {} is a server token (PyPI getstream); custom events at /api/v2/chat', LIMIT, async () => {
    const token = signJwt({}, w.secret);
    assert.equal((await raw(w, 'GET', '/api/v2/app', { token })).status, 200);
    assertEnvelope(await raw(w, 'GET', '/api/v2/app', { token: signJwt({}, 'not-the-secret') }), 401, 43);
    await v2.upsertUsers([{ id: 'v2-ev' }]);
    const sent = await v2.chat.sendUserCustomEvent({ user_id: 'v2-ev', event: { type: 'friendship_request', custom: { from: 'x' } } });
    assert.equal(sent.event.type, 'friendship_request');
    assertEnvelope(await raw(w, 'POST', '/api/v2/chat/users/nobody/event', { body: { event: { type: 'x' } } }), 404, 16);
    assertEnvelope(await raw(w, 'GET', '/api/v2/chat/users/v2-ev/event'), 404, 16);
  });

  test('rate limits: headers count each endpoint, GET /rate_limits, 429 code 9 when configured', LIMIT, async () => {
    // Counts are per minute: a window that rolls over between the calls is measured again
    // (two roll-overs cannot fall within three quick tries).
    let a, b, limits;
    for (let tries = 0; tries < 3; tries++) {
      a = (await v2.getApp()).metadata.rateLimit;
      b = (await v2.getApp()).metadata.rateLimit;
      limits = await v2.getRateLimits({ server_side: true, endpoints: 'GetApp,QueryUsers,SendMessage' });
      if (a.rateLimitReset.getTime() === b.rateLimitReset.getTime() && limits.server_side.GetApp.reset * 1000 === b.rateLimitReset.getTime()) break;
    }
    assert.equal(b.rateLimitRemaining, a.rateLimitRemaining - 1, 'remaining drops');
    assert.equal(b.rateLimit, 10_000);
    assert.equal(b.rateLimitReset.getTime() % 60_000, 0, 'the window resets on the minute');
    assert.deepEqual(Object.keys(limits.server_side).sort(), ['GetApp', 'QueryUsers', 'SendMessage']);
    assert.equal(limits.server_side.GetApp.remaining, b.rateLimitRemaining);
    // An endpoint of Stream's that Roster does not serve is listed when named (Stream's own
    // suites ask for SendMessage and QueryChannels), with its whole budget.
    assert.deepEqual([limits.server_side.SendMessage.limit, limits.server_side.SendMessage.remaining], [10_000, 10_000]);
    assert.equal(limits.android, undefined, 'only the platform asked');
    // A limit of 0 refuses every request, whatever minute it is (no test of the clock).
    await v1.updateAppSettings({ roster_rate_limits: { UpdateUsers: 0 } });
    try {
      const refused = await raw(w, 'POST', '/users', { body: { users: { 'rl-2': { id: 'rl-2' } } } });
      assertEnvelope(refused, 429, 9);
      assert.equal(refused.headers['x-ratelimit-remaining'], '0');
      assert.equal((await v1.queryUsers({ id: 'rl-2' })).users.length, 0, 'nothing written');
    } finally {
      await raw(w, 'PATCH', '/app', { body: { roster_rate_limits: null } });
    }
    assert.equal((await raw(w, 'POST', '/users', { body: { users: { 'rl-2': { id: 'rl-2' } } } })).status, 201);
  });

  test('bad input: unknown routes, user tokens', LIMIT, async () => {
    await failsWith(v2.upsertUsers([{ id: 'v2-bad', custom: { __custom: 1 } }]), 4, /custom\.__custom is a reserved field/);
    assert.equal((await v1.queryUsers({ id: 'v2-bad' })).users.length, 0, 'nothing written');
    assertEnvelope(await raw(w, 'GET', '/api/v2/nowhere'), 404, 16);
    assertEnvelope(await raw(w, 'DELETE', '/api/v2/users'), 404, 16);
    // A user token through /api/v2: itself only, custom nested both ways.
    await v2.upsertUsers([{ id: 'v2-me' }]);
    const token = signJwt({ user_id: 'v2-me' }, w.secret);
    const mine = await raw(w, 'PATCH', '/api/v2/users', { token, body: { users: [{ id: 'v2-me', set: { 'custom.mood': 'ok' } }] } });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.users['v2-me'].custom, { mood: 'ok' });
    const theirs = await raw(w, 'PATCH', '/api/v2/users', { token, body: { users: [{ id: 'v2-ann', set: { 'custom.mood': 'x' } }] } });
    assertEnvelope(theirs, 403, 17);
  });
});
