// Edge-true storage (issue 13): the Writer's SQLite is the source of truth and Workers KV a
// replica fed by an outbox. Deployed KV refuses a second write to one key within a second (429),
// fails now and then, and lags; here the test-only switch makes KV fail, answer 429 or stall, and
// the hooks simulate the per-key limit (a too-fast write is refused and counted). Every write
// must still succeed for its caller, server reads must be right meanwhile, and once the faults
// stop KV must hold exactly the Writer's data, with no key ever written twice within a second.
// Also: the upgrade from a version that kept users in KV (imported, nothing lost), unreadable
// records (a 500, never "missing"), and dev tokens gated by the replica and the Writer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LIMIT, ROOT, drained, hook, kvDump, kvFault, raw, rejectsWith, serverClient, signJwt, serverPool, uid,
  writerUsers,
} from './harness.mjs';

const start = serverPool();

/** KV holds exactly the Writer's users and settings, each record with its sequence number. */
async function assertReplicaExact(w) {
  const rows = await writerUsers(w);
  const kv = await kvDump(w, 'u:');
  const { seq } = await hook(w, 'outbox');
  assert.deepEqual(Object.keys(kv).sort(), Object.keys(rows).map((id) => `u:${id}`).sort(), 'the same user keys');
  for (const [id, record] of Object.entries(rows)) {
    const entry = kv[`u:${id}`];
    assert.deepEqual(JSON.parse(entry.value), record, `u:${id} holds the Writer's record`);
    assert.ok(Number.isInteger(entry.metadata?.seq) && entry.metadata.seq >= 1 && entry.metadata.seq <= seq,
      `u:${id} carries its sequence number: ${JSON.stringify(entry.metadata)}`);
  }
  const app = (await kvDump(w, 'app')).app;
  const { app: settings } = await serverClient(w).getAppSettings();
  for (const [k, v] of Object.entries(JSON.parse(app.value))) assert.deepEqual(settings[k], v, `KV app.${k}`);
}

describe('KV converges, whatever fails', () => {
  test('writes succeed while KV fails or answers 429; reads are right; KV catches up exactly', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    await kvFault(w, 'fail');
    const ids = Array.from({ length: 30 }, (_, i) => `kvf-${i}`);
    await c.upsertUsers(ids.map((id, i) => ({ id, name: `Faulty ${i}`, n: i })));
    await c.updateAppSettings({ enforce_unique_usernames: 'app', custom_action_handler_url: 'https://example.com/during-faults' });
    await kvFault(w, '429');
    await c.partialUpdateUser({ id: 'kvf-1', set: { n: 100, 'deep.x': 1 } });
    await c.partialUpdateUser({ id: 'kvf-2', set: { name: 'Renamed Two' } });
    await c.deactivateUser('kvf-3');
    await c.deleteUser('kvf-4', { hard_delete: true });
    await rejectsWith(c.upsertUsers([{ id: 'kvf-x', name: 'faulty 5' }]), { status: 400, code: 6 });

    // Server reads come from the Writer: right at once, while KV has none of it.
    const { users } = await c.queryUsers({ id: { $in: ids } }, { id: 1 }, { limit: 100 });
    assert.equal(users.length, 28, 'deactivated and deleted users are not listed');
    assert.equal(users.find((u) => u.id === 'kvf-1').n, 100);
    assert.equal(users.find((u) => u.id === 'kvf-2').name, 'Renamed Two');
    assert.equal((await c.getAppSettings()).app.custom_action_handler_url, 'https://example.com/during-faults');
    assert.equal(Object.keys(await kvDump(w, 'u:kvf-')).length, 0, 'KV holds nothing yet');
    const during = await hook(w, 'outbox');
    assert.ok(during.pending >= 30, `outbox holds the writes: ${JSON.stringify(during)}`);

    await kvFault(w, 'none');
    const state = await drained(w);
    assert.equal(state.kv_too_fast, 0, 'no key was written twice within a second');
    await assertReplicaExact(w);
  });

  test('a burst of writes to one user: the latest value lands, at most one KV write per key per second', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    await c.upsertUsers([{ id: 'hot', name: 'Hot' }]);
    await drained(w);
    const before = await hook(w, 'outbox');
    const t0 = Date.now();
    for (let i = 1; i <= 20; i++) await c.partialUpdateUser({ id: 'hot', set: { n: i } });
    const state = await drained(w);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(state.kv_too_fast, 0, 'the simulated per-key limit never refused a write');
    const puts = state.kv_puts - before.kv_puts;
    assert.ok(puts <= Math.ceil(seconds) + 1, `${puts} KV writes of one key in ${seconds.toFixed(1)} s`);
    assert.equal(JSON.parse((await kvDump(w, 'u:hot'))['u:hot'].value).n, 20, 'the latest value is in KV');
  });

  test('a stalled KV does not hold up writes; pending writes survive a restart', LIMIT, async () => {
    let w = await start();
    const c = serverClient(w);
    await kvFault(w, 'fail');
    await c.upsertUsers([{ id: 'survivor', name: 'Survivor', v: 1 }]);
    await c.updateAppSettings({ custom_action_handler_url: 'https://example.com/before-restart' });
    await w.stop();
    w = await start({ persistTo: w.persistTo, key: w.key, secret: w.secret });
    const c2 = serverClient(w);
    assert.equal((await c2.queryUsers({ id: 'survivor' })).users[0].v, 1, 'the write survived the restart');
    assert.ok((await hook(w, 'outbox')).pending >= 1, 'and so did its outbox entry');
    await kvFault(w, 'delay:500');
    await c2.partialUpdateUser({ id: 'survivor', set: { v: 2 } });
    assert.equal((await c2.queryUsers({ id: 'survivor' })).users[0].v, 2);
    await kvFault(w, 'none');
    await drained(w);
    await assertReplicaExact(w);
  });
});

describe('indexed queries answer as a full scan does', () => {
  test('every kind of lookup, sort and page equals the core scanning every row', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    const teams = ['red', 'blue', 'green', 'gold'];
    const first = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Σοφία', 'Jo', 'Mary-Jo', 'Zoë'];
    const users = Array.from({ length: 240 }, (_, i) => ({
      id: `q${String(i).padStart(3, '0')}`,
      name: `${first[i % first.length]} ${['Smith', 'Jones', 'Ng'][i % 3]} ${i}`,
      teams: teams.filter((_, t) => (i >> t) % 3 === 0),
      role: ['user', 'admin', 'guest'][i % 3],
      age: i % 50,
      color: ['red', 'blue'][i % 2],
      labels: i % 2 ? 'x' : ['x', 'y'],
    }));
    for (let i = 0; i < users.length; i += 100) await c.upsertUsers(users.slice(i, i + 100));
    await c.deactivateUser('q007');
    await c.deleteUser('q008');
    await c.partialUpdateUser({ id: 'q010', set: { name: 'Renamed Ten' } });
    const mid = (await c.queryUsers({ id: 'q120' })).users[0].created_at;
    const filters = [
      {}, { id: 'q005' }, { id: { $in: ['q001', 'q002', 'q007', 'nope'] } }, { teams: { $contains: 'red' } },
      { teams: 'gold' }, { teams: { $in: ['blue', 'green'] } }, { role: 'admin' }, { role: { $in: ['guest'] } },
      { name: 'Bob Jones 1' }, { name: { $autocomplete: 'jo' } }, { name: { $autocomplete: 'σοφ' } },
      { name: { $autocomplete: 'smith 1' } }, { name: { $autocomplete: 'ten' } },
      { created_at: { $gte: mid } }, { created_at: { $lt: mid }, teams: 'red' }, { updated_at: { $gt: mid } },
      { age: { $gte: 40 } }, { color: 'blue', role: 'user' }, { $or: [{ role: 'admin' }, { teams: 'gold' }] },
      { $and: [{ teams: 'red' }, { age: { $lt: 10 } }] }, { $nor: [{ color: 'red' }] }, { last_active: { $exists: false } },
      { color: 'blue' }, { age: 7 }, { age: { $eq: 7 }, color: 'red' }, { labels: 'y' }, { labels: 'x' },
    ];
    const sorts = [[], [{ field: 'created_at', direction: 1 }], [{ field: 'id', direction: -1 }],
      [{ field: 'age', direction: -1 }], [{ field: 'name', direction: 1 }], [{ field: 'updated_at', direction: -1 }]];
    let compared = 0;
    for (const [i, filter] of filters.entries()) {
      for (const [j, sort] of sorts.entries()) {
        const payload = { filter_conditions: filter, sort, limit: [30, 7, 100][(i + j) % 3], offset: [0, 3, 50][(i * j) % 3],
          include_deactivated_users: (i + j) % 4 === 0 };
        const indexed = await raw(w, 'GET', '/users', { query: { payload } });
        assert.equal(indexed.status, 200, indexed.text);
        const scan = await hook(w, 'scan', JSON.stringify(payload));
        assert.deepEqual(indexed.json.users, scan.users, JSON.stringify(payload));
        compared += 1;
      }
    }
    assert.equal(compared, filters.length * sorts.length);
    const res = await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { name: { $autocomplete: 'chlo' } } } } });
    assert.equal(res.headers['x-roster-kv-ops'], '0', 'a query makes no KV operation');
    assert.ok(res.json.users.length > 0 && res.json.users.every((u) => u.name.startsWith('Chloé')));
  });
});

describe('upgrade: data the previous version kept in KV', () => {
  test('a Writer that starts empty imports every user, name and setting before serving', LIMIT, async () => {
    const persistTo = mkdtempSync(join(tmpdir(), 'roster-kv-'));
    const t = '2025-01-01T00:00:00.000000Z';
    const entries = [];
    for (let i = 0; i < 150; i++) {
      const u = { id: `old-${i}`, name: `Old Timer ${i}`, role: 'user', teams: i % 2 ? ['a'] : [], banned: false,
        online: false, created_at: t, updated_at: t, n: i };
      if (i === 7) u.deactivated_at = t;
      entries.push({ key: `u:old-${i}`, value: JSON.stringify(u) });
      if (i !== 7) entries.push({ key: `n:oldtimer${i}`, value: JSON.stringify([`old-${i}`]) });
    }
    entries.push({ key: 'u:broken', value: '{"id": "broken", "name": ' });
    entries.push({ key: 'app', value: JSON.stringify({ enforce_unique_usernames: 'app', custom_action_handler_url: 'https://example.com/kept' }) });
    const file = join(persistTo, 'seed.json');
    writeFileSync(file, JSON.stringify(entries));
    execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'),
      ['kv', 'bulk', 'put', file, '--binding', 'USERS', '--preview', 'false', '--local', '--persist-to', persistTo],
      { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: 'pipe' });
    rmSync(file);

    const w = await start({ persistTo });
    const c = serverClient(w);
    const all = [];
    for (let offset = 0; offset < 200; offset += 100) {
      const page = await c.queryUsers({ id: { $in: entries.filter((e) => e.key.startsWith('u:old-')).map((e) => e.key.slice(2)) } },
        { id: 1 }, { limit: 100, offset, include_deactivated_users: true });
      all.push(...page.users);
    }
    assert.equal(all.length, 150, 'every user was imported');
    const byId = Object.fromEntries(all.map((u) => [u.id, u]));
    assert.equal(byId['old-42'].n, 42);
    assert.equal(byId['old-7'].deactivated_at, t);
    const { app } = await c.getAppSettings();
    assert.equal(app.enforce_unique_usernames, 'app');
    assert.equal(app.custom_action_handler_url, 'https://example.com/kept');
    await rejectsWith(c.upsertUsers([{ id: uid('new'), name: 'old timer 3' }]), { status: 400, code: 6 });
    await c.upsertUsers([{ id: uid('new'), name: 'Old Timer 7' }]); // a deactivated user's name is free

    // An unreadable record stays unreadable: a 500, never "missing", and never overwritten.
    for (const attempt of [
      () => c.upsertUsers([{ id: 'broken', name: 'Replaced' }]),
      () => c.partialUpdateUser({ id: 'broken', set: { x: 1 } }),
      () => c.queryUsers({ id: 'broken' }),
    ]) {
      await rejectsWith(attempt(), { status: 500, code: -1, message: /record 'broken' is unreadable/ });
    }
    // The old username index keys leave KV; the users stay.
    await drained(w);
    assert.deepEqual(Object.keys(await kvDump(w, 'n:')), [], 'the old n: keys are gone');
    assert.equal(Object.keys(await kvDump(w, 'u:old-')).length, 150);
    assert.equal((await kvDump(w, 'u:broken'))['u:broken'].value, '{"id": "broken", "name": ');
  });
});

describe('the edge authenticates', () => {
  test('no request that fails the edge checks reaches the Writer', LIMIT, async () => {
    const w = await start();
    const before = (await raw(w, 'GET', '/roster/stats')).json.writer.commands_total;
    const expired = signJwt({ server: true, exp: 1_000_000_000 }, w.secret);
    const refused = [
      raw(w, 'GET', '/users', { token: null }),
      raw(w, 'GET', '/users', { token: signJwt({ server: true }, 'not-the-secret') }),
      raw(w, 'POST', '/users', { token: expired, body: { users: { a: { id: 'a' } } } }),
      raw(w, 'PATCH', '/app', { token: 'not.a.jwt', body: {} }),
      raw(w, 'GET', '/app', { apiKey: 'wrong' }),
      raw(w, 'POST', '/nowhere'),
      raw(w, 'POST', '/users', { body: 'x'.repeat(3 * 1024 * 1024) }),
      raw(w, 'GET', '/users', { headers: { 'stream-auth-type': 'anonymous' }, token: null }),
      // Large bodies refused for another reason are read to their end too, so the client gets
      // the envelope rather than a reset connection.
      raw(w, 'POST', '/users', { token: null, body: 'x'.repeat(3 * 1024 * 1024) }),
      raw(w, 'POST', '/nowhere', { body: 'x'.repeat(3 * 1024 * 1024) }),
    ];
    const answers = await Promise.all(refused);
    for (const r of answers) assert.ok(r.json?.code !== undefined, `Stream's envelope: ${r.status} ${r.text.slice(0, 200)}`);
    assert.deepEqual(answers.map((r) => r.status), [401, 401, 401, 401, 401, 404, 413, 401, 401, 404]);
    const after = (await raw(w, 'GET', '/roster/stats')).json.writer.commands_total;
    assert.equal(after - before, 0, 'none reached the Writer (GET /roster/stats is not counted)');
  });
});

describe('dev tokens (disable_auth_checks)', () => {
  test('the edge admits them when KV says so; the Writer decides from its own settings', LIMIT, async () => {
    const w = await start();
    const c = serverClient(w);
    const dev = signJwt({ user_id: 'devuser' }, w.secret, { signature: 'devtoken' });
    const before = await raw(w, 'GET', '/app', { token: dev });
    assert.equal(before.status, 401);
    assert.equal(before.json.code, 43);
    await c.updateAppSettings({ disable_auth_checks: true });
    await drained(w);
    const ok = await raw(w, 'GET', '/app', { token: dev });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers['x-roster-kv-ops'], '1', 'the one KV read that admitted the unsigned token');
    assert.equal((await raw(w, 'GET', '/app')).headers['x-roster-kv-ops'], '0', 'a signed token needs none');
    // Turned off while KV still says on (KV is failing): the Writer refuses.
    await kvFault(w, 'fail');
    await c.updateAppSettings({ disable_auth_checks: false });
    assert.equal(JSON.parse((await kvDump(w, 'app')).app.value).disable_auth_checks, true, 'KV is stale');
    const after = await raw(w, 'GET', '/app', { token: dev });
    assert.equal(after.status, 401, after.text);
    assert.equal(after.json.code, 43);
    await kvFault(w, 'none');
  });
});

describe('one path for a user write (issue 23)', () => {
  // Times are the write's own; everything else is compared byte for byte.
  const untimed = (text) => text.replace(/"(created_at|updated_at|last_active)":"[^"]*"/g, '"$1":"T"');

  test('the Writer stores the record the npm batch exports write for the same body, byte for byte', LIMIT, async () => {
    const { upsertUsers, partialUpdateUsers } = await import('roster-users');
    const w = await start();
    // Members out of key order (top level and nested), an escaped name, a float spelled
    // `2.50` and the spacing Python's `json.dumps` writes: over a tree the members were sorted;
    // the record path keeps their order and writes the canonical text (compact, `2.5`, `é`).
    const id = uid('op');
    const upsert = `{"users": {"${id}": {"id": "${id}", "zeta": {"b": 2, "a": [1, 2.50]}, "name": "Jos\\u00e9 Ng", "alpha": "x"}}}`;
    const created = await raw(w, 'POST', '/users', { body: upsert });
    assert.equal(created.status, 201, created.text);
    await drained(w);
    const stored = (await kvDump(w, `u:${id}`))[`u:${id}`].value;
    assert.equal(untimed(stored), untimed(upsertUsers(upsert, {}, {}).users[id]));
    assert.ok(stored.indexOf('"zeta"') < stored.indexOf('"alpha"') && stored.includes('"José Ng"'), stored);

    const patch = `{"users": [{"id": "${id}", "set": {"zeta.c": {"y": 1, "x": 2}, "beta": true}, "unset": ["alpha"]}]}`;
    const patched = await raw(w, 'PATCH', '/users', { body: patch });
    assert.equal(patched.status, 200, patched.text);
    await drained(w);
    const after = (await kvDump(w, `u:${id}`))[`u:${id}`].value;
    assert.equal(untimed(after), untimed(partialUpdateUsers(patch, { [id]: stored }, {}).users[id]));
    assert.ok(after.indexOf('"zeta"') < after.indexOf('"beta"') && after.includes('{"y":1,"x":2}'), after);
    // What the Writer answered is what it stored.
    assert.deepEqual(patched.json.users[id], JSON.parse(after));
  });
});
