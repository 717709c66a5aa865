// The production switches (issue 24), on the compiled Worker with the committed wrangler.toml:
// the playground is off unless ROSTER_PLAYGROUND is "on"; ROSTER_CORS_ORIGINS limits which
// browser origins may read answers; STREAM_API_SECRET_PREVIOUS keeps tokens signed with the
// old secret valid during a rotation, and only then.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, LIMIT, raw, serverClient, signJwt, startWorker, uid } from './harness.mjs';

const OLD_SECRET = 'the-secret-before-the-rotation-0123456789';
const ALLOWED = 'https://app.example.com';

describe('as deployed: playground off, a CORS allow-list, a rotation under way', () => {
  let w;
  before(async () => {
    w = await startWorker({
      vars: { ROSTER_CORS_ORIGINS: ` ${ALLOWED}/, http://localhost:3000`, STREAM_API_SECRET_PREVIOUS: OLD_SECRET },
    });
  });
  after(async () => {
    await w?.stop();
  });

  test('the playground is off by default: its files are unknown API routes', LIMIT, async () => {
    for (const path of ['/', '/index.html', '/app.js', '/pkg/roster_bg.wasm']) {
      assertEnvelope(await raw(w, 'GET', path, { apiKey: null, token: null }), 401, 2);
      assertEnvelope(await raw(w, 'GET', path), 404, 16, 'Request failed with error: "Not Found"');
    }
    assert.equal((await raw(w, 'HEAD', '/', { apiKey: null, token: null })).status, 401);
    // The API itself is unchanged.
    assert.equal((await raw(w, 'GET', '/app')).status, 200);
  });

  test('an allowed origin is echoed; any other origin gets no allow-origin header', LIMIT, async () => {
    for (const origin of [ALLOWED, 'http://localhost:3000']) {
      for (const res of [
        await raw(w, 'GET', '/app', { headers: { Origin: origin } }),
        await raw(w, 'GET', '/nope', { headers: { Origin: origin } }), // an error answered at the edge
        await raw(w, 'GET', '/app', { token: 'abc', headers: { Origin: origin } }),
      ]) {
        assert.equal(res.headers['access-control-allow-origin'], origin, res.text);
        assert.match(res.headers.vary ?? '', /Origin/);
        assert.ok(res.headers['x-ratelimit-limit'], 'the other headers stay');
      }
    }
    for (const origin of ['https://evil.example', 'http://app.example.com', 'https://app.example.com:8443']) {
      const res = await raw(w, 'GET', '/app', { headers: { Origin: origin } });
      assert.equal(res.status, 200, 'the answer itself is the same; the browser withholds it');
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      assert.match(res.headers.vary ?? '', /Origin/);
    }
    const noOrigin = await raw(w, 'GET', '/app');
    assert.equal(noOrigin.headers['access-control-allow-origin'], undefined, 'a request without Origin is no browser page');
    const preflight = (origin) => raw(w, 'OPTIONS', '/users', {
      token: null, apiKey: null,
      headers: { Origin: origin, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'authorization,content-type' },
    });
    const yes = await preflight(ALLOWED);
    assert.equal(yes.status, 204);
    assert.equal(yes.headers['access-control-allow-origin'], ALLOWED);
    assert.match(yes.headers['access-control-allow-methods'], /PATCH/);
    const no = await preflight('https://evil.example');
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });

  test('tokens signed with the current or the previous secret verify; others do not', LIMIT, async () => {
    const id = uid('rot');
    await serverClient(w).upsertUser({ id, name: 'Rotating' });
    for (const secret of [w.secret, OLD_SECRET]) {
      assert.equal((await raw(w, 'GET', '/app', { token: signJwt({ server: true }, secret) })).status, 200);
      const mine = await raw(w, 'PATCH', '/users', {
        token: signJwt({ user_id: id }, secret),
        body: { users: [{ id, set: { signed_with: secret === OLD_SECRET ? 'old' : 'new' } }] },
      });
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.json.users[id].signed_with, secret === OLD_SECRET ? 'old' : 'new');
    }
    assertEnvelope(await raw(w, 'GET', '/app', { token: signJwt({ server: true }, 'some-other-secret') }), 401, 43);
    // An expired token signed with the previous secret is refused for its expiry, not its signature.
    const expired = signJwt({ server: true, exp: Math.floor(Date.now() / 1000) - 3600 }, OLD_SECRET);
    assertEnvelope(await raw(w, 'GET', '/app', { token: expired }), 401, 40);
  });
});

describe('with no rotation under way and no allow-list', () => {
  let w;
  before(async () => {
    w = await startWorker();
  });
  after(async () => {
    await w?.stop();
  });

  test('a token signed with any secret but the current one is refused; every origin may read', LIMIT, async () => {
    assertEnvelope(await raw(w, 'GET', '/app', { token: signJwt({ server: true }, OLD_SECRET) }), 401, 43);
    const res = await raw(w, 'GET', '/app', { headers: { Origin: 'https://evil.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], '*');
  });
});
