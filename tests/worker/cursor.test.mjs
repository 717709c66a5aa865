// Keyset cursors for queryUsers (issue 27, "walk every user"; Roster's own addition): raw HTTP,
// since no Stream SDK sends `next`/`prev` to its user query. A query with an indexed sort
// answers with `next` (more users follow; the key is absent on the last page) and `prev` (users
// precede; absent on the first page), and takes either back in its payload.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMIT, assertEnvelope, raw, serverClient, serverPool, userClient } from './harness.mjs';

const start = serverPool();
let w;
let server;
before(async () => {
  w = await start();
  server = serverClient(w);
});

const V1 = '/users';
const V2 = '/api/v2/users';
const pad = (i) => String(i).padStart(4, '0');

/** One page: a 200's body. */
async function page(path, payload, { token, server: at = w } = {}) {
  const res = await raw(at, 'GET', path, { query: { payload }, token });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** A query's refusal: Stream's envelope, 400 code 4. */
async function refused(path, payload, message) {
  const res = await raw(w, 'GET', path, { query: { payload } });
  assertEnvelope(res, 400, 4, message);
}

/**
 * Walks a query with `next` from its first page to its last, then with `prev` back to the
 * first. Checks the cursors on each page: no `prev` on the first, no `next` on the last (the
 * keys are absent), both between. Returns the users of the forward walk, in order, and the ids
 * of the backward one (in the query's order too).
 */
async function walk(path, payload, opts = {}) {
  let p = await page(path, payload, opts);
  assert.equal('prev' in p, false, 'the first page has no prev');
  const pages = [p];
  while (p.next !== undefined) {
    assert.equal(typeof p.next, 'string');
    p = await page(path, { ...payload, next: p.next }, opts);
    assert.equal(typeof p.prev, 'string', 'a page reached by next has a prev');
    pages.push(p);
    assert.ok(pages.length < 500, 'the walk ends');
  }
  assert.equal('next' in p, false, 'the last page has no next');
  const users = pages.flatMap((q) => q.users);
  let back = p.users.map((u) => u.id);
  while (p.prev !== undefined) {
    p = await page(path, { ...payload, prev: p.prev }, opts);
    assert.equal(typeof p.next, 'string', 'a page reached by prev has a next');
    back = [...p.users.map((u) => u.id), ...back];
    assert.ok(back.length <= users.length, 'walking back repeats no one');
  }
  return { users, ids: users.map((u) => u.id), back, pages };
}

function assertOnce(ids, expected, what) {
  assert.equal(new Set(ids).size, ids.length, `${what}: a user twice`);
  assert.deepEqual([...ids].sort(), [...expected].sort(), `${what}: not every user`);
}

describe('walking every user', () => {
  const all = Array.from({ length: 1000 }, (_, i) => `walk-${pad(i)}`);

  before(async () => {
    for (let i = 0; i < all.length; i += 100) {
      await server.upsertUsers(all.slice(i, i + 100).map((id, j) => ({ id, name: `Walker ${i + j}`, n: i + j })));
    }
    // Three users get a last_active (others have none): connected once, then gone.
    for (const id of [all[5], all[500], all[999]]) {
      const c = userClient(w);
      await c.connectUser({ id }, server.createToken(id));
      await c.disconnectUser();
    }
  });

  test('1,000 users, 30 a page, through v1 and v2: each once, in order, and back', { timeout: 180_000 }, async () => {
    for (const path of [V1, V2]) {
      const { ids, back, pages, users } = await walk(path, { limit: 30 });
      assertOnce(ids, all, path);
      assert.equal(pages.length, 34, '33 full pages and one of 10');
      assert.deepEqual(back, ids, `${path}: prev walks back over the same users`);
      if (path === V1) {
        // The default order: created_at, then id, both descending.
        for (let i = 1; i < users.length; i++) {
          const [a, b] = [users[i - 1], users[i]];
          assert.ok(a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id), `${a.id} before ${b.id}`);
        }
      }
    }
    // Without writes in between, a cursor's page is the offset page (Stream's paging unchanged).
    const first = await page(V1, { limit: 30 });
    const byOffset = await page(V1, { limit: 30, offset: 30 });
    const byCursor = await page(V1, { limit: 30, next: first.next });
    assert.deepEqual(byCursor.users.map((u) => u.id), byOffset.users.map((u) => u.id));
    assert.equal(typeof byOffset.next, 'string', 'an offset page has cursors too');
    assert.equal(typeof byOffset.prev, 'string');
    // A cursor does not hold the limit, and one from v1 continues on v2 (the same query).
    const wider = await page(V2, { limit: 45, next: first.next });
    assert.deepEqual(wider.users.map((u) => u.id), [...byOffset.users, ...(await page(V1, { limit: 15, offset: 60 })).users].map((u) => u.id));
    // A query that fits one page has neither cursor.
    const one = await page(V1, { filter_conditions: { id: { $in: all.slice(0, 3) } } });
    assert.equal(one.users.length, 3);
    assert.equal('next' in one || 'prev' in one, false, 'a single page has neither cursor');
  });

  test('other indexed sorts, with absent last_active last in either direction', { timeout: 180_000 }, async () => {
    const active = [all[5], all[500], all[999]];
    for (const sort of [
      [{ field: 'last_active', direction: -1 }],
      [{ field: 'last_active', direction: 1 }, { field: 'id', direction: -1 }],
      [{ field: 'updated_at', direction: 1 }],
      [{ field: 'id', direction: 1 }],
    ]) {
      const { ids, back, users } = await walk(V1, { sort, limit: 100, filter_conditions: { n: { $gte: 0 } } });
      assertOnce(ids, all, JSON.stringify(sort));
      assert.deepEqual(back, ids);
      if (sort[0].field === 'last_active') {
        assert.deepEqual([...ids.slice(0, 3)].sort(), active, 'users with a last_active first, whatever the direction');
        const times = users.slice(0, 3).map((u) => u.last_active);
        assert.deepEqual(times, [...times].sort((a, b) => (sort[0].direction === 1 ? a.localeCompare(b) : b.localeCompare(a))));
        const rest = ids.slice(3);
        const byId = [...rest].sort();
        assert.deepEqual(rest, sort[1]?.direction === -1 ? byId.reverse() : byId, 'then the rest by id');
      }
      if (sort[0].field === 'id') assert.deepEqual(ids, [...all].sort());
    }
  });

  test('a cursor that cannot be taken is 400 code 4', LIMIT, async () => {
    const q = { filter_conditions: { n: { $lt: 500 } }, limit: 10 };
    const first = await page(V1, q);
    const second = await page(V1, { ...q, next: first.next });
    const feedLike = '7.walk-0001.0123abcd';
    for (const bad of ['x', '!!!', 'eyJhbGciOiJIUzI1NiJ9', Buffer.from('[1,"n","zz",[]]').toString('base64url'), feedLike, 'A'.repeat(3000), second.prev]) {
      await refused(V1, { ...q, next: bad }, /QueryUsers failed with error: "next is not a next cursor/);
    }
    await refused(V1, { ...q, prev: first.next }, /prev is not a prev cursor/);
    await refused(V1, { ...q, next: 12 }, /next must be a cursor string/);
    await refused(V1, { ...q, next: first.next, prev: second.prev }, /not both/);
    await refused(V1, { ...q, next: first.next, offset: 10 }, /next cannot be combined with offset/);
    await refused(V1, { ...q, sort: [{ field: 'name' }], next: first.next }, /indexed fields/);
    // Sent again with another filter or sort: refused, through v2 as well.
    for (const other of [
      { ...q, filter_conditions: { n: { $lt: 501 } } },
      { ...q, filter_conditions: {} },
      { ...q, sort: [{ field: 'created_at', direction: 1 }] },
      { ...q, sort: [{ field: 'id', direction: -1 }] },
      { ...q, include_deactivated_users: true },
    ]) {
      for (const path of [V1, V2]) await refused(path, { ...other, next: first.next }, /next belongs to another query/);
    }
    // Unindexed sorts page as Stream does, without cursors; an empty or null cursor is none.
    const byName = await page(V1, { ...q, sort: [{ field: 'name', direction: 1 }] });
    assert.equal(byName.users.length, 10);
    assert.equal('next' in byName || 'prev' in byName, false);
    assert.deepEqual((await page(V1, { ...q, next: '', prev: null })).users, first.users);
  });
});

describe('walks and writes', () => {
  test('a walk during inserts, renames and deletes: no one twice, no unchanged user skipped', { timeout: 180_000 }, async (t) => {
    const ids = Array.from({ length: 300 }, (_, i) => `busy-${pad(i)}`);
    for (let i = 0; i < ids.length; i += 100) {
      await server.upsertUsers(ids.slice(i, i + 100).map((id) => ({ id, name: id, teams: ['busy'] })));
    }
    // Every third user renamed, every fifth soft- or hard-deleted; the rest never touched.
    const renamed = ids.filter((_, i) => i % 3 === 0);
    const deleted = ids.filter((_, i) => i % 5 === 0 && i % 3 !== 0);
    const unchanged = ids.filter((id) => !renamed.includes(id) && !deleted.includes(id));
    const q = { filter_conditions: { teams: 'busy' }, limit: 5 };
    const seen = [];
    let written = 0;
    let writtenDuringWalk;
    const paging = (async () => {
      let p = await page(V1, q);
      seen.push(...p.users.map((u) => u.id));
      while (p.next !== undefined) {
        p = await page(V1, { ...q, next: p.next });
        seen.push(...p.users.map((u) => u.id));
      }
      writtenDuringWalk = written;
    })();
    const writes = [
      (async () => {
        for (let i = 0; i < 40; i++, written++) await server.upsertUsers([{ id: `busy-new-${pad(i)}`, name: 'New', teams: ['busy'] }]);
      })(),
      (async () => {
        for (const id of renamed) {
          await server.partialUpdateUser({ id, set: { name: `${id} renamed` } });
          written++;
        }
      })(),
      (async () => {
        for (const [i, id] of deleted.entries()) {
          await server.deleteUser(id, i % 2 ? { hard_delete: true } : {});
          written++;
        }
      })(),
    ];
    await Promise.all([paging, ...writes]);
    // However they interleaved (the assertions hold for any order), say how many writes landed mid-walk.
    t.diagnostic(`${writtenDuringWalk} of ${written} writes committed while the walk ran`);
    assert.equal(new Set(seen).size, seen.length, `a user twice: ${seen.filter((id, i) => seen.indexOf(id) !== i)}`);
    const missed = unchanged.filter((id) => !seen.includes(id));
    assert.deepEqual(missed, [], 'every user unchanged throughout was visited');
  });
});

describe('walks under multi-tenancy', () => {
  let t;
  let ts;
  before(async () => {
    t = await start();
    ts = serverClient(t);
    await ts.updateAppSettings({ multi_tenant_enabled: true });
    const users = [];
    for (let i = 0; i < 60; i++) users.push({ id: `ta-${pad(i)}`, teams: ['A'] }, { id: `tb-${pad(i)}`, teams: ['B'] });
    users.push({ id: 'tab', teams: ['A', 'B'] }, { id: 'nomad' });
    for (let i = 0; i < users.length; i += 100) await ts.upsertUsers(users.slice(i, i + 100));
  });

  test('a user token walks its own teams on every page, and cannot carry a cursor elsewhere', LIMIT, async () => {
    const asA = { server: t, token: ts.createToken('ta-0000') };
    const asB = { server: t, token: ts.createToken('tb-0000') };
    const pageAs = (who, payload) => raw(t, 'GET', V1, { query: { payload }, token: who.token });
    const expectA = [...Array.from({ length: 60 }, (_, i) => `ta-${pad(i)}`), 'tab'];
    for (const path of [V1, V2]) {
      const { ids, back } = await walk(path, { limit: 7 }, asA);
      assertOnce(ids, expectA, `team A via ${path}`);
      assert.deepEqual(back, ids);
    }
    // Probing wider with the same walk is refused or stays inside team A.
    const first = await page(V1, { limit: 7 }, asA);
    assertEnvelope(await pageAs(asB, { limit: 7, next: first.next }), 400, 4, /next belongs to another query/);
    assertEnvelope(await pageAs(asA, { limit: 7, next: first.next, filter_conditions: { teams: 'B' } }), 403, 17);
    assertEnvelope(await pageAs(asA, { limit: 7, next: first.next, filter_conditions: { id: { $gt: '' } } }), 400, 4);
    const serverFirst = await page(V1, { limit: 7 }, { server: t });
    assertEnvelope(await pageAs(asA, { limit: 7, next: serverFirst.next }), 400, 4, /next belongs to another query/);
  });
});
