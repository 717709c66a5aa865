// Issue 9: deactivate, reactivate, delete (soft and hard) and restore through the official
// stream-chat SDK against the Worker, plus the bodies and query flags other SDKs send.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LIMIT, assertEnvelope, connectRefused, raw, rejectsWith, serverClient, startWorker, uid, userClient,
} from './harness.mjs';

let w;
let server;

before(async () => {
  w = await startWorker();
  server = serverClient(w);
});
after(async () => {
  await w?.stop();
});

/** A user as stored, deactivated included; undefined if missing or (soft-)deleted. */
async function stored(id) {
  const res = await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { id }, include_deactivated_users: true } } });
  assert.equal(res.status, 200, res.text);
  return res.json.users[0];
}

async function queryIds(ids) {
  return (await server.queryUsers({ id: { $in: ids } }, [{ id: 1 }])).users.map((u) => u.id);
}

async function setMode(mode) {
  await server.updateAppSettings({ enforce_unique_usernames: mode });
}

async function connectFails(id) {
  const c = userClient(w);
  try {
    return await connectRefused(c.connectUser({ id }, server.createToken(id)));
  } finally {
    await c.disconnectUser();
  }
}

describe('deactivate and reactivate', () => {
  after(() => setMode('no'));

  test('a deactivated user cannot connect or be upserted and frees its name', LIMIT, async () => {
    await setMode('app');
    const [a, b] = [uid('deact'), uid('deact')];
    const name = `Dee ${a}`;
    await server.upsertUser({ id: a, name, keep: 1 });
    const res = await server.deactivateUser(a);
    assert.equal(res.user.id, a);
    assert.match(res.user.deactivated_at, /Z$/);
    assert.equal(res.user.keep, 1);
    assert.match((await stored(a)).deactivated_at, /Z$/);
    assert.deepEqual(await queryIds([a]), [], 'hidden from queries by default');

    const e = await connectFails(a);
    assert.match(e.message, /was deactivated/);
    await rejectsWith(server.upsertUser({ id: a, name, keep: 2 }), { message: /UpdateUsers failed with error: ".*was deactivated"/ });
    assert.equal((await stored(a)).keep, 1, 'the refused upsert wrote nothing');

    // Its name is free while it is deactivated.
    assert.equal((await server.upsertUser({ id: b, name: name.toUpperCase() })).users[b].name, name.toUpperCase());

    // Reactivating under the taken name fails with code 6; a new name works.
    await rejectsWith(server.reactivateUser(a), {
      status: 400, code: 6, message: `StreamChat error code 6: ReactivateUser failed with error: "username '${name}' already exists"`,
    });
    assert.match((await stored(a)).deactivated_at, /Z$/, 'still deactivated');
    const back = await server.reactivateUser(a, { name: `Dee again ${a}`, restore_messages: false, created_by_id: '' });
    assert.equal(back.user.name, `Dee again ${a}`);
    assert.equal(back.user.deactivated_at, undefined);
    assert.equal(back.user.keep, 1);
    assert.deepEqual(await queryIds([a]), [a]);

    // Reactivating an active user fails.
    await rejectsWith(server.reactivateUser(a), { status: 400, message: /ReactivateUser failed with error: ".*is not deactivated"/ });

    // Deactivate → reactivate without a name, when the name is still free.
    await server.deactivateUser(a);
    const again = await server.reactivateUser(a);
    assert.equal(again.user.name, `Dee again ${a}`);
    const c = userClient(w);
    const ok = await c.connectUser({ id: a }, server.createToken(a));
    assert.equal(ok.me.id, a);
    await c.disconnectUser();
  });

  test('statuses, and the bodies the Go and JS SDKs send', LIMIT, async () => {
    const id = uid('go');
    await server.upsertUser({ id });
    const go = await raw(w, 'POST', `/users/${id}/deactivate`, { body: { mark_messages_deleted: false, mark_channels_deleted: false, created_by_id: '' } });
    assert.equal(go.status, 201, go.text);
    assert.match(go.json.user.deactivated_at, /Z$/);
    const react = await raw(w, 'POST', `/users/${id}/reactivate`, { body: { restore_messages: false, name: null, created_by_id: '' } });
    assert.equal(react.status, 201, react.text);
    assert.equal(react.json.user.deactivated_at, undefined);
    const noBody = await raw(w, 'POST', `/users/${id}/deactivate`);
    assert.equal(noBody.status, 201, noBody.text);
    const js = await server.reactivateUser(id, {});
    assert.equal(js.user.id, id);
    const jsDeact = await server.deactivateUser(id, { mark_messages_deleted: true, created_by_id: 'admin' });
    assert.match(jsDeact.user.deactivated_at, /Z$/);
    await server.reactivateUser(id);
  });
});

describe('delete and restore', () => {
  test('soft delete hides the user; restore brings it back', LIMIT, async () => {
    const id = uid('soft');
    const other = uid('soft');
    await server.upsertUsers([{ id, name: 'Soft', keep: 1 }, { id: other }]);
    const res = await server.deleteUser(id);
    assert.equal(res.user.id, id);
    assert.match(res.user.deleted_at, /Z$/);
    assert.deepEqual(await queryIds([id, other]), [other]);
    assert.equal(await stored(id), undefined);
    await rejectsWith(server.upsertUser({ id, name: 'Soft' }), { status: 400, code: 4, message: /was deleted/ });
    await rejectsWith(server.partialUpdateUser({ id, set: { keep: 2 } }), { status: 400, message: /was deleted/ });
    assert.match((await connectFails(id)).message, /was deleted/);
    await rejectsWith(server.restoreUsers([other]), { status: 400, message: new RegExp(`RestoreUsers failed with error: "user "${other}" is not deleted, it can.t be restored"`) });

    const restored = await server.restoreUsers([id]);
    assert.deepEqual(Object.keys(restored), ['duration']);
    const back = await stored(id);
    assert.equal(back.keep, 1);
    assert.equal(back.name, 'Soft');
    assert.equal(back.deleted_at, undefined);
    assert.deepEqual(await queryIds([id, other]), [id, other].sort());
    assert.equal((await server.upsertUser({ id, name: 'Soft', keep: 3 })).users[id].keep, 3);
  });

  test('a hard-deleted id cannot be used again', LIMIT, async () => {
    const id = uid('hard');
    await server.upsertUser({ id, name: 'Hard' });
    const res = await server.deleteUser(id, { hard_delete: true, mark_messages_deleted: true });
    assert.equal(res.user.id, id);
    assert.deepEqual(await queryIds([id]), []);
    await rejectsWith(server.upsertUser({ id }), { status: 400, code: 4, message: /cannot be used again/ });
    await rejectsWith(server.restoreUsers([id]), { message: /RestoreUsers failed/ });
    await rejectsWith(server.deactivateUser(id), { status: 404, code: 16 });
    await rejectsWith(server.deleteUser(id), { status: 404, code: 16 });
    assert.match((await connectFails(id)).message, /was deleted/);
    assert.equal(await stored(id), undefined);
  });

  test('a soft-deleted user can still be hard-deleted; empty query flags mean false', LIMIT, async () => {
    const id = uid('flags');
    await server.upsertUser({ id });
    // The Go SDK sends every flag, empty when false.
    const soft = await raw(w, 'DELETE', `/users/${id}`, { query: { hard_delete: '', mark_messages_deleted: '', delete_conversation_channels: '' } });
    assert.equal(soft.status, 200, soft.text);
    assert.deepEqual(await queryIds([id]), []);
    await server.restoreUsers([id]);
    assert.deepEqual(await queryIds([id]), [id], 'hard_delete= was a soft delete');
    // The Python async client sends a JSON body on DELETE.
    const py = await raw(w, 'DELETE', `/users/${id}`, { query: { hard_delete: 'false' }, body: {} });
    assert.equal(py.status, 200, py.text);
    const hard = await raw(w, 'DELETE', `/users/${id}`, { query: { hard_delete: 'true', mark_messages_deleted: 'true' } });
    assert.equal(hard.status, 200, hard.text);
    await rejectsWith(server.restoreUsers([id]), { message: /RestoreUsers failed/ });
  });
});

describe('refusals', () => {
  test('unknown users get an error', LIMIT, async () => {
    const id = uid('nobody');
    await rejectsWith(server.deactivateUser(id), { status: 404, code: 16, message: /DeactivateUser failed with error: "user '.*' does not exist"/ });
    await rejectsWith(server.reactivateUser(id), { status: 404, code: 16, message: /ReactivateUser failed/ });
    await rejectsWith(server.deleteUser(id), { status: 404, code: 16, message: /DeleteUser failed/ });
    await rejectsWith(server.restoreUsers([id]), { status: 404, code: 16, message: /RestoreUsers failed/ });
    await rejectsWith(server.restoreUsers([]), { status: 400, code: 4 });
    assert.equal(await stored(id), undefined, 'nothing was created');
  });

  test('user tokens get 403 and change nothing', LIMIT, async () => {
    const me = uid('self');
    const other = uid('other');
    await server.upsertUsers([{ id: me }, { id: other }]);
    await server.deleteUser(other);
    const token = server.createToken(me);
    const cases = [
      ['POST', `/users/${me}/deactivate`, {}, 'DeactivateUser'],
      ['POST', `/users/${other}/deactivate`, {}, 'DeactivateUser'],
      ['POST', `/users/${me}/reactivate`, {}, 'ReactivateUser'],
      ['DELETE', `/users/${me}`, undefined, 'DeleteUser'],
      ['DELETE', `/users/${me}?hard_delete=true`, undefined, 'DeleteUser'],
      ['POST', '/users/restore', { user_ids: [other] }, 'RestoreUsers'],
    ];
    for (const [method, path, body, op] of cases) {
      const [p, q] = path.split('?');
      const res = await raw(w, method, p, { body, token, query: Object.fromEntries(new URLSearchParams(q ?? '')) });
      assertEnvelope(res, 403, 17, new RegExp(`^${op} failed with error: `));
    }
    // And through the SDK, with the connected user's own token.
    const c = userClient(w);
    await c.connectUser({ id: me }, token);
    try {
      await rejectsWith(c.deactivateUser(me), { status: 403, code: 17 });
      await rejectsWith(c.deleteUser(me, { hard_delete: true }), { status: 403, code: 17 });
      await rejectsWith(c.restoreUsers([other]), { status: 403, code: 17 });
    } finally {
      await c.disconnectUser();
    }
    const mine = await stored(me);
    assert.equal(mine.deactivated_at, undefined);
    assert.equal(mine.deleted_at, undefined);
    assert.deepEqual(await queryIds([me, other]), [me], 'the other user is still deleted');
  });
});
