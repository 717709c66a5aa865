// Issue 26: an app's sockets on connection hubs. One Worker with 8 hubs (ROSTER_HUBS) for the
// file. Sockets are raw `ws` connections speaking the SDK's protocol (the SDK reconnects on its
// own after a close, which would blur what a hub crash does); the server side is the official
// stream-chat SDK. Counts of Writer commands come from GET /roster/stats, the test hooks hold a
// hub's reports (so that "arrived together" is made to happen, not hoped for) and crash it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hook, serverClient, startWorker, stats as readStats } from './harness.mjs';
import { hubStates, hubsOf, isPresence, open as open_, sockets, storeNamed, until, watch } from './sockets.mjs';

const HUBS = 8;
const LONG = { timeout: 240_000 };
let w;
let server;
before(async () => {
  w = await startWorker({ vars: { ROSTER_HUBS: String(HUBS) } });
  server = serverClient(w);
});
after(async () => {
  await w?.stop();
});

const stats = () => readStats(w);

const hubs = (what, hub) => hubStates(w, what, hub);
const open = (id, details) => open_(w, id, details);

/** The hub holding a user's connections. */
async function hubOf(id) {
  const found = await hubsOf(w, id);
  assert.equal(found.length, 1, `${id} is on exactly one hub`);
  return found[0];
}

const upsertAll = (ids) => storeNamed(server, ids);

describe('hubs', () => {
  test('1,000 concurrent sockets spread over every hub, none held by the Writer', LONG, async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `hub-k-${i}`);
    await upsertAll(ids);
    const before = await stats();
    const conns = ids.map((id) => open(id, { id, name: `Name ${id}` }));
    const hellos = await Promise.all(conns.map((c) => c.hello));
    assert.ok(hellos.every((f, i) => f.type === 'health.check' && f.me.id === ids[i]), 'each got its own me');
    assert.equal(new Set(hellos.map((f) => f.connection_id)).size, 1000, 'distinct connection ids');
    const s = await stats();
    assert.equal(sockets(s) - sockets(before), 1000);
    assert.equal(s.hubs.length, HUBS, 'every hub holds some');
    assert.ok(s.hubs.every((h) => h.sockets > 0), JSON.stringify(s.hubs));
    const states = await hubs();
    assert.equal(states.reduce((n, h) => n + h.sockets, 0), sockets(s), 'the hubs hold what the Writer counts');
    for (const h of states) {
      for (const u of h.users) assert.equal(states.filter((o) => o.users.includes(u)).length, 1, `${u} on one hub`);
    }
    assert.ok(s.writer.commands.hub_reports - before.writer.commands.hub_reports <= 1000);
    for (const c of conns) c.ws.close();
    await until(stats, (x) => sockets(x) === sockets(before), 'every socket closed');
  });

  test('watchers on one hub get every change of users on other hubs exactly once, in commit order', LONG, async () => {
    const targets = Array.from({ length: 24 }, (_, i) => `hub-t-${i}`);
    await upsertAll([...targets, 'hub-watcher']);
    const watcher = open('hub-watcher', { id: 'hub-watcher', name: 'Name hub-watcher' });
    await watch(w, watcher, targets);
    const conns = targets.map((id) => open(id, { id, name: `Name ${id}` }));
    await Promise.all(conns.map((c) => c.hello));
    const home = await hubOf('hub-watcher');
    const elsewhere = [];
    for (const id of targets) if ((await hubOf(id)) !== home) elsewhere.push(id);
    assert.ok(elsewhere.length >= 12, `most targets live on other hubs than the watcher's (${elsewhere.length})`);
    // Five rounds of changes; from the third, the watcher's hub loses its next three
    // acknowledgements (it gets the same events again and must skip them).
    for (let round = 1; round <= 5; round++) {
      if (round === 3) await hook(w, 'lose-acks', JSON.stringify({ hub: home, n: 3 }));
      await server.partialUpdateUsers(targets.map((id) => ({ id, set: { round } })));
    }
    // Two go away uncleanly (no close frame), the rest close.
    conns[0].ws.terminate();
    conns[1].ws.terminate();
    for (const c of conns.slice(2)) c.ws.close();
    await until(
      async () => watcher.frames.filter((f) => isPresence(f) && !f.user.online).length,
      (n) => n >= targets.length,
      'every target went offline',
    );
    await until(async () => (await stats()).writer.event_backlog, (n) => n === 0, 'the event backlog emptied');
    const lost = await hook(w, 'lose-acks', JSON.stringify({ hub: home, n: 0 }));
    assert.equal(lost.left, '0', 'the three acknowledgements were lost (and those events sent again)');
    for (const id of targets) {
      const seen = watcher.frames
        .filter((f) => f.user?.id === id)
        .map((f) => (isPresence(f) ? (f.user.online ? 'online' : 'offline') : `${f.type}:${f.user.round}`));
      assert.deepEqual(seen, [
        'online', 'user.updated:1', 'user.updated:2', 'user.updated:3', 'user.updated:4', 'user.updated:5', 'offline',
      ], id);
    }
    const [stored] = (await server.queryUsers({ id: targets[0] })).users;
    assert.equal(stored.online, false);
    watcher.ws.close();
  });

  test('a crashed hub cannot leave its users online: its lease lapses, or it comes back and says so', LONG, async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `hub-c-${i}`);
    await upsertAll([...ids, 'hub-cw']);
    const watcher = open('hub-cw', { id: 'hub-cw', name: 'Name hub-cw' });
    await watcher.hello;
    const home = await hubOf('hub-cw');
    const conns = ids.map((id) => open(id, { id, name: `Name ${id}` }));
    await Promise.all(conns.map((c) => c.hello));
    const where = {};
    for (const id of ids) where[id] = await hubOf(id);
    const others = [...new Set(Object.values(where))].filter((h) => h !== home);
    assert.ok(others.length >= 2, `targets on two hubs besides the watcher's: ${others}`);
    const [lapsing, restarting] = others;
    const on = (hub) => ids.filter((id) => where[id] === hub);
    const watched = [...on(lapsing), ...on(restarting)];
    const found = await watch(w, watcher, watched);
    assert.ok(found.every((u) => u.online), 'all online');
    const offline = (id) => watcher.frames.filter((f) => isPresence(f) && f.user.id === id && !f.user.online).length;

    // A crash: the hub's sockets close and it reports nothing; the Writer still counts them.
    await hubs('crash', lapsing);
    await Promise.all(on(lapsing).map((id) => conns[ids.indexOf(id)].closed));
    const still = await server.queryUsers({ id: { $in: on(lapsing) } }, {}, { presence: true });
    assert.ok(still.users.every((u) => u.online), 'nobody told the Writer');
    // Its lease runs out (made to happen now): the users go offline, each once.
    await hook(w, 'expire-hub', lapsing);
    await until(async () => on(lapsing).every((id) => offline(id) === 1), (ok) => ok, 'the lapsed hub\'s users went offline');
    const after = await server.queryUsers({ id: { $in: on(lapsing) } });
    assert.ok(after.users.every((u) => !u.online && u.last_active), 'offline, last_active written');

    // The other hub crashes and comes back: its first report lists what it holds (nothing).
    await hubs('crash', restarting);
    await Promise.all(on(restarting).map((id) => conns[ids.indexOf(id)].closed));
    await hubs('restart', restarting);
    await until(async () => on(restarting).every((id) => offline(id) === 1), (ok) => ok, 'the restarted hub\'s users went offline');
    // Back in service: a user of the restarted hub connects and is online again, once.
    const again = open(on(restarting)[0]);
    assert.equal((await again.hello).type, 'health.check');
    const id = on(restarting)[0];
    const history = async () => watcher.frames.filter((f) => f.user?.id === id).map((f) => `${f.type}:${f.user.online}`);
    await until(history, (h) => h.length === 2, 'online again');
    assert.deepEqual(await history(), ['user.presence.changed:false', 'user.presence.changed:true'], 'watched after it connected');
    await hubs('restart', lapsing);
    again.ws.close();
    for (const c of conns) c.ws.terminate();
    watcher.ws.close();
  });

  test('a renewal that carries connects keeps them: its list of open connections was taken before they were accepted', LONG, async () => {
    const ids = ['hub-r-0', 'hub-r-1', 'hub-r-2'];
    await upsertAll(ids);
    // Every hub held, its next report a renewal; the connects queue behind them.
    await hubs('hold');
    await hubs('renew');
    const conns = ids.map((id) => open(id, { id, name: `Name ${id}` }));
    await until(hubs, (hs) => hs.reduce((n, h) => n + h.queued_connects, 0) === ids.length, 'the connects queued');
    await hubs('release');
    const hellos = await Promise.all(conns.map((c) => c.hello));
    assert.ok(hellos.every((f) => f.type === 'health.check'));
    const { users } = await server.queryUsers({ id: { $in: ids } }, {}, { presence: true });
    assert.equal(users.length, ids.length);
    assert.ok(users.every((u) => u.online), `online after a renewal carried their connects: ${JSON.stringify(users.map((u) => [u.id, u.online]))}`);
    for (const c of conns) c.ws.close();
    await until(
      async () => (await server.queryUsers({ id: { $in: ids } }, {}, { presence: true })).users,
      (us) => us.every((u) => !u.online), 'offline after closing',
    );
  });

  test('a reconnect storm of 500 unchanged users costs the Writer at most 50 commands', LONG, async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `hub-s-${i}`);
    await upsertAll(ids);
    let conns = ids.map((id) => open(id, { id, name: `Name ${id}` }));
    await Promise.all(conns.map((c) => c.hello));
    const a = await stats();
    // Everybody drops at once (a network blip): the hubs gather the closes while held.
    await hubs('hold');
    for (const c of conns) c.ws.terminate();
    await until(hubs, (hs) => hs.reduce((n, h) => n + h.queued_gone, 0) === 500, 'every close queued');
    await hubs('release');
    await until(stats, (s) => sockets(s) === sockets(a) - 500, 'every socket gone');
    // Everybody comes back with the same details: the connects gather the same way.
    await hubs('hold');
    conns = ids.map((id) => open(id, { id, name: `Name ${id}` }));
    await until(hubs, (hs) => hs.reduce((n, h) => n + h.queued_connects, 0) === 500, 'every connect queued');
    const b = await stats();
    await hubs('release');
    const hellos = await Promise.all(conns.map((c) => c.hello));
    assert.ok(hellos.every((f) => f.type === 'health.check'));
    const c = await stats();
    assert.equal(sockets(c), sockets(a));
    const commands = c.writer.commands_total - a.writer.commands_total; // stats reads and hooks are not commands
    assert.ok(commands <= 50, `the storm cost ${commands} Writer commands`);
    assert.ok(commands >= 2, 'the closes and the connects each reached the Writer');
    assert.equal(c.writer.seq, b.writer.seq, 'unchanged connects wrote nothing');
    assert.equal(c.writer.connects - b.writer.connects, 500);
    for (const x of conns) x.ws.close();
    await until(stats, (s) => sockets(s) === sockets(a) - 500, 'closed');
  });
});
