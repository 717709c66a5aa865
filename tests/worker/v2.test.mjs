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

  test('bad input: reserved fields in custom, unknown routes, user tokens', LIMIT, async () => {
    await failsWith(v2.upsertUsers([{ id: 'v2-bad', custom: { created_at: '2020-01-01T00:00:00Z' } }]), 4, /users\[v2-bad\]\.custom\.created_at is a reserved field/);
    await failsWith(v2.upsertUsers([{ id: 'v2-bad', custom: { role: 'admin' } }]), 4, /custom\.role is a reserved field/);
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
