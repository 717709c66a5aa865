// Issue 27, item 4: GET /users/changes, Roster's change feed. A consumer that only follows the
// feed rebuilds exactly the Writer's users — while writes of every kind run concurrently, and
// across a restart of the server (the feed lives in the Writer's SQLite). Bad cursors and
// limits are 400 in Stream's envelope; only a server token may read it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, fileServer, LIMIT, raw, serverClient, signJwt, startWorker, uid, writerUsers } from './harness.mjs';

/** One page of the feed (raw: no SDK has this endpoint). */
async function changes(w, query = {}) {
  const res = await raw(w, 'GET', '/users/changes', { query });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

/** Follows the feed from `cursor` until an empty page, applying each change to `mirror`. */
async function follow(w, mirror, cursor, limit = 7) {
  for (;;) {
    const page = await changes(w, { ...(cursor ? { since: cursor } : {}), limit: String(limit) });
    let lastSeq = -Infinity;
    for (const c of page.changes) {
      assert.ok(c.seq >= lastSeq, 'changes come in commit order');
      assert.equal(c.version, c.seq);
      lastSeq = c.seq;
      mirror.set(c.user.id, c.user);
    }
    cursor = page.next;
    if (page.changes.length === 0) return cursor;
  }
}

/** The Writer's users as the feed shows them: stored state, a tombstone for a hard delete. */
function expected(rows) {
  const out = new Map();
  for (const [id, u] of Object.entries(rows)) {
    if (u.__hard_deleted) {
      out.set(id, { id, deleted: true });
    } else {
      out.set(id, u);
    }
  }
  return out;
}

describe('the change feed', () => {
  const s = fileServer();

  test('refuses bad cursors and limits with code 4, and user tokens with code 17', LIMIT, async () => {
    const first = await changes(s.w, { limit: '1' });
    assert.equal(typeof first.next, 'string');
    for (const since of ['nope', '5', `${first.next}x`, '999999.someone.00000000']) {
      assertEnvelope(await raw(s.w, 'GET', '/users/changes', { query: { since } }), 400, 4);
    }
    for (const limit of ['0', '1001', '-3', 'many']) {
      assertEnvelope(await raw(s.w, 'GET', '/users/changes', { query: { limit } }), 400, 4);
    }
    const id = uid('feed-user');
    await s.server.upsertUser({ id });
    assertEnvelope(await raw(s.w, 'GET', '/users/changes', { token: signJwt({ user_id: id }, s.w.secret) }), 403, 17);
    assertEnvelope(await raw(s.w, 'GET', '/api/v2/users/changes', { token: signJwt({ user_id: id }, s.w.secret) }), 403, 17);
    assert.equal((await raw(s.w, 'GET', '/api/v2/users/changes')).status, 200);
  });

  test('a follower rebuilds exactly the Writer\'s users while every kind of write runs', LIMIT, async () => {
    const run = uid('f');
    const ids = Array.from({ length: 40 }, (_, i) => `${run}-${i}`);
    await s.server.upsertUsers(ids.map((id, i) => ({ id, name: `User ${i}`, n: i })));
    const mirror = new Map();
    let cursor;
    let writing = true;
    const writes = (async () => {
      try {
        await Promise.all(ids.map(async (id, i) => {
          await s.server.partialUpdateUser({ id, set: { n: i * 10, nested: { at: i } } });
          if (i % 5 === 0) await s.server.deleteUser(id, { hard_delete: true });
          else if (i % 5 === 1) await s.server.deactivateUser(id);
          else if (i % 5 === 2) await s.server.partialUpdateUser({ id, unset: ['n'] });
          else await s.server.upsertUser({ id, name: `Renamed ${i}`, extra: [i] });
        }));
      } finally {
        writing = false;
      }
    })();
    // Follow while the writes run (however they interleave), then once more after them.
    while (writing) cursor = await follow(s.w, mirror, cursor, 5);
    await writes;
    cursor = await follow(s.w, mirror, cursor, 5);
    const want = expected(await writerUsers(s.w));
    assert.deepEqual(new Map([...mirror].sort()), new Map([...want].sort()));
    // A new follower from the start reaches the same state in fewer, compacted entries.
    const fresh = new Map();
    await follow(s.w, fresh, undefined, 1000);
    assert.deepEqual(new Map([...fresh].sort()), new Map([...want].sort()));
    const tail = await changes(s.w, { since: cursor });
    assert.deepEqual([tail.changes, tail.next], [[], cursor], 'an empty page keeps the cursor');
  });

  test('one commit of many users can be split across pages without skipping any', LIMIT, async () => {
    const start = await follow(s.w, new Map(), undefined, 1000); // the end of the feed so far
    const ids = Array.from({ length: 30 }, (_, i) => uid(`batch${i}`));
    await s.server.upsertUsers(ids.map((id) => ({ id }))); // one commit, one sequence number
    const seen = [];
    let cursor = start;
    for (;;) {
      const page = await changes(s.w, { since: cursor, limit: '4' });
      if (page.changes.length === 0) break;
      seen.push(...page.changes.map((c) => c.user.id));
      assert.equal(new Set(page.changes.map((c) => c.seq)).size, 1, 'all at one sequence number');
      cursor = page.next;
    }
    assert.deepEqual([...seen].sort(), [...ids].sort());
  });
});

describe('the change feed across a restart', () => {
  test('a cursor from before a restart continues after it, nothing lost or repeated', LIMIT, async () => {
    let w = await startWorker();
    const { persistTo, key, secret } = w;
    try {
      const server = serverClient(w);
      const a = uid('before');
      await server.upsertUsers([{ id: a, v: 1 }]);
      const mirror = new Map();
      const cursor = await follow(w, mirror);
      await w.stop();
      w = await startWorker({ persistTo, key, secret });
      const again = serverClient(w);
      const b = uid('after');
      await again.upsertUsers([{ id: b, v: 2 }]);
      await again.partialUpdateUser({ id: a, set: { v: 3 } });
      const page = await changes(w, { since: cursor });
      assert.deepEqual(page.changes.map((c) => [c.user.id, c.user.v]), [[b, 2], [a, 3]]);
      await follow(w, mirror, cursor);
      assert.deepEqual(new Map([...mirror].sort()), new Map([...expected(await writerUsers(w))].sort()));
    } finally {
      await w.stop();
    }
  });
});
