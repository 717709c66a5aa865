// Import from Stream (issue 24, item 5): `npm run import` (scripts/import.mjs) run as a child
// process from one Roster (the source, spoken to as Stream: GET /app, GET /users paged by a
// (created_at, id) cursor) into others. The source holds 5,000 varied users — custom data,
// teams, roles, deactivated users, revoked tokens, a soft-deleted user — and names that collide
// once uniqueness is enforced: made while its enforce_unique_usernames was "no", then switched
// to "app" (turning it on does not check existing users, in Stream as in Roster). The import
// gives the target the source's mode first, so those collisions are refused there (code 6),
// reported one by one, and nothing else is lost. A run stopped after a few pages, and one
// "crashed" (its checkpoint set back, so pages already written are replayed), resume to the
// same end state; a --restart pass through a source that answers 429 and 503 changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, raw, serverPool, writerUsers } from './harness.mjs';

const TOTAL = 5000;
const BATCH = 100;
const TWINS = 10; // pairs of names equal once normalized: the second of each pair is refused
const ECHOES = 10; // pairs where one holder is deactivated: both arrive
const TIMEOUT = { timeout: 240_000 };

const start = serverPool();
const work = mkdtempSync(join(tmpdir(), 'roster-import-'));
after(() => rmSync(work, { recursive: true, force: true }));

// Fields the import does not copy (the server computes them); deactivation and revocation are
// compared on their own.
const SERVER_FIELDS = new Set([
  'created_at', 'updated_at', 'last_active', 'online', 'banned', 'shadow_banned', 'deactivated_at', 'deleted_at',
  'revoke_tokens_issued_before',
]);

/** The 5,000 users in creation order (batches of 100), and the ids the import must refuse. */
function sourceUsers() {
  const at = new Map();
  const place = (i, u) => {
    assert.ok(!at.has(i), `position ${i} used twice`);
    at.set(i, u);
  };
  const refused = [];
  for (let k = 0; k < TWINS; k++) {
    // "Twin Name k" and "twin.name.k" normalize alike. The first wins: the same batch (ids
    // order it) for half of them, a later batch for the others.
    place(k * 400 + 10, { id: `twin-a-${k}`, name: `Twin Name ${k}`, twin: k });
    place(k * 400 + (k < TWINS / 2 ? 20 : 250), { id: `twin-b-${k}`, name: `twin.name.${k}`, twin: k });
    refused.push(`twin-b-${k}`);
  }
  const deactivate = [];
  for (let k = 0; k < ECHOES; k++) {
    // "Echo k" deactivated (holding no name) and "echo k" active: no collision, before or after.
    const [first, second] = k % 2 === 0 ? [30, 330] : [330, 30];
    place(k * 450 + first + 1, { id: `echo-a-${k}`, name: `Echo ${k}`, echo: true });
    place(k * 450 + second + 1, { id: `echo-b-${k}`, name: `echo ${k}`, echo: true });
    deactivate.push(`echo-a-${k}`);
  }
  const users = [];
  for (let i = 0; i < TOTAL; i++) {
    if (at.has(i)) {
      users.push(at.get(i));
      continue;
    }
    const u = { id: `u${String(i).padStart(5, '0')}`, name: `User ${i}`, score: i * 1.5 + 0.25, flag: i % 2 === 0 };
    if (i % 7 === 0) u.role = 'admin';
    if (i % 5 === 0) Object.assign(u, { teams: ['red', `t${i % 3}`], teams_role: { red: i % 10 === 0 ? 'admin' : 'member' } });
    if (i % 3 === 0) u.image = `https://img.example/${i}.png`;
    if (i % 4 === 0) u.language = 'fr';
    if (i % 13 === 0) u.invisible = true;
    if (i % 17 === 0) u.privacy_settings = { typing_indicators: { enabled: false } };
    if (i % 6 === 0) u.profile = { city: 'Oslo', n: i, nested: { deep: [1, { x: 'ü' }, null, 25.805360112477338] } };
    if (i % 9 === 0) u.bio = `Ünal Çelik 🎉 ${i} `.repeat(4);
    if (i % 11 === 0) u.tags = ['a', i % 2 ? 'b' : 'c'];
    if (i % 50 === 25) deactivate.push(u.id);
    users.push(u);
  }
  return { users, refused, deactivate };
}

/** Runs the import CLI; resolves {code, stdout, stderr, ms, report}. */
function runImport(src, dst, args = [], { env = {}, spawned } = {}) {
  const argv = [
    join(ROOT, 'scripts', 'import.mjs'),
    '--from', src.baseURL, '--key', src.key, '--secret', src.secret,
    '--to', dst.baseURL, '--to-key', dst.key, '--to-secret', dst.secret,
    ...args,
  ];
  const t0 = Date.now();
  const child = spawn(process.execPath, argv, { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  spawned?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => { stdout += c; });
  child.stderr.on('data', (c) => { stderr += c; });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const ms = Date.now() - t0;
      const reportArg = args.indexOf('--report');
      let report;
      try {
        report = JSON.parse(readFileSync(args[reportArg + 1], 'utf8'));
      } catch {
        report = undefined;
      }
      resolve({ code, signal, stdout, stderr, ms, report });
    });
  });
}

async function ok(w, method, path, body) {
  const r = await raw(w, method, path, { body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.text}`);
  return r.json;
}

/** What the import must carry over of a stored user: its data without server fields. */
function copied(u) {
  const out = {};
  for (const [k, v] of Object.entries(u)) if (!SERVER_FIELDS.has(k) && v !== null) out[k] = v;
  out.deactivated = Boolean(u.deactivated_at);
  out.revoke = u.revoke_tokens_issued_before ? Date.parse(u.revoke_tokens_issued_before) : null;
  return out;
}

/** Asserts the target holds every live source user but `refused`, equal field for field. */
async function assertCopied(src, dst, refused) {
  const from = Object.values(await writerUsers(src)).filter((u) => !u.deleted_at);
  const to = await writerUsers(dst);
  assert.equal(from.length, TOTAL);
  assert.equal(Object.keys(to).length, TOTAL - refused.length, 'no more and no fewer users than expected');
  const skip = new Set(refused);
  let deactivated = 0;
  for (const u of from) {
    if (skip.has(u.id)) {
      assert.equal(to[u.id], undefined, `${u.id} was refused, yet is in the target`);
      continue;
    }
    assert.ok(to[u.id], `${u.id} is missing from the target`);
    assert.deepEqual(copied(to[u.id]), copied(u), `${u.id} differs`);
    if (u.deactivated_at) deactivated++;
  }
  return { deactivated };
}

/** Asserts a report's accounting: every user read was written, skipped or rejected, and the
 * rejected ones are exactly `refused`, each with code 6 and Stream's message. */
function assertAccounting(report, refused, read = TOTAL) {
  const c = report.counts;
  assert.equal(c.read, read, JSON.stringify(c));
  assert.equal(c.written + c.skipped + c.rejected, c.read, JSON.stringify(c));
  assert.equal(c.rejected, refused.length);
  assert.deepEqual(report.rejected.map((r) => r.id).sort(), [...refused].sort());
  for (const r of report.rejected) {
    assert.equal(r.code, 6, JSON.stringify(r));
    assert.equal(r.status, 400);
    assert.equal(r.stage, 'upsert');
    assert.match(r.message, /^UpdateUsers failed with error: "username 'twin\.name\.\d' already exists"$/);
    assert.equal(r.user.id, r.id, 'the record as read travels with its error');
    assert.match(r.user.name, /^twin\.name\.\d$/);
  }
}

describe('npm run import', () => {
  let src;
  let fixture;
  before(async () => {
    src = await start();
    fixture = sourceUsers();
    // Batches one after another: each has its own created_at, so a page of 100 is a batch.
    for (let i = 0; i < TOTAL; i += BATCH) {
      const batch = fixture.users.slice(i, i + BATCH);
      await ok(src, 'POST', '/users', { users: Object.fromEntries(batch.map((u) => [u.id, u])) });
    }
    for (let i = 0; i < fixture.deactivate.length; i += BATCH) {
      await ok(src, 'POST', '/users/deactivate', { user_ids: fixture.deactivate.slice(i, i + BATCH) });
    }
    const revokes = fixture.users.filter((_, i) => i % 100 === 99).map((u, k) => ({
      id: u.id, set: { revoke_tokens_issued_before: new Date(Date.UTC(2026, 0, 1 + k)).toISOString() },
    }));
    await ok(src, 'PATCH', '/users', { users: revokes });
    await ok(src, 'POST', '/users', { users: { 'gone-1': { id: 'gone-1', name: 'Gone' } } });
    await ok(src, 'DELETE', '/users/gone-1');
    // Uniqueness turned on after the fact: existing duplicates stay in the source.
    await ok(src, 'PATCH', '/app', { enforce_unique_usernames: 'app' });
  }, { timeout: 180_000 });

  test('copies 5,000 users in one run: equal, collisions reported with code 6, nothing else lost', TIMEOUT, async () => {
    const dst = await start();
    const report = join(work, 'one.json');
    const r = await runImport(src, dst, ['--report', report, '--state-dir', join(work, 'state-one')]);
    assert.equal(r.code, 2, `exit 2: finished with rejected users\n${r.stdout}\n${r.stderr}`);
    console.log(`# import of ${TOTAL} users: ${r.ms} ms (${Math.round(TOTAL / (r.ms / 1000))} users/s), ${JSON.stringify(r.report.requests)} requests`);
    assert.equal(r.report.complete, true);
    assertAccounting(r.report, fixture.refused);
    assert.equal(r.report.counts.skipped, 0);
    assert.equal(r.report.unique_usernames, 'app');
    for (const id of fixture.refused) assert.match(r.stdout, new RegExp(`rejected ${id} \\(upsert\\): code 6: UpdateUsers failed`));
    assert.match(r.stdout, /read 5,000, written 4,990, skipped 0 \(already up to date\), rejected 10/);
    assert.match(r.stdout, /10 × code 6 \(upsert\)/);
    const app = await ok(dst, 'GET', '/app');
    assert.equal(app.app.enforce_unique_usernames, 'app', 'the source\'s mode, set before the users');
    const { deactivated } = await assertCopied(src, dst, fixture.refused);
    assert.equal(deactivated, fixture.deactivate.length, 'deactivated users stay deactivated');
    // The deactivated "Echo k" kept its name; its active namesake holds it.
    const echo = (await writerUsers(dst))['echo-a-3'];
    assert.equal(echo.name, 'Echo 3');
    assert.ok(echo.deactivated_at);
  });

  test('resumes: after --max-pages, after a crash that replays written pages, after SIGKILL; --restart through 429 and 503 changes nothing', TIMEOUT, async () => {
    const dst = await start();
    const report = join(work, 'resume.json');
    const state = join(work, 'state-resume');
    const args = ['--report', report, '--state-dir', state];

    // 1. Three pages, then stop: resumable (exit 3), the checkpoint holds the cursor.
    const r1 = await runImport(src, dst, [...args, '--max-pages', '3']);
    assert.equal(r1.code, 3, `${r1.stdout}\n${r1.stderr}`);
    assert.equal(r1.report.complete, false);
    assert.equal(r1.report.counts.read, 300);
    assert.match(r1.stdout, /Import stopped \(run again to resume\)/);
    assert.equal(Object.keys(await writerUsers(dst)).length, 300 - 1, 'pages 1-3, minus twin-b-0 (refused)');
    const checkpoint = r1.report.checkpoint;
    const afterPage3 = join(work, 'page3.json');
    copyFileSync(checkpoint, afterPage3);

    // 2. Two more pages (4 and 5: 300-499), then a crash: the checkpoint goes back to page 3.
    const r2 = await runImport(src, dst, [...args, '--max-pages', '2']);
    assert.equal(r2.code, 3, `${r2.stdout}\n${r2.stderr}`);
    assert.equal(r2.report.counts.read, 500);
    assert.match(r2.stderr, /resuming after 300 users \(3 pages\)/);
    copyFileSync(afterPage3, checkpoint);
    // Meanwhile the source changes one active and one deactivated user of those pages.
    const active = fixture.users[401].id;
    const inactive = fixture.users[325].id;
    assert.ok(fixture.deactivate.includes(inactive));
    await ok(src, 'PATCH', '/users', { users: [{ id: active, set: { color: 'teal' } }, { id: inactive, set: { color: 'teal' }, unset: ['score'] }] });

    // 3. On from page 4, killed (SIGKILL) mid-run once a dozen pages are in and follow-ups
    //    (deactivations, names) are still waiting in the checkpoint...
    let killedAt;
    const r3 = await runImport(src, dst, args, {
      spawned: (child) => {
        const timer = setInterval(() => {
          let c;
          try {
            c = JSON.parse(readFileSync(checkpoint, 'utf8'));
          } catch {
            return; // between writes
          }
          if (c.pages >= 12 && c.pending.length > 0) {
            killedAt = c;
            clearInterval(timer);
            child.kill('SIGKILL');
          }
        }, 20);
        child.once('exit', () => clearInterval(timer));
      },
    });
    assert.equal(r3.signal, 'SIGKILL', `killed mid-run\n${r3.stdout}\n${r3.stderr}`);
    assert.ok(killedAt.pending.some((e) => e.deactivate), 'deactivations were waiting');

    // ...then run to the end: pages 4-5 again (equal users skipped, the changed two rewritten),
    // the page the kill interrupted again, the waiting follow-ups, the rest.
    const r3b = await runImport(src, dst, args);
    assert.equal(r3b.code, 2, `${r3b.stdout}\n${r3b.stderr}`);
    assert.equal(r3b.report.complete, true);
    assertAccounting(r3b.report, fixture.refused);
    const refusedInReplay = fixture.users.slice(300, 500).filter((u) => fixture.refused.includes(u.id)).length;
    assert.equal(refusedInReplay, 1);
    const replayedAfterKill = r3b.report.counts.skipped - (200 - 2 - refusedInReplay);
    assert.ok(replayedAfterKill >= 0 && replayedAfterKill <= 100, `only what changed is rewritten: ${JSON.stringify(r3b.report.counts)}`);
    await assertCopied(src, dst, fixture.refused);
    assert.equal((await writerUsers(dst))[inactive].color, 'teal');
    assert.ok((await writerUsers(dst))[inactive].deactivated_at);
    assert.equal((await writerUsers(dst))[active].color, 'teal');

    // 4. A complete import run again: nothing new after the cursor.
    const r4 = await runImport(src, dst, args);
    assert.equal(r4.code, 2);
    assert.equal(r4.report.this_run.read, 0);
    assert.equal(r4.report.counts.read, TOTAL);

    // 5. --restart, through a proxy that answers the second query 429 (reset in a second) and
    //    the fourth request 503: a full pass that writes nothing, refuses the same ten users.
    const hits = { total: 0, queries: 0, limited: 0, failed: 0 };
    const proxy = createServer(async (req, res) => {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      hits.total++;
      if (req.method === 'GET' && req.url.startsWith('/users?')) hits.queries++;
      if (req.method === 'GET' && req.url.startsWith('/users?') && hits.queries === 2 && !hits.limited) {
        hits.limited++;
        res.writeHead(429, { 'content-type': 'application/json', 'x-ratelimit-limit': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1) });
        res.end(JSON.stringify({ code: 9, StatusCode: 429, message: 'QueryUsers failed with error: "Too many requests"', duration: '0', more_info: '', details: [] }));
        return;
      }
      if (hits.total === 4 && !hits.failed) {
        hits.failed++;
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('upstream unavailable');
        return;
      }
      const up = await fetch(src.baseURL + req.url, {
        method: req.method, headers: { authorization: req.headers.authorization, 'stream-auth-type': 'jwt', 'content-type': 'application/json' },
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await up.arrayBuffer()));
    });
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const flaky = { ...src, baseURL: `http://127.0.0.1:${proxy.address().port}` };
      const r5 = await runImport(flaky, dst, [...args, '--restart']);
      assert.equal(r5.code, 2, `${r5.stdout}\n${r5.stderr}`);
      assert.equal(hits.limited, 1);
      assert.equal(hits.failed, 1);
      assert.match(r5.stderr, /rate limited \(429 code 9\) on GET \/users; waiting \d s/);
      assert.match(r5.stderr, /HTTP 503 on GET \/(users|app); retrying/);
      assertAccounting(r5.report, fixture.refused);
      assert.equal(r5.report.counts.written, 0);
      assert.equal(r5.report.counts.skipped, TOTAL - fixture.refused.length);
    } finally {
      proxy.close();
    }
    await assertCopied(src, dst, fixture.refused);
  });

  test('bad options and credentials fail before anything is written', TIMEOUT, async () => {
    const dst = { baseURL: 'http://127.0.0.1:9', key: 'k', secret: 's' };
    const usage = await runImport(src, dst, ['--page-size', '500']);
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /--page-size must be an integer from 1 to 100/);
    const badSecret = await runImport({ ...src, secret: 'wrong' }, dst, ['--report', join(work, 'bad.json'), '--state-dir', join(work, 'state-bad')]);
    assert.equal(badSecret.code, 1);
    assert.match(badSecret.stderr, /source GET \/app: HTTP 401 code (5|43)/);
  });
});
