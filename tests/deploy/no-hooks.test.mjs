// The build that ships has no test hooks (issue 23): scripts/test.sh runs this against the
// production build (`bash scripts/build-worker.sh`, before it builds the test build with
// ROSTER_HOOKS=1). Even with ROSTER_TEST_HOOKS set, every test-only route is Stream's 404 and
// nothing they would switch on can be reached.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertEnvelope, raw, serverClient, stats, uid, ROOT, LIMIT, startWorker } from '../worker/harness.mjs';
import { open, sockets, until } from '../worker/sockets.mjs';

let w;
before(async () => {
  w = await startWorker({ hooks: false, vars: { ROSTER_TEST_HOOKS: '1' } });
});
after(async () => {
  await w?.stop();
});

test('build/ is the production build (feature worker only)', () => {
  assert.equal(readFileSync(join(ROOT, 'build', 'features'), 'utf8').trim(), 'worker');
});

test('test-only routes are absent even with ROSTER_TEST_HOOKS=1', LIMIT, async () => {
  const id = uid('nh');
  await serverClient(w).upsertUser({ id, name: 'No Hooks' }); // the Worker serves
  for (const [method, what, body] of [
    ['GET', 'outbox'], ['POST', 'drain', {}], ['POST', 'kv-fault', 'fail'], ['POST', 'ping-timeout', 10],
    ['GET', 'users'], ['GET', 'kv'], ['POST', 'task-budget', 1], ['GET', 'scan'],
    ['POST', 'hubs', '{"hub":null,"what":"crash"}'], ['POST', 'expire-hub', 'hub-0'], ['POST', 'lose-acks', '{"hub":"hub-0","n":1}'],
  ]) {
    const res = await raw(w, method, `/__roster/test/${what}`, { body });
    assertEnvelope(res, 404, 16, 'Request failed with error: "Not Found"');
  }
  const { users } = await serverClient(w).queryUsers({ id });
  assert.equal(users[0].name, 'No Hooks', 'and nothing the hooks would do happened');
});

test('a connect cannot choose its hub layout (x-roster-test-hubs is a test build\'s)', LIMIT, async () => {
  // Asked for one hub, a test build would put all five on hub-0; this build spreads them over
  // its 64 by their ids (fixed ids: where they land is decided, not drawn).
  const ids = ['nh-a', 'nh-b', 'nh-c', 'nh-d', 'nh-e'];
  const conns = ids.map((id) => open(w, id, { id }, { 'x-roster-test-hubs': '1' }));
  const hellos = await Promise.all(conns.map((c) => c.hello));
  assert.ok(hellos.every((f) => f.type === 'health.check'));
  const s = await until(() => stats(w), (x) => sockets(x) === ids.length, 'five sockets counted');
  const used = s.hubs.filter((h) => h.sockets > 0).map((h) => h.hub);
  assert.ok(used.some((h) => h !== 'hub-0'), `spread by id, not by the header: ${used}`);
  for (const c of conns) c.ws.close();
});
