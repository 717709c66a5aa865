// Issue 26: changing ROSTER_HUBS (the number of connection hubs) breaks neither presence nor
// delivery for connections made under the old layout. Two ways a change meets live connections:
// - a gradual deployment, where Workers of the old and the new version forward connects side by
//   side, so one user can hold connections on its old hub and its new one at once (made to
//   happen with the test build's `x-roster-test-hubs` header on the upgrade);
// - a restart with the new setting (what a deploy does to every object): the old hubs' sockets
//   are gone, the Writer still lists them, and nothing may stay online forever.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverClient, startWorker, stats } from './harness.mjs';
import { hubStates, hubsOf, isPresence, open, sockets, storeNamed, until, watch } from './sockets.mjs';

const LONG = { timeout: 300_000 };

/** What `watcher` saw of `id`: presence as online/offline, updates as `user.updated:<round>`. */
const seen = (watcher, id) => watcher.frames
  .filter((f) => f.user?.id === id)
  .map((f) => (isPresence(f) ? (f.user.online ? 'online' : 'offline') : `${f.type}:${f.user.round}`));

describe('changing the number of hubs', () => {
  test('during a gradual deployment a user holds connections under both layouts: each gets its events, presence spans both', LONG, async () => {
    const w = await startWorker({ vars: { ROSTER_HUBS: '8' } });
    try {
      const server = serverClient(w);
      const ids = Array.from({ length: 12 }, (_, i) => `lay-${i}`);
      await storeNamed(server, [...ids, 'lay-watcher']);
      const NEW = { 'x-roster-test-hubs': '3' };
      const watcher = open(w, 'lay-watcher', { id: 'lay-watcher', name: 'Name lay-watcher' }, NEW);
      await watch(w, watcher, ids);
      // The old layout's connection of each user, then the new layout's.
      const old = ids.map((id) => open(w, id, { id, name: `Name ${id}` }));
      await Promise.all(old.map((c) => c.hello));
      const fresh = ids.map((id) => open(w, id, { id, name: `Name ${id}` }, NEW));
      await Promise.all(fresh.map((c) => c.hello));
      const split = [];
      for (const id of ids) if ((await hubsOf(w, id)).length === 2) split.push(id);
      // Fixed ids, a fixed hash: which of them move is decided, not drawn.
      assert.ok(split.length >= 6, `most users' hub differs between 8 and 3 hubs (${split})`);

      // Round 1 reaches both connections of each user, and the watcher once.
      await server.partialUpdateUsers(ids.map((id) => ({ id, set: { round: 1 } })));
      const both = [...old, ...fresh];
      await Promise.all(both.map((c) => c.next((f) => f.type === 'user.updated' && f.user.round === 1)));
      // The new layout's connections close: still online through the old hub.
      for (const c of fresh) c.ws.close();
      await until(async () => sockets(await stats(w)), (n) => n === ids.length + 1, 'the new connections closed');
      const still = await server.queryUsers({ id: { $in: split } }, {}, { presence: true });
      assert.ok(still.users.every((u) => u.online), 'online while the old layout\'s connection is open');
      // Round 2 reaches the old connections.
      await server.partialUpdateUsers(ids.map((id) => ({ id, set: { round: 2 } })));
      await Promise.all(old.map((c) => c.next((f) => f.type === 'user.updated' && f.user.round === 2)));
      for (const c of old) c.ws.close();
      await until(
        async () => ids.every((id) => seen(watcher, id).includes('offline')),
        (ok) => ok, 'every user went offline',
      );
      for (const id of ids) {
        assert.deepEqual(seen(watcher, id), ['online', 'user.updated:1', 'user.updated:2', 'offline'], id);
        const sent = old[ids.indexOf(id)].frames.filter((f) => f.type === 'user.updated').map((f) => f.user.round);
        assert.deepEqual(sent, [1, 2], `${id}'s old-layout connection got each update once`);
      }
      const after = await server.queryUsers({ id: { $in: ids } });
      assert.ok(after.users.every((u) => !u.online && u.last_active), 'offline, last_active written');
      watcher.ws.close();
    } finally {
      await w.stop();
    }
  });

  test('a restart with fewer hubs: users of the old hubs go offline, then connect to the new layout', LONG, async () => {
    const first = await startWorker({ vars: { ROSTER_HUBS: '8' } });
    const { persistTo, key, secret } = first;
    const ids = Array.from({ length: 16 }, (_, i) => `lay-r-${i}`);
    let oldHubs;
    try {
      await storeNamed(serverClient(first), ids);
      const conns = ids.map((id) => open(first, id, { id, name: `Name ${id}` }));
      await Promise.all(conns.map((c) => c.hello));
      oldHubs = new Set((await stats(first)).hubs.filter((h) => h.sockets > 0).map((h) => h.hub));
      assert.ok([...oldHubs].some((h) => Number(h.slice(4)) >= 3), `some users on hubs the new layout lacks: ${[...oldHubs]}`);
    } finally {
      await first.stop(); // the sockets go with the process, unannounced
    }
    const w = await startWorker({ persistTo, key, secret, vars: { ROSTER_HUBS: '3' } });
    try {
      const server = serverClient(w);
      // Nothing told the Writer; the old hubs' own alarms (or their leases) take the users
      // offline, with last_active written.
      const online = await server.queryUsers({ id: { $in: ids } }, {}, { presence: true });
      assert.ok(online.users.every((u) => u.online), 'the Writer still counts the old connections');
      await until(
        async () => (await server.queryUsers({ id: { $in: ids } })).users,
        (us) => us.length === ids.length && us.every((u) => !u.online && u.last_active),
        'every user of the old layout went offline', 150_000,
      );
      assert.equal(sockets(await stats(w)), 0);
      // Back under three hubs: connects land on hub-0..2 only, watched events arrive once.
      const watcher = open(w, 'lay-r-watcher');
      await watch(w, watcher, ids);
      const conns = ids.map((id) => open(w, id, { id, name: `Name ${id}` }));
      await Promise.all(conns.map((c) => c.hello));
      const states = await hubStates(w);
      const holding = states.filter((h) => h.sockets > 0).map((h) => h.hub).sort();
      assert.ok(holding.every((h) => ['hub-0', 'hub-1', 'hub-2'].includes(h)), `new connections on the new layout: ${holding}`);
      await server.partialUpdateUsers(ids.map((id) => ({ id, set: { round: 1 } })));
      for (const c of conns) c.ws.close();
      await until(
        async () => ids.every((id) => seen(watcher, id).includes('offline')),
        (ok) => ok, 'every user went offline again',
      );
      for (const id of ids) assert.deepEqual(seen(watcher, id), ['online', 'user.updated:1', 'offline'], id);
      watcher.ws.close();
    } finally {
      await w.stop();
    }
  });
});
