// Issue 26, part 5: GET /roster/stats, the operator's view of the Writer, through raw HTTP (no
// SDK speaks it) and the official stream-chat SDK for the traffic it counts. One server for the
// file, so every command between two reads is this file's own.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertEnvelope, drained, kvFault, raw, serverClient, signJwt, startWorker, uid, userClient, LIMIT, stats as readStats } from './harness.mjs';

let w;
let server;
before(async () => {
  w = await startWorker();
  server = serverClient(w);
});
after(async () => {
  await w?.stop();
});

const stats = () => readStats(w);

/** Reads stats until `ok(stats)` holds (a socket's close reaches the Writer after the client's). */
async function statsUntil(ok, what) {
  for (let i = 0; i < 200; i++) {
    const s = await stats();
    if (ok(s)) return s;
    await sleep(50);
  }
  assert.fail(`stats never showed ${what}`);
}

test('shape: the Writer and its hubs; user tokens are refused with code 17', LIMIT, async () => {
  const s = await stats();
  assert.deepEqual(Object.keys(s).sort(), ['duration', 'hubs', 'writer']);
  assert.deepEqual(Object.keys(s.writer).sort(), [
    'commands', 'commands_per_minute', 'commands_total', 'connects', 'disconnects', 'event_backlog',
    'outbox_backlog', 'seq', 'started_at', 'webhook_backlog',
  ]);
  assert.deepEqual(Object.keys(s.writer.commands).sort(), ['hub_reports', 'requests']);
  assert.ok(!Number.isNaN(Date.parse(s.writer.started_at)));
  assert.deepEqual(s.hubs, [], 'no hub has reported yet');
  const id = uid('st');
  assertEnvelope(await raw(w, 'GET', '/roster/stats', { token: signJwt({ user_id: id }, w.secret) }), 403, 17);
  assertEnvelope(await raw(w, 'GET', '/roster/stats', { token: null }), 401, 5);
});

test('commands_total counts every command between two reads, and no stats read', LIMIT, async () => {
  const a = await stats();
  await stats();
  await stats();
  const b = await stats();
  assert.equal(b.writer.commands_total, a.writer.commands_total, 'stats reads are not commands');
  const ids = [uid('st'), uid('st')];
  await server.upsertUsers(ids.map((id) => ({ id, name: `Stats ${id}` })));
  await server.partialUpdateUser({ id: ids[0], set: { color: 'red' } });
  await server.queryUsers({ id: { $in: ids } });
  await server.getAppSettings();
  // Refused at the edge (bad token): never reaches the Writer, not counted.
  assert.equal((await raw(w, 'GET', '/users', { token: signJwt({ server: true }, 'wrong') })).status, 401);
  const c = await stats();
  assert.equal(c.writer.commands_total - b.writer.commands_total, 4);
  assert.equal(c.writer.commands.requests - b.writer.commands.requests, 4);
  assert.ok(c.writer.commands_per_minute >= 4 && c.writer.commands_per_minute <= c.writer.commands_total);
  assert.ok(c.writer.seq > b.writer.seq, 'the writes moved the commit sequence');
});

test('sockets and connects: a connect and a disconnect through the SDK, each one hub report', LIMIT, async () => {
  const id = uid('st');
  const a = await stats();
  const client = userClient(w);
  await client.connectUser({ id, name: 'Socket' }, signJwt({ user_id: id }, w.secret));
  const b = await stats();
  const sockets = (s) => s.hubs.reduce((n, h) => n + h.sockets, 0);
  assert.equal(sockets(b) - sockets(a), 1, 'one socket, on one hub');
  assert.equal(b.hubs.length, 1);
  assert.match(b.hubs[0].hub, /^hub-\d+$/);
  assert.ok(!Number.isNaN(Date.parse(b.hubs[0].as_of)));
  assert.equal(b.writer.connects - a.writer.connects, 1);
  assert.equal(b.writer.commands.hub_reports - a.writer.commands.hub_reports, 1, 'the connect was one command');
  assert.equal(b.writer.commands_total - a.writer.commands_total, 1);
  await client.disconnectUser();
  const c = await statsUntil((s) => sockets(s) === 0 && s.writer.disconnects > b.writer.disconnects, 'the socket closed');
  assert.equal(c.writer.disconnects - b.writer.disconnects, 1);
  assert.equal(c.writer.commands.hub_reports - b.writer.commands.hub_reports, 1, 'the close was one command');
});

test('outbox_backlog: writes waiting for KV, and none once replicated', LIMIT, async () => {
  await kvFault(w, 'fail');
  const ids = [uid('st'), uid('st'), uid('st')];
  await server.upsertUsers(ids.map((id) => ({ id })));
  const s = await stats();
  assert.ok(s.writer.outbox_backlog >= 3, `three records wait (${s.writer.outbox_backlog})`);
  await kvFault(w, 'none');
  await drained(w);
  assert.equal((await stats()).writer.outbox_backlog, 0);
});
