// Issue 27, item 2: versions and conditional writes. Every user has a version (the sequence
// number of its latest change); answers that return users show `versions` and, for exactly one
// user, an ETag; `If-Match` (one-user batches) and `expected_versions` (any batch) make a write
// conditional: a mismatch fails the whole batch with 412 naming the moved users, and nothing is
// written. Raw HTTP: no SDK sends these.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, fileServer, LIMIT, raw, uid } from './harness.mjs';

const s = fileServer();

const upsert = (users, { headers, expected, v2 = false } = {}) => raw(s.w, 'POST', v2 ? '/api/v2/users' : '/users', {
  headers,
  body: { users: Object.fromEntries(users.map((u) => [u.id, u])), ...(expected ? { expected_versions: expected } : {}) },
});
const partial = (items, { headers, expected } = {}) => raw(s.w, 'PATCH', '/users', {
  headers, body: { users: items, ...(expected ? { expected_versions: expected } : {}) },
});
async function read(id) {
  const res = await raw(s.w, 'GET', '/users', { query: { payload: { filter_conditions: { id } } } });
  assert.equal(res.status, 200, res.text);
  return { user: res.json.users[0], version: res.json.versions[id], etag: res.headers.etag };
}

describe('versions', () => {
  test('answers show versions; an ETag for one user; every change moves the version', LIMIT, async () => {
    const id = uid('v');
    const created = await upsert([{ id, name: 'V' }]);
    assert.equal(created.status, 201, created.text);
    const v1 = created.json.versions[id];
    assert.ok(Number.isInteger(v1) && v1 > 0);
    assert.equal(created.headers.etag, `"${v1}"`);
    assert.deepEqual(await read(id).then((r) => [r.version, r.etag]), [v1, `"${v1}"`]);
    // Every upsert and partial update moves updated_at, as Stream's do: each is a change.
    const again = await upsert([{ id, name: 'V' }]);
    assert.ok(again.json.versions[id] > v1);
    const changed = await partial([{ id, set: { mood: 'ok' } }]);
    assert.ok(changed.json.versions[id] > again.json.versions[id]);
    const two = await upsert([{ id: uid('a') }, { id: uid('b') }]);
    assert.equal(Object.keys(two.json.versions).length, 2);
    assert.equal(two.headers.etag, undefined, 'no ETag for two users');
    const off = await raw(s.w, 'POST', `/users/${id}/deactivate`, { body: {} });
    assert.equal(off.headers.etag, `"${off.json.versions[id]}"`);
    assert.ok(off.json.versions[id] > changed.json.versions[id]);
    // The SDKs read these answers unchanged.
    assert.equal((await s.server.queryUsers({ id }, {}, { include_deactivated_users: true })).users[0].mood, 'ok');
  });

  test('If-Match: of ten concurrent writers that read the same version, exactly one wins', LIMIT, async () => {
    const id = uid('race');
    const { json } = await upsert([{ id, n: -1 }]);
    const etag = `"${json.versions[id]}"`;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      (i % 2 ? partial([{ id, set: { n: i } }], { headers: { 'If-Match': etag } })
        : upsert([{ id, n: i }], { headers: { 'If-Match': etag } }))));
    const won = results.filter((r) => r.status < 300);
    assert.equal(won.length, 1, results.map((r) => r.status).join(' '));
    for (const r of results.filter((x) => x.status >= 300)) {
      assertEnvelope(r, 412, 4);
      assert.match(r.json.message, /precondition failed: the version of .* moved; nothing was written/);
      assert.match(r.json.exception_fields[id], /^expected version \d+, current version \d+$/);
    }
    const winner = won[0].json.users[id].n;
    assert.equal((await read(id)).user.n, winner, 'the stored value is the winner\'s');
  });

  test('expected_versions: one stale user fails the whole batch and writes nothing', LIMIT, async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const first = await upsert([{ id: a, n: 1 }, { id: b, n: 1 }]);
    const va = first.json.versions[a];
    await partial([{ id: b, set: { n: 2 } }]); // b moves on
    const stale = await upsert([{ id: a, n: 10 }, { id: b, n: 10 }, { id: c, n: 10 }], { expected: { a: va, [b]: first.json.versions[b] } });
    assertEnvelope(stale, 400, 4); // `a` is not an id of this batch: refused before anything else
    const refused = await upsert([{ id: a, n: 10 }, { id: b, n: 10 }, { id: c, n: 10 }], { expected: { [a]: va, [b]: first.json.versions[b], [c]: 0 } });
    assertEnvelope(refused, 412, 4);
    assert.deepEqual(Object.keys(refused.json.exception_fields), [b]);
    assert.deepEqual([(await read(a)).user.n, (await read(b)).user.n, (await read(c)).user], [1, 2, undefined], 'nothing written');
    const ok = await partial([{ id: a, set: { n: 11 } }, { id: b, set: { n: 11 } }], { expected: { [a]: va, [b]: (await read(b)).version } });
    assert.equal(ok.status, 200, ok.text);
  });

  test('expecting version 0 creates only; /api/v2 takes expected_versions too', LIMIT, async () => {
    const id = uid('new');
    assert.equal((await upsert([{ id, n: 1 }], { expected: { [id]: 0 } })).status, 201);
    assertEnvelope(await upsert([{ id, n: 2 }], { expected: { [id]: 0 } }), 412, 4);
    assertEnvelope(await upsert([{ id, n: 2 }], { headers: { 'If-Match': '"0"' } }), 412, 4);
    const { version } = await read(id);
    const v2 = await upsert([{ id, custom: { n: 3 } }], { v2: true, expected: { [id]: version } });
    assert.equal(v2.status, 201, v2.text);
    assert.equal(v2.json.versions[id] > version, true);
    assertEnvelope(await upsert([{ id, custom: { n: 4 } }], { v2: true, expected: { [id]: version } }), 412, 4);
    assert.equal((await read(id)).user.n, 3);
  });

  test('what is not a precondition is 400 code 4, and nothing is written', LIMIT, async () => {
    const id = uid('bad');
    await upsert([{ id, n: 1 }]);
    const cases = [
      upsert([{ id, n: 2 }, { id: uid('x') }], { headers: { 'If-Match': '"1"' } }),
      upsert([{ id, n: 2 }], { headers: { 'If-Match': 'W/"1"' } }),
      upsert([{ id, n: 2 }], { headers: { 'If-Match': 'abc' } }),
      upsert([{ id, n: 2 }], { expected: [1] }),
      upsert([{ id, n: 2 }], { expected: { [id]: -1 } }),
      upsert([{ id, n: 2 }], { expected: { [id]: '1' } }),
      partial([{ id, set: { n: 2 } }], { expected: { [id]: 1.5 } }),
    ];
    for (const res of await Promise.all(cases)) assertEnvelope(res, 400, 4);
    assert.equal((await read(id)).user.n, 1);
  });
});
