// The build that ships has no test hooks (issue 23): scripts/test.sh runs this against the
// production build (`bash scripts/build-worker.sh`, before it builds the test build with
// ROSTER_HOOKS=1). Even with ROSTER_TEST_HOOKS set, every test-only route is Stream's 404 and
// nothing they would switch on can be reached.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertEnvelope, raw, serverClient, uid, ROOT, LIMIT, startWorker } from '../worker/harness.mjs';

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
  ]) {
    const res = await raw(w, method, `/__roster/test/${what}`, { body });
    assertEnvelope(res, 404, 16, 'Request failed with error: "Not Found"');
  }
  const { users } = await serverClient(w).queryUsers({ id });
  assert.equal(users[0].name, 'No Hooks', 'and nothing the hooks would do happened');
});
