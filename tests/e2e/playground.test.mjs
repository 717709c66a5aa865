// Issue 7: the playground page (www/) in headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core), served as static assets by the compiled Worker under `wrangler dev`, next
// to the API. It clicks through every panel, asserts what each shows, checks that the page loads
// nothing from outside its origin and never receives the API secret, and saves phone and laptop
// screenshots to test-output/playground/.
//
// Issue 24 (item 6), the live panel: paging past 30 users with an id cursor, presence (its own
// /connect socket and one opened here), the event feed (user.updated and user.presence.changed
// as the Worker sends them, for writes made by the page and by others), a request log that shows
// every call including writes, and in-page errors labelled as the package's, not as HTTP.
//
// Needs build/ (the Worker) and build/www (the page): `bash scripts/build-worker.sh` makes both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { ROOT, assertEnvelope, raw, signJwt, startWorker } from '../worker/harness.mjs';

const OUT = join(ROOT, 'test-output', 'playground');
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
};
const LAPTOP = { viewport: { width: 1280, height: 860 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

let browser;

before(async () => {
  if (!existsSync(join(ROOT, 'build', 'www', 'index.html'))) {
    throw new Error('build/www is missing: run `bash scripts/build-worker.sh` (or scripts/build-www.sh) first');
  }
  mkdirSync(OUT, { recursive: true });
  browser = await chromium.launch(CHROMIUM);
});
after(async () => {
  await browser?.close();
});

/**
 * A page on the Worker at `w` that records what it loads: every request must stay on the
 * Worker's origin (no CDN, works offline), no response may carry the API secret, and no script
 * may throw.
 */
async function openPage(w, contextOptions, hash = '') {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const seen = { foreign: [], leaks: [], errors: [], console: [] };
  page.on('request', (r) => {
    if (!r.url().startsWith(`${w.baseURL}/`) && !r.url().startsWith('data:')) seen.foreign.push(r.url());
  });
  page.on('response', async (r) => {
    const body = await r.text().catch(() => '');
    if (body.includes(w.secret)) seen.leaks.push(r.url());
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  // Refused API calls log "Failed to load resource" (expected: the tests provoke them); anything
  // else (a CSP violation, an unused preload, a deprecation) is a defect of the page.
  page.on('console', (m) => {
    if (['error', 'warning'].includes(m.type()) && !m.text().startsWith('Failed to load resource')) seen.console.push(m.text());
  });
  const started = Date.now();
  await page.goto(`${w.baseURL}/${hash}`);
  await page.waitForSelector('html[data-ready=true]', { timeout: 15_000 });
  const readyMs = Date.now() - started;
  return { context, page, seen, readyMs };
}

function assertClean(seen) {
  assert.deepEqual(seen.foreign, [], 'the page loads nothing from outside its origin');
  assert.deepEqual(seen.leaks, [], 'no response the page receives contains the API secret');
  assert.deepEqual(seen.errors, [], 'no uncaught script errors');
  assert.deepEqual(seen.console, [], 'no console errors or warnings');
}

/** Waits until `locator`'s text contains `expected` (a string or RegExp); returns the text. */
async function textOf(locator, expected, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let text = '';
  for (;;) {
    text = (await locator.count()) ? await locator.first().innerText() : '';
    const ok = expected instanceof RegExp ? expected.test(text) : text.includes(expected);
    if (ok) return text;
    if (Date.now() > deadline) assert.fail(`expected ${expected} in:\n${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The rows of a table body as arrays of cell texts. */
async function rows(page, selector) {
  return page.locator(`${selector} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.innerText.trim())));
}

/** The diff's lines as shown ("+ …", "- …", "  …"). */
async function diffLines(page, scope) {
  return page.locator(`${scope} figure.diff pre span`).evaluateAll((spans) => spans.map((s) => s.textContent.replace(/\n$/, '')));
}

/** A full-page screenshot, taken from the top (the sticky tab bar would otherwise show mid-page). */
async function shot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

/** The request log's newest entries as "METHOD /path STATUS", newest first. */
async function logTop(page, n) {
  const entries = await page.locator('#live-log > li').evaluateAll((lis) => lis.map((li) => `${li.dataset.method} ${li.dataset.path} ${li.dataset.status}`));
  return entries.slice(0, n);
}

/** Waits for an event of `type` about `userId` in the live feed; returns its line's text. */
async function feedEvent(page, type, userId, expected = '') {
  const line = page.locator(`#live-feed > li[data-type="${type}"][data-user="${userId}"] summary`);
  return textOf(line, expected || type);
}

/** The ids listed on the live panel's current page. */
async function listed(page) {
  return page.locator('#live-users > li').evaluateAll((lis) => lis.map((li) => li.dataset.id));
}

/** The presence label of a listed user ("online" or "offline"). */
function presenceOf(page, id) {
  return page.locator(`#live-users > li[data-id="${id}"] .presence`);
}

/**
 * A /connect WebSocket from here as `userId`, with the server token (as the page's feed does);
 * resolves once its health.check arrived.
 */
async function connectAs(w, userId) {
  const q = new URLSearchParams({
    json: JSON.stringify({ user_id: userId, user_details: { id: userId } }),
    api_key: w.key, authorization: w.serverToken, 'stream-auth-type': 'jwt',
  });
  const ws = new WebSocket(`${w.baseURL.replace(/^http/, 'ws')}/connect?${q}`);
  const first = await new Promise((resolve, reject) => {
    ws.once('message', (m) => resolve(JSON.parse(m.toString())));
    ws.once('error', reject);
  });
  assert.equal(first.type, 'health.check', JSON.stringify(first));
  return ws;
}

/** On a phone the layout viewport widens to fit wide content, so compare with the device's width. */
async function noHorizontalScroll(page, panel) {
  const { width } = page.viewportSize();
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= width, `${panel}: the page is wider than the screen (${scroll} > ${width} px)`);
}

describe('under npm run dev (ROSTER_DEV_TOKENS=1)', () => {
  let w;
  let page;
  let seen;
  before(async () => {
    w = await startWorker({ vars: { ROSTER_PLAYGROUND: 'on', ROSTER_DEV_TOKENS: '1' } });
  });
  after(async () => {
    await w?.stop();
  });

  test('the page and the API are served side by side', async () => {
    const index = await raw(w, 'GET', '/', { apiKey: null, token: null });
    assert.equal(index.status, 200);
    assert.match(index.headers['content-type'], /^text\/html/);
    assert.match(index.text, /<title>Roster playground<\/title>/);
    const wasm = await raw(w, 'GET', '/pkg/roster_bg.wasm', { apiKey: null, token: null });
    assert.equal(wasm.status, 200);
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    // The API paths still reach the Worker.
    assert.equal((await raw(w, 'GET', '/app')).json.app.enforce_unique_usernames, 'no');
    assertEnvelope(await raw(w, 'GET', '/users', { apiKey: null }), 401, 2);
    assertEnvelope(await raw(w, 'GET', '/connect'), 400, 4);
    assertEnvelope(await raw(w, 'GET', '/nope'), 404, 16);
  });

  test('GET /_dev/token gives the key and a server token, never the secret, same origin only', async () => {
    const res = await raw(w, 'GET', '/_dev/token', { apiKey: null, token: null, headers: { Origin: 'http://elsewhere.example' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['api_key', 'token']);
    assert.equal(res.json.api_key, w.key);
    assert.equal(res.json.token, w.serverToken);
    assert.ok(!res.text.includes(w.secret));
    assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS: other sites cannot read it');
    assert.equal(res.headers['cache-control'], 'no-store');
    // Only for a loopback Host: a DNS-rebinding page would arrive with its own host name.
    assertEnvelope(await raw(w, 'GET', '/_dev/token', { apiKey: null, token: null, headers: { Host: 'rebind.example' } }), 401, 2);
    assertEnvelope(await raw(w, 'POST', '/_dev/token', { token: null, body: {} }), 404, 16);
  });

  test('laptop: usernames, partial update, batch upsert, live Worker', async (t) => {
    const opened = await openPage(w, LAPTOP);
    ({ page, seen } = opened);
    t.diagnostic(`page ready (wasm loaded) in ${opened.readyMs} ms`);
    assert.equal(await page.locator('#core-status').innerText(), 'WebAssembly core loaded.');

    await t.test('usernames: normalized forms and collisions', async () => {
      assert.equal(await page.getByRole('tab', { name: 'Usernames' }).getAttribute('aria-selected'), 'true');
      await page.getByLabel('Names, one per line').fill('John Doe\njohn.doe\nJOHN_DOE\nJane Roe\nИван Петров\nиван.петров\n!!!');
      assert.deepEqual(await rows(page, '#names-table'), [
        ['1', 'John Doe', 'johndoe', '✕ with #2, #3'],
        ['2', 'john.doe', 'johndoe', '✕ with #1, #3'],
        ['3', 'JOHN_DOE', 'johndoe', '✕ with #1, #2'],
        ['4', 'Jane Roe', 'janeroe', '✓ unique'],
        ['5', 'Иван Петров', 'иванпетров', '✕ with #6'],
        ['6', 'иван.петров', 'иванпетров', '✕ with #5'],
        ['7', '!!!', '(empty)', 'holds no name'],
      ]);
      assert.match(await page.locator('#names-summary').innerText(), /^7 names; collide:/);
      assert.deepEqual(await page.locator('#names-summary .pill').allInnerTexts(), ['johndoe ×3', 'иванпетров ×2']);
      await page.getByLabel('Names, one per line').fill('Ann\nBob');
      assert.equal(await page.locator('#names-summary').innerText(), '2 names, no collisions.');
      await page.getByLabel('Names, one per line').fill('John Doe\njohn.doe\nJOHN_DOE\nJöhn Döe\nJane Roe\njane-roe 2\nИван Петров\nиван.петров\n!!! ???');
      await shot(page, 'laptop-1-usernames');
    });

    await t.test('partial update: before/after diff, and the package\'s errors (not HTTP)', async () => {
      await page.getByRole('tab', { name: 'Partial update' }).click();
      assert.ok(await page.locator('#panel-partial').isVisible());
      assert.equal(await page.locator('#panel-names').isVisible(), false);
      const diff = await diffLines(page, '#partial-result');
      for (const line of [
        '-     "city": "Oslo",', '+     "city": "Bergen",',
        '-   "book": "Dune",',
        '-   "name": "Ann Lee",', '+   "name": "Ann Park",',
        '+     "read_receipts": {',
        '    "created_at": "2024-04-04T09:26:11Z",',
      ]) assert.ok(diff.includes(line), `diff line ${JSON.stringify(line)} in:\n${diff.join('\n')}`);
      assert.match(await page.locator('#partial-result figcaption').innerText(), /\d+ lines added, \d+ removed/);

      // Typing in the editor updates the result.
      await page.getByLabel('Update {id, set, unset}').fill('{"id": "ann", "set": {"prefs.theme": "dark"}}');
      const typed = await diffLines(page, '#partial-result');
      assert.ok(typed.includes('+   "prefs": {') && typed.includes('+     "theme": "dark"'), typed.join('\n'));

      await page.getByRole('button', { name: 'role, as the user → 403' }).click();
      assert.equal(await page.getByLabel('Caller').inputValue(), 'user');
      // Thrown in this page by the package: labelled as its RosterError, never as an HTTP answer.
      await textOf(page.locator('#partial-result .error'), 'RosterError: UpdateUsersPartial failed with error: "user role can only be changed server-side"');
      assert.equal(await page.locator('#partial-result .error-head').textContent(), 'RosterError code 17 · thrown in this page by applyPartialUpdate');
      assert.doesNotMatch(await page.locator('#partial-result .error').innerText(), /HTTP|StreamChat error/);
      assert.equal(await page.locator('#partial-result .error summary').textContent(), 'The error’s fields');
      const body = JSON.parse(await page.locator('#partial-result .error pre').innerText());
      assert.deepEqual(body, {
        code: 17,
        message: 'UpdateUsersPartial failed with error: "user role can only be changed server-side"',
        StatusCode: 403,
        more_info: 'https://getstream.io/chat/docs/api_errors_response',
        details: [],
      });
      await page.getByLabel('Caller').selectOption('server');
      const asServer = await diffLines(page, '#partial-result');
      assert.ok(asServer.includes('+   "role": "admin",'), asServer.join('\n'));

      await page.getByRole('button', { name: 'bad path → 400' }).click();
      await textOf(page.locator('#partial-result .error'), 'RosterError: UpdateUsersPartial failed with error: "field name \'address..city\' is invalid');
      assert.equal(await page.locator('#partial-result .error-head').textContent(), 'RosterError code 4 · thrown in this page by applyPartialUpdate');
      assert.match(await page.locator('#partial-result .error pre').innerText(), /"exception_fields": \{\n\s+"address\.\.city"/);

      await page.getByLabel('Stored user').fill('{"id": "ann", ');
      await textOf(page.locator('#partial-result .error'), 'Stored user is not valid JSON');

      await page.getByRole('button', { name: 'rename, move, unset' }).click();
      await page.getByLabel('Stored user').fill(JSON.stringify({ id: 'ann', name: 'Ann Lee', book: 'Dune', address: { city: 'Oslo', zip: '0150' }, created_at: '2024-04-04T09:26:11Z', updated_at: '2024-04-04T09:26:11Z' }, null, 2));
      await shot(page, 'laptop-2-partial-update');
    });

    await t.test('batch upsert: the uniqueness switch, all-or-nothing, UserStore errors (not HTTP)', async () => {
      await page.getByRole('tab', { name: 'Batch upsert' }).click();
      const store = () => rows(page, '#batch-store');
      assert.deepEqual(await store(), [['john', 'John Doe', 'johndoe', 'red']]);
      assert.match(await page.locator('#batch-mode-note').innerText(), /enforce_unique_usernames: "no"/);
      const upsert = page.getByRole('button', { name: 'Upsert batch' });
      const reset = page.getByRole('button', { name: 'Reset store' });

      // no: the same name is fine.
      await upsert.click();
      await textOf(page.locator('#batch-result'), 'Upserted 2 users: jane, johnny.');
      assert.deepEqual((await store()).map((r) => r[0]), ['jane', 'john', 'johnny']);

      // app: the batch clashes with john and nothing is written.
      await reset.click();
      await page.getByRole('radio', { name: 'app' }).check();
      await textOf(page.locator('#batch-mode-note'), 'enforce_unique_usernames: "app"');
      await upsert.click();
      await textOf(page.locator('#batch-result .error'), 'RosterError: UpdateUsers failed with error: "username \'john.doe\' already exists"');
      assert.equal(await page.locator('#batch-result .error-head').textContent(), 'RosterError code 6 · thrown in this page by UserStore.upsertUsers');
      assert.doesNotMatch(await page.locator('#batch-result .error').innerText(), /HTTP|StreamChat error/);
      assert.equal(JSON.parse(await page.locator('#batch-result .error pre').innerText()).code, 6);
      assert.match(await page.locator('#batch-result').innerText(), /Nothing was written\./);
      assert.deepEqual((await store()).map((r) => r[0]), ['john'], 'all or nothing: jane was not written either');

      // team: other teams do not collide; the same team does.
      await page.getByRole('radio', { name: 'team' }).check();
      await upsert.click();
      await textOf(page.locator('#batch-result'), 'Upserted 2 users: jane, johnny.');
      await page.getByRole('button', { name: 'same name, same team' }).click();
      await upsert.click();
      await textOf(page.locator('#batch-result .error'), 'RosterError: UpdateUsers failed with error: "username \'JOHN DOE\' already exists in team \'red\'"');
      assert.deepEqual((await store()).map((r) => r[0]), ['jane', 'john', 'johnny']);

      // Inside one batch: in team mode users without teams never collide; in app mode they do.
      await page.getByRole('button', { name: 'clash inside the batch' }).click();
      await upsert.click();
      await textOf(page.locator('#batch-result'), 'Upserted 2 users: ann, ann2.');
      await reset.click();
      await page.getByRole('radio', { name: 'app' }).check();
      await upsert.click();
      await textOf(page.locator('#batch-result .error'), /RosterError: UpdateUsers failed with error: "username 'ann-?lee' already exists"/i);

      await page.getByRole('button', { name: 'reserved field → 400' }).click();
      await upsert.click();
      await textOf(page.locator('#batch-result .error'), 'RosterError: UpdateUsers failed with error:');
      assert.equal(await page.locator('#batch-result .error-head').textContent(), 'RosterError code 4 · thrown in this page by UserStore.upsertUsers');
      assert.match(await page.locator('#batch-result .error').innerText(), /created_at/);

      await page.getByRole('button', { name: 'same name, same team' }).click();
      await upsert.click();
      await page.locator('#batch-result .error').waitFor();
      await shot(page, 'laptop-3-batch-upsert');
    });

    await t.test('live Worker: feed, presence, list, edit with set/unset, request log, uniqueness setting', async () => {
      await page.getByRole('tab', { name: 'Live Worker' }).click();
      await textOf(page.locator('#live-auth'), `Connected with API key ${w.key}`);
      assert.match(await page.locator('#live-auth').innerText(), /GET \/_dev\/token/);

      // The feed's WebSocket opens first (as connectUser, with the dev server token, as the user
      // `playground`), so the first query already names its connection and shows it online.
      await textOf(page.locator('#live-feed-status'), /^Connected as playground \(connection [0-9a-f-]{36}\), watching 1 user\./);
      assert.deepEqual(await logTop(page, 3), ['GET /users 200', 'GET /connect open', 'GET /app 200'], 'the key check, the socket and the first query are logged');
      await textOf(page.locator('#live-count'), '1 user');
      assert.deepEqual(await listed(page), ['playground']);
      assert.equal(await presenceOf(page, 'playground').innerText(), 'online', 'a connected user shows online');

      await page.getByRole('button', { name: 'Add sample users' }).click();
      await textOf(page.locator('#live-result'), 'Upserted alice, bob, carol (POST /users).');
      await textOf(page.locator('#live-count'), '4 users');
      assert.deepEqual(await page.locator('#live-users .user-id').allInnerTexts(), ['alice · red', 'bob · blue', 'carol · red, blue', 'playground']);
      assert.deepEqual(await logTop(page, 2), ['GET /users 200', 'POST /users 201'], 'the write is logged, then the re-read');
      assert.equal(await presenceOf(page, 'bob').innerText(), 'offline');

      // Presence, live: bob connects elsewhere; the feed gets user.presence.changed and bob's dot
      // turns on without a re-read; it turns off when bob leaves.
      const logged = (await logTop(page, 50)).length;
      const bobSocket = await connectAs(w, 'bob');
      await feedEvent(page, 'user.presence.changed', 'bob', 'online');
      await textOf(presenceOf(page, 'bob'), 'online');
      assert.match(await presenceOf(page, 'bob').getAttribute('class'), /\bon\b/);
      bobSocket.close();
      await textOf(page.locator('#live-feed > li[data-user="bob"]'), 'offline');
      await textOf(presenceOf(page, 'bob'), 'offline');
      assert.equal((await logTop(page, 50)).length, logged, 'presence came over the socket: no request was made');

      // Open bob; set a name and a nested path, unset a field.
      await page.getByRole('button', { name: /Bob Stone/ }).click();
      await textOf(page.locator('#live-editor h3'), 'Edit bob');
      assert.equal(JSON.parse(await page.getByLabel('set (JSON object of dotted paths)').inputValue()).name, 'Bob Stone');
      await page.getByLabel('set (JSON object of dotted paths)').fill('{"name": "Bobby Stone", "address.city": "Oslo"}');
      await page.getByLabel('unset (paths, comma-separated)').fill('title');
      await page.getByRole('button', { name: 'Save (PATCH /users)' }).click();
      await textOf(page.locator('#live-result'), 'Saved bob.');
      const diff = await diffLines(page, '#live-result');
      for (const line of ['-   "name": "Bob Stone",', '+   "name": "Bobby Stone",', '-   "title": "Engineer",', '+   "address": {', '+     "city": "Oslo"']) {
        assert.ok(diff.includes(line), `diff line ${JSON.stringify(line)} in:\n${diff.join('\n')}`);
      }
      // The log's newest entry is the write itself.
      assert.deepEqual(await logTop(page, 1), ['PATCH /users 200']);
      // The feed shows the Worker's user.updated for bob, with what changed.
      await feedEvent(page, 'user.updated', 'bob', 'changed address, name, title');
      const bobEvent = page.locator('#live-feed > li[data-type="user.updated"][data-user="bob"]').first();
      assert.deepEqual(
        await Promise.all(['.feed-type', '.feed-user', '.feed-change'].map((c) => bobEvent.locator(c).innerText())),
        ['user.updated', 'bob', 'changed address, name, title']);
      assert.match(await bobEvent.locator('.feed-time').innerText(), /^\d\d:\d\d:\d\d$/);
      const event = JSON.parse(await page.locator('#live-feed > li[data-type="user.updated"][data-user="bob"] pre').first().textContent());
      assert.equal(event.user.name, 'Bobby Stone');
      assert.deepEqual(event.user.address, { city: 'Oslo' });
      const stored = (await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { id: 'bob' } } } })).json.users[0];
      assert.equal(stored.name, 'Bobby Stone');
      assert.deepEqual(stored.address, { city: 'Oslo' });
      assert.equal(stored.title, undefined);
      await textOf(page.locator('#live-users'), 'Bobby Stone');
      assert.equal(await page.getByRole('button', { name: /Bobby Stone/ }).getAttribute('aria-current'), 'true');

      // A write made elsewhere reaches the feed and the list too (the list watches its users).
      assert.equal((await raw(w, 'PATCH', '/users', { body: { users: [{ id: 'alice', set: { name: 'Alice Jones' } }] } })).status, 200);
      await feedEvent(page, 'user.updated', 'alice', 'changed name');
      await textOf(page.locator('#live-users > li[data-id="alice"]'), 'Alice Jones');
      assert.deepEqual(await logTop(page, 1), ['PATCH /users 200'], 'the page made no request for it');

      // The uniqueness setting: PATCH /app, read back with GET /app, both logged.
      assert.equal(await page.getByLabel('Unique usernames').inputValue(), 'no');
      await page.getByLabel('Unique usernames').selectOption('app');
      await textOf(page.locator('#live-result'), 'Saved: enforce_unique_usernames: "app"');
      assert.equal((await raw(w, 'GET', '/app')).json.app.enforce_unique_usernames, 'app');
      assert.deepEqual(await logTop(page, 2), ['GET /app 200', 'PATCH /app 200']);

      // Renaming carol to alice's old name is refused with Stream's error, and nothing changes.
      await page.getByRole('button', { name: /Carol Díaz/ }).click();
      await page.getByLabel('set (JSON object of dotted paths)').fill('{"name": "alice.jones"}');
      await page.getByRole('button', { name: 'Save (PATCH /users)' }).click();
      await textOf(page.locator('#live-result .error'), 'StreamChat error code 6: UpdateUsersPartial failed with error: "username \'alice.jones\' already exists"');
      assert.equal(await page.locator('#live-result .error-head').textContent(), 'HTTP 400 · Stream error code 6', 'the Worker\'s errors are HTTP answers');
      const body = JSON.parse(await page.locator('#live-result .error pre').innerText());
      assert.equal(body.StatusCode, 400);
      assert.match(body.duration, /^\d+\.\d\dms$/, 'the Worker’s own error body, duration included');
      const carol = (await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: { id: 'carol' } } } })).json.users[0];
      assert.equal(carol.name, 'Carol Díaz');
      assert.deepEqual(await logTop(page, 1), ['PATCH /users 400'], 'a refused write is logged too');
      const top = page.locator('#live-log > li').first();
      assert.equal(await top.getAttribute('class'), 'log-bad');
      await top.locator('summary').click();
      const exchange = await top.locator('pre').textContent();
      assert.match(exchange, /^PATCH \/users\?api_key=/);
      assert.match(exchange, /"name": "alice\.jones"/);
      assert.match(exchange, /→ HTTP 400\n\{\n[^]*\n {2}"code": 6,\n/);
      assert.ok(!exchange.includes(w.serverToken), 'the token is cut short in the log');
      await feedEvent(page, 'user.updated', 'bob');
      await page.locator('#live-feed > li[data-user="bob"] summary').first().click();
      await shot(page, 'laptop-4-live-worker');

      // Search goes to the Worker as a $autocomplete query.
      await page.getByLabel('Search names').fill('car');
      await textOf(page.locator('#live-count'), '1 user');
      assert.deepEqual(await page.locator('#live-users .user-id').allInnerTexts(), ['carol · red, blue']);
      await page.getByLabel('Search names').fill('');
      await textOf(page.locator('#live-count'), '4 users');
    });

    await t.test('live Worker: pages past 30 users, and watches each page it shows', async () => {
      const ids = Array.from({ length: 35 }, (_, i) => `pg-${String(i).padStart(2, '0')}`);
      const made = await raw(w, 'POST', '/users', { body: { users: Object.fromEntries(ids.map((id, i) => [id, { id, name: `Paged ${i}` }])) } });
      assert.equal(made.status, 201, made.text);
      const all = (await raw(w, 'GET', '/users', { query: { payload: { filter_conditions: {}, sort: [{ field: 'id', direction: 1 }], limit: 100 } } })).json.users.map((u) => u.id);
      assert.equal(all.length, 39, 'alice, bob, carol, playground and 35 more');

      await page.getByRole('button', { name: 'Refresh' }).click();
      await textOf(page.locator('#live-count'), 'Users 1–30 (more on the next page)');
      assert.deepEqual(await listed(page), all.slice(0, 30));
      assert.equal(await page.getByRole('button', { name: 'Previous' }).isDisabled(), true);

      await page.getByRole('button', { name: 'Next' }).click();
      await textOf(page.locator('#live-count'), 'Users 31–39');
      assert.deepEqual(await listed(page), all.slice(30), 'the 31st user onwards');
      assert.ok((await listed(page)).includes('pg-34'));
      assert.equal(await page.getByRole('button', { name: 'Next' }).isDisabled(), true, 'no page after the last');
      const query = await page.locator('#live-log > li').first().locator('pre').textContent();
      assert.match(query, new RegExp(`"id":\\{"\\$gt":"${all[29]}"\\}`), 'the next page is asked for with an id cursor');
      assert.match(query, /"presence":true/);
      assert.match(query, /connection_id=[0-9a-f-]{36}/);
      assert.equal(await presenceOf(page, 'playground').innerText(), 'online');

      // The second page's users are watched too: a change to one reaches the feed and the list.
      await raw(w, 'PATCH', '/users', { body: { users: [{ id: 'pg-34', set: { name: 'Paged last' } }] } });
      await feedEvent(page, 'user.updated', 'pg-34', 'changed name');
      await textOf(page.locator('#live-users > li[data-id="pg-34"]'), 'Paged last');
      await shot(page, 'laptop-5-live-page-2');

      await page.getByRole('button', { name: 'Previous' }).click();
      await textOf(page.locator('#live-count'), 'Users 1–30 (more on the next page)');
      assert.deepEqual(await listed(page), all.slice(0, 30));
    });

    assertClean(seen);
    await opened.context.close();
  });

  test('phone: every panel fits the screen', async () => {
    const opened = await openPage(w, PHONE);
    const p = opened.page;
    const panels = [['Usernames', 'usernames'], ['Partial update', 'partial-update'], ['Batch upsert', 'batch-upsert'], ['Live Worker', 'live-worker']];
    for (const [i, [tab, name]] of panels.entries()) {
      await p.getByRole('tab', { name: tab }).click();
      if (tab === 'Batch upsert') {
        await p.getByRole('radio', { name: 'app' }).check();
        await p.getByRole('button', { name: 'Upsert batch' }).click();
        await p.locator('#batch-result .error').waitFor();
      }
      if (tab === 'Live Worker') {
        await textOf(p.locator('#live-count'), 'Users 1–30');
        await textOf(p.locator('#live-feed-status'), 'Connected as playground');
        await p.getByRole('button', { name: /Bobby Stone/ }).click();
        await p.getByRole('button', { name: 'Save (PATCH /users)' }).click();
        await textOf(p.locator('#live-result'), 'Saved bob.');
        await feedEvent(p, 'user.updated', 'bob');
        assert.deepEqual(await logTop(p, 1), ['PATCH /users 200']);
      }
      await noHorizontalScroll(p, tab);
      await shot(p, `phone-${i + 1}-${name}`);
    }
    // Deep links open their panel.
    await p.goto(`${w.baseURL}/#batch`);
    await p.waitForSelector('html[data-ready=true]');
    assert.equal(await p.getByRole('tab', { name: 'Batch upsert' }).getAttribute('aria-selected'), 'true');
    assertClean(opened.seen);
    await opened.context.close();
  });
});

describe('as deployed with the playground on (no ROSTER_DEV_TOKENS)', () => {
  let w;
  before(async () => {
    w = await startWorker({ vars: { ROSTER_PLAYGROUND: 'on' } });
  });
  after(async () => {
    await w?.stop();
  });

  test('there is no dev-token route; the page asks for a key and a token', async () => {
    assertEnvelope(await raw(w, 'GET', '/_dev/token', { apiKey: null, token: null }), 401, 2);
    assertEnvelope(await raw(w, 'GET', '/_dev/token', { token: null }), 404, 16);

    const { context, page, seen } = await openPage(w, PHONE, '#live');
    await textOf(page.locator('#live-auth'), 'This Worker does not hand out development tokens');
    assert.equal(await page.locator('#live-app').isVisible(), false);
    await page.getByLabel('API key').fill(w.key);
    await page.getByLabel('Server token (JWT)').fill(signJwt({ server: true }, 'not-the-secret'));
    await page.getByRole('button', { name: 'Connect' }).click();
    await textOf(page.locator('#live-auth .error'), 'StreamChat error code 43: GetApp failed with error:');
    await noHorizontalScroll(page, 'paste form');
    await shot(page, 'deployed-paste-form');

    await page.getByLabel('Server token (JWT)').fill(w.serverToken);
    await page.getByRole('button', { name: 'Connect' }).click();
    await textOf(page.locator('#live-auth'), `Connected with API key ${w.key} with the key and token you pasted`);
    // With pasted credentials (a real app) the feed waits for the button: connecting would create
    // its user there.
    await textOf(page.locator('#live-count'), 'No users yet');
    await textOf(page.locator('#live-feed-status'), 'Not connected. Connecting creates or updates this user');
    assert.deepEqual(await logTop(page, 3), ['GET /users 200', 'GET /app 200', 'GET /app 401'], 'the refused key check is in the log too');

    // A refused connect is the socket's connection.error, labelled as such (not HTTP).
    await page.getByLabel('Connect as').fill('no spaces');
    await page.locator('#live-feed-toggle').click();
    await textOf(page.locator('#live-feed-error .error'), 'StreamChat error code 4:');
    assert.equal(await page.locator('#live-feed-error .error-head').textContent(), 'connection.error on the WebSocket · Stream error code 4');
    assert.match(await page.locator('#live-feed-error .error').innerText(), /user id 'no spaces' is invalid/);
    assert.deepEqual(await logTop(page, 1), ['GET /connect connection.error']);
    await textOf(page.locator('#live-feed-toggle'), /^Connect$/);

    await page.getByLabel('Connect as').fill('watcher');
    await page.locator('#live-feed-toggle').click();
    await textOf(page.locator('#live-feed-status'), /^Connected as watcher \(connection [0-9a-f-]{36}\), watching 1 user\./);
    assert.equal(await page.locator('#live-feed-error').innerText(), '', 'the old error is cleared');
    assert.deepEqual(await listed(page), ['watcher']);
    assert.equal(await presenceOf(page, 'watcher').innerText(), 'online');
    await raw(w, 'PATCH', '/users', { body: { users: [{ id: 'watcher', set: { name: 'Watcher' } }] } });
    await feedEvent(page, 'user.updated', 'watcher', 'changed name');
    await textOf(page.locator('#live-users'), 'Watcher');
    await noHorizontalScroll(page, 'live panel, pasted credentials');
    await shot(page, 'deployed-live-feed');
    await page.locator('#live-feed-toggle').click();
    await textOf(page.locator('#live-feed-status'), 'Not connected.');
    // The Worker marks watcher offline as the socket closes; a re-read shows it.
    for (let i = 0; ; i++) {
      await page.getByRole('button', { name: 'Refresh' }).click();
      if (await presenceOf(page, 'watcher').innerText() === 'offline') break;
      assert.ok(i < 50, 'watcher shows offline after its socket closed');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Kept for this tab only, and forgotten on request.
    await page.reload();
    await textOf(page.locator('#live-auth'), 'you pasted');
    await page.getByRole('button', { name: 'Forget credentials' }).click();
    await textOf(page.locator('#live-auth'), 'This Worker does not hand out development tokens');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assertClean(seen);
    await context.close();
  });
});
