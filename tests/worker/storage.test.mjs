// Storage faults (SPEC §6): a record in KV that cannot be read is a 500 (code -1), never
// "missing" — treating it as absent would let the next write silently replace it. The corrupt
// record is planted with wrangler's own local KV command in the server's --persist-to folder.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, raw, serverClient, startWorker } from './harness.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.stop())));

function kvPut(persistTo, key, value) {
  execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'),
    ['kv', 'key', 'put', key, value, '--binding', 'USERS', '--preview', 'false', '--local', '--persist-to', persistTo],
    { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: 'pipe' });
}

test('an unreadable stored user is a 500 with nothing overwritten (KV write path)', async () => {
  let w = await startWorker({ vars: { WRITE_PATH: 'kv' } });
  servers.push(w);
  await serverClient(w).upsertUsers([{ id: 'fine', name: 'Fine' }]);
  await w.stop();
  kvPut(w.persistTo, 'u:broken', '{"id": "broken", "name": ');
  w = await startWorker({ vars: { WRITE_PATH: 'kv' }, persistTo: w.persistTo, key: w.key, secret: w.secret });
  servers.push(w);
  const c = serverClient(w);
  for (const attempt of [
    () => c.upsertUsers([{ id: 'broken', name: 'Replaced' }]),
    () => c.partialUpdateUser({ id: 'broken', set: { x: 1 } }),
    () => c.queryUsers({}),
  ]) {
    const e = await attempt().then(() => null, (err) => err);
    assert.ok(e, 'the request fails');
    assert.equal(e.status, 500);
    assert.equal(e.code, -1);
    assert.match(e.message, /record 'u:broken' is unreadable/);
  }
  // The other user is still served, and the broken record was not replaced.
  const r = await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { id: 'fine' } } } });
  assert.equal(r.status, 500, 'queries read every record, so they report the fault too');
  await assert.rejects(c.partialUpdateUser({ id: 'broken', set: { y: 1 } }), (e) => e.status === 500);
  assert.equal((await c.partialUpdateUser({ id: 'fine', set: { ok: true } })).users.fine.ok, true);
});

test('numbers in custom data read back exactly (full-precision float parsing)', async () => {
  const w = await startWorker();
  servers.push(w);
  const c = serverClient(w);
  // Random doubles need all 17 digits; a best-effort parser gets ~1 in 10 wrong by one ulp.
  const values = Array.from({ length: 60 }, (_, i) => (Math.random() * 10 ** (i % 12)) / 7);
  values.push(25.805360112477338, 0.1 + 0.2, 1e-300, 123456789012345680000);
  await c.upsertUsers([{ id: 'floats', values }]);
  await c.partialUpdateUser({ id: 'floats', set: { 'nested.value': values[0] } });
  const [u] = (await c.queryUsers({ id: 'floats' })).users;
  assert.deepEqual(u.values, values);
  assert.equal(u.nested.value, values[0]);
});
