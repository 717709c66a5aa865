// Race-free writes (issues 6 and 13): concurrent writers against the real Worker in workerd. Every
// write is one command to the Writer Durable Object, which reads its SQLite state, decides and
// commits without awaiting anything in between, so no request can be computed from state that
// another one changed meanwhile, whatever token it carries. Asserted: exactly one winner of a
// name, no lost field (server and user tokens mixed), every concurrent PATCH /app kept, no two
// users sharing a name. Bounded: 25/50/40/40/12 requests on loopback, each with the SDK's timeout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMIT, raw, serverClient, signJwt, startWorker, uid } from './harness.mjs';

/** The core's username normalization: each character lowercased on its own (no final-sigma or
 * other context rules), then every character that is not alphabetic or numeric dropped. */
export function normalize(name) {
  return [...name].map((c) => c.toLowerCase()).join('')
    .split('').filter((c) => /[\p{Alphabetic}\p{N}]/u.test(c)).join('');
}

let w;
let client;
before(async () => {
  w = await startWorker();
  client = serverClient(w);
});
after(() => w?.stop());

describe('the Writer serializes every write', () => {
  test('normalize here is the core\'s', () => {
    assert.equal(normalize('John.Doe'), 'johndoe');
    assert.equal(normalize('ΟΔΟΣ'), 'οδοσ', 'no final-sigma rule: each letter on its own');
    assert.equal(normalize('İstanbul'), 'istanbul', 'the combining dot of İ is dropped');
    assert.equal(normalize('Ⅻ 42'), 'ⅻ42', 'letter numbers are kept');
  });

  test('25 users claim one name: exactly one wins, the stored users agree', LIMIT, async () => {
    const run = uid('r');
    await client.updateAppSettings({ enforce_unique_usernames: 'app' });
    try {
      const name = `Racer ${run}`;
      const ids = Array.from({ length: 25 }, (_, i) => `${run}-u${i}`);
      const claims = await Promise.allSettled(ids.map((id) => client.upsertUsers([{ id, name }])));
      const won = claims.filter((r) => r.status === 'fulfilled');
      const codes = claims.filter((r) => r.status === 'rejected').map((r) => r.reason.code);
      assert.equal(won.length, 1, 'exactly one of 25 claimants wins the name');
      assert.deepEqual(codes, Array(24).fill(6), 'the other 24 get code 6');
      const stored = (await client.queryUsers({ id: { $in: ids } }, [], { limit: 100 })).users;
      const holders = stored.filter((u) => normalize(u.name ?? '') === normalize(name));
      assert.deepEqual(holders.map((u) => u.id), Object.keys(won[0].value.users));
    } finally {
      await client.updateAppSettings({ enforce_unique_usernames: 'no' });
    }
  });

  test('50 concurrent partial updates of one user keep all 50 fields', LIMIT, async () => {
    const target = uid('target');
    await client.upsertUsers([{ id: target }]);
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.partialUpdateUser({ id: target, set: { [`f${i}`]: i } })));
    const [stored] = (await client.queryUsers({ id: target })).users;
    assert.equal(Object.keys(stored).filter((k) => /^f\d+$/.test(k)).length, 50);
  });

  test('40 concurrent partial updates, half with the user\'s own token, lose no field', LIMIT, async () => {
    // A user token's record is read for its revocation cut-off: that read and the write are one
    // command now, so a user-token write cannot be computed from a record read before its body.
    const id = uid('mixed');
    await client.upsertUsers([{ id, name: 'Mixed' }]);
    const token = signJwt({ user_id: id }, w.secret);
    const writes = Array.from({ length: 40 }, async (_, i) => {
      const set = { [`m${i}`]: i, [`nested.k${i}`]: i };
      if (i % 2 === 0) return client.partialUpdateUser({ id, set });
      const res = await raw(w, 'PATCH', '/users', { token, body: { users: [{ id, set }] } });
      if (res.status !== 200) throw new Error(res.text);
      return res.json;
    });
    const results = await Promise.allSettled(writes);
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
    assert.deepEqual(failed, [], 'every write succeeds');
    const [stored] = (await client.queryUsers({ id })).users;
    const kept = Array.from({ length: 40 }, (_, i) => i).filter((i) => stored[`m${i}`] === i && stored.nested[`k${i}`] === i);
    assert.equal(kept.length, 40, `fields kept: ${kept.length} of 40`);
  });

  test('12 concurrent PATCH /app calls each changing a different setting all stick', LIMIT, async () => {
    // Twelve of Stream's settings that Roster stores as sent; only unknown keys are dropped.
    // (Not webhook_url, which must be a URL and would be called; not read-only ones.)
    const keys = ['sqs_url', 'sqs_key', 'sqs_secret', 'sns_topic_arn', 'sns_key', 'sns_secret',
      'custom_action_handler_url', 'before_message_send_hook_url', 'moderation_webhook_url',
      'moderation_s3_image_access_role_arn', 'chat_primary_use_case', 'video_primary_use_case'];
    const run = uid('app');
    await Promise.all(keys.map((k, i) => client.updateAppSettings({ [k]: `${run}-${i}` })));
    const { app } = await client.getAppSettings();
    const kept = keys.filter((k, i) => app[k] === `${run}-${i}`);
    assert.equal(kept.length, 12, `settings kept: ${kept.length} of 12`);
  });

  test('40 concurrent renames among three names never leave two users sharing one', LIMIT, async () => {
    const run = uid('s');
    await client.updateAppSettings({ enforce_unique_usernames: 'app' });
    try {
      const a = `${run}-a`;
      const b = `${run}-b`;
      const names = [`Alpha ${run}`, `Beta ${run}`, `Gamma ${run}`];
      await client.upsertUsers([{ id: a, name: names[0] }, { id: b, name: names[1] }]);
      const renames = Array.from({ length: 40 }, (_, i) =>
        client.partialUpdateUser({ id: i % 2 ? b : a, set: { name: names[(i * 7 + 2) % 3] } }));
      const swaps = await Promise.allSettled(renames);
      const errors = swaps.filter((r) => r.status === 'rejected').map((r) => r.reason.code);
      assert.ok(errors.every((c) => c === 6), `renames fail only with code 6: ${errors}`);
      assert.ok(errors.length < 40, 'some renames went through');
      const pair = (await client.queryUsers({ id: { $in: [a, b] } })).users;
      assert.equal(new Set(pair.map((u) => normalize(u.name))).size, 2, 'no two users hold one name');
    } finally {
      await client.updateAppSettings({ enforce_unique_usernames: 'no' });
    }
  });
});
