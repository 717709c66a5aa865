// Batch lifecycle with tasks, exports and guests (issues 16, 25): stream-chat's deleteUsers /
// deactivateUsers / reactivateUsers / getTask / exportUser / setGuestUser and the node SDK's
// equivalents under /api/v2. A batch delete, deactivate or reactivate changes its users in the
// call itself (Stream's suites query right after it), and its task reports them at once. An
// export task runs after the response, from the Writer's alarm, user by user; each step commits
// with the task's progress, so a task stopped part-way (the test-only task budget simulates an
// eviction) resumes after a restart and does every user exactly once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamClient } from '@stream-io/node-sdk';
import { LIMIT, assertEnvelope, hook, raw, rejectsWith, serverClient, signJwt, serverPool, userClient } from './harness.mjs';

const start = serverPool();

/** Polls a task until it is finished (bounded: 200 polls, 100 ms apart). */
async function finished(getTask, id) {
  let task;
  for (let i = 0; i < 200; i++) {
    task = await getTask(id);
    if (task.status === 'completed' || task.status === 'failed') return task;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`task ${id} did not finish: ${JSON.stringify(task)}`);
}

describe('tasks through stream-chat', () => {
  test('deactivate, reactivate and delete many users; a task says which users it did', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    await c.upsertUsers([{ id: 't-a', name: 'A' }, { id: 't-b', name: 'B' }]);
    const { task_id: deactivation } = await c.deactivateUsers(['t-a', 't-missing', 't-b']);
    assert.match(deactivation, /^[0-9a-f-]{36}$/);
    assert.equal((await c.queryUsers({ id: { $in: ['t-a', 't-b'] } })).users.length, 0, 'deactivated by the call itself');
    const t1 = await c.getTask(deactivation); // finished already: no polling
    assert.equal(t1.status, 'failed', 'one of three users does not exist');
    assert.deepEqual(t1.result.users.map((u) => u.id), ['t-a', 't-b']);
    assert.ok(t1.result.users.every((u) => u.deactivated_at));
    assert.match(t1.result.errors['t-missing'], /does not exist/);
    assert.match(t1.error.description, /1 of 3 users failed/);
    assert.equal((await c.queryUsers({ id: { $in: ['t-a', 't-b'] } })).users.length, 0, 'deactivated');

    const { task_id: reactivation } = await c.reactivateUsers(['t-a', 't-b']);
    assert.equal((await c.queryUsers({ id: { $in: ['t-a', 't-b'] } })).users.length, 2, 'reactivated');
    const t2 = await c.getTask(reactivation);
    assert.equal(t2.status, 'completed');

    const { task_id: deletion } = await c.deleteUsers(['t-a', 't-b'], { user: 'hard' });
    assert.equal((await c.queryUsers({ id: { $in: ['t-a', 't-b'] } })).users.length, 0, 'deleted by the call itself');
    const t3 = await c.getTask(deletion);
    assert.equal(t3.status, 'completed');
    assert.deepEqual(t3.result, { 't-a': { status: 'ok' }, 't-b': { status: 'ok' } });
    await rejectsWith(c.upsertUser({ id: 't-a' }), { status: 400, code: 4, message: /cannot be used again/ });
  });

  test('bad input: unknown task, too many ids, a user token, an unknown mode', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    await rejectsWith(c.getTask('00000000-0000-4000-8000-000000000000'), { status: 404, code: 16, message: /Can't find task with id/ });
    const many = Array.from({ length: 101 }, (_, i) => `m${i}`);
    await rejectsWith(c.deactivateUsers(many), { status: 400, code: 4, message: /maximum per request is 100/ });
    await rejectsWith(c.deleteUsers([]), { status: 400, code: 4 });
    const token = signJwt({ user_id: 'someone' }, w.secret);
    assertEnvelope(await raw(w, 'POST', '/users/delete', { token, body: { user_ids: ['someone'] } }), 403, 17);
    assertEnvelope(await raw(w, 'GET', '/users/someone/export', { token }), 403, 17,
      'ExportUser failed with error: "users can only be exported server side"');
    assertEnvelope(await raw(w, 'POST', '/users/delete', { body: { user_ids: ['x'], user: 'sometimes' } }), 400, 4);
    assertEnvelope(await raw(w, 'POST', '/users/deactivate', { body: { user_ids: ['bad id!'] } }), 400, 4);
  });

  test('an export task stopped part-way resumes after a restart and does each user once', LIMIT, async () => {
    let w = await start();
    let c = serverClient(w);
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
    await c.upsertUsers(ids.map((id) => ({ id, name: id.toUpperCase() })));
    await hook(w, 'task-budget', '2');
    const { task_id: id } = await c.exportUsers({ user_ids: ids });
    await hook(w, 'drain', '');
    const part = await c.getTask(id);
    assert.equal(part.status, 'running');
    assert.deepEqual(part.result.users.map((e) => e.user.id), ['r1', 'r2'], 'two users done, then the object "died"');
    await w.stop();
    w = await start({ persistTo: w.persistTo, key: w.key, secret: w.secret });
    c = serverClient(w);
    assert.equal((await c.getTask(id)).status, 'running', 'the task survived the restart');
    await hook(w, 'task-budget', '');
    await hook(w, 'drain', '');
    const done = await finished((t) => c.getTask(t), id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result.users.map((e) => e.user.id), ids, 'each user once, in order');
    assert.deepEqual(done.result.users.map((e) => e.user.name), ['R1', 'R2', 'R3', 'R4', 'R5']);
  });
});

describe('tasks, exports and guests through the node SDK (/api/v2)', () => {
  test('deleteUsers, deactivateUsers, getTask, exportUser, exportUsers', LIMIT, async () => {
    const w = await start();
    const v2 = new StreamClient(w.key, w.secret, { basePath: w.baseURL, timeout: 20_000 });
    await v2.upsertUsers([{ id: 'n-a', name: 'A', custom: { color: 'blue' } }, { id: 'n-b', name: 'B' }]);
    const exported = await v2.exportUser({ user_id: 'n-a' });
    assert.equal(exported.user.id, 'n-a');
    assert.deepEqual(exported.user.custom, { color: 'blue' });
    const ex = await finished((id) => v2.getTask({ id }), (await v2.exportUsers({ user_ids: ['n-a', 'n-b'] })).task_id);
    assert.equal(ex.status, 'completed');
    assert.deepEqual(ex.result.users.map((e) => e.user.id), ['n-a', 'n-b'], 'the export is embedded in the result');
    assert.deepEqual(ex.result.users[0].user.custom, { color: 'blue' }, 'in the /api/v2 shape');
    const de = await finished((id) => v2.getTask({ id }), (await v2.deactivateUsers({ user_ids: ['n-b'] })).task_id);
    assert.equal(de.status, 'completed');
    const del = await finished((id) => v2.getTask({ id }), (await v2.deleteUsers({ user_ids: ['n-a'], user: 'soft' })).task_id);
    assert.deepEqual(del.result, { 'n-a': { status: 'ok' } });
    await v2.restoreUsers({ user_ids: ['n-a'] });
    assert.equal((await v2.queryUsers({ payload: { filter_conditions: { id: 'n-a' } } })).users.length, 1, 'soft: restorable');
  });

  test('guests: refused until the app allows them, then created with a working token', LIMIT, async () => {
    const w = await start();
    const v2 = new StreamClient(w.key, w.secret, { basePath: w.baseURL, timeout: 20_000 });
    let error;
    try {
      await v2.createGuest({ user: { id: 'guest-1', name: 'Visitor' } });
    } catch (e) {
      error = e;
    }
    assert.equal(error?.code, 17, 'guests are off by default');
    // The node SDK's updateApp sends only the settings Stream defines: Roster's own go through stream-chat.
    await serverClient(w).updateAppSettings({ roster_guests_enabled: true });
    const g = await v2.createGuest({ user: { id: 'guest-1', name: 'Visitor', custom: { from: 'ad' } } });
    assert.equal(g.user.role, 'guest');
    assert.deepEqual(g.user.custom, { from: 'ad' });
    assert.ok(g.access_token);
    // stream-chat's setGuestUser: POST /guest without a token, then connectUser with the token.
    const c = userClient(w);
    const me = await c.setGuestUser({ id: 'guest-2', name: 'Walk-in' });
    assert.equal(me.me.role, 'guest');
    await c.disconnectUser();
    await v2.upsertUsers([{ id: 'member', name: 'Member' }]);
    const taken = await raw(w, 'POST', '/guest', { token: null, body: { user: { id: 'member' } } });
    assertEnvelope(taken, 403, 17);
    await v2.updateApp({ multi_tenant_enabled: true });
    assertEnvelope(await raw(w, 'POST', '/guest', { token: null, body: { user: { id: 'guest-3' } } }), 403, 17);
  });
});
