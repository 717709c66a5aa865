// Part 2 of `npm run bench`: the built Worker (build/) under local workerd (`wrangler dev`,
// started by tests/worker/harness.mjs on a free loopback port, test hooks off), where every
// request is one command to the Writer Durable Object and its SQLite is the source of truth.
//
// One server for the whole run, one --persist-to directory: users are seeded through the API,
// 100 per upsert with 4 in flight, up to each scale in turn (1k → 10k → 100k by default), and
// every workload is measured at each scale:
//
//   baseline      GET /app: what every request does (api_key, token HMAC, one Writer command)
//   id $in        {id: {$in: 30 ids}}                          → 30 users   (primary key)
//   name $eq      {name: {$eq: <full name>}}                   → 1 user     (users_by_name)
//   autocomplete  {name: {$autocomplete: <full name>}}         → 1 user     (name_words)
//   autocomplete  {name: {$autocomplete: "m000123"}}           → 10 users   (name_words)
//   teams         {teams: {$contains: "t123"}}, limit 100      → 50 users   (user_teams)
//   custom field  {n: {$eq: k}}                                → 1 user     (no index: a scan)
//   upsert        POST /users with 100 stored users (rotating over 10 batches)
//   partial       PATCH /users with 1 user: 2 set paths, 1 unset (rotating over 1,000 users)
//
// The seed makes every indexed query's answer the same size at every scale: user i has a
// unique name ending in the tag `m<i, 7 digits>` (so a tag prefix of 6 digits names 10 users),
// team `t<i/50>` and custom field `n: i`. Query targets are drawn (seeded) from all stored users.
// Every answer is checked: status, and exactly the expected ids.
//
// "alone" is requests sent one at a time (3 to warm up, then up to 50, within a time budget).
// Every workload starts with the Writer's outbox empty (read from its SQLite file, read-only),
// so the alarm's KV writes for earlier workloads do not run alongside; a write workload's own
// replication does (locally, KV runs in the same workerd process as the Writer, so it competes
// for the same CPU). `upsert_quiet` waits for the outbox to drain before each request: the
// write without replication running. Then autocannon measures throughput, bounded: 4
// connections for a few seconds per workload (the custom-field scan: 1 connection, a bounded
// count). The `x-roster-kv-ops` header of every answer is collected.
//
// Then, at each scale, issue 27's walks: every user through queryUsers' keyset cursors and
// through the change feed (requests = Writer commands; each user seen exactly once).
//
// Standalone: node bench/worker.mjs [--scales 1000,10000,100000] [--seconds 5] [--connections 4] [--walks-only] [--json]
import autocannon from "autocannon";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, raw, startWorker } from "../tests/worker/harness.mjs";
import { inputUser, rng } from "./inputs.mjs";

const SEED_BATCH = 100;
const SEED_CONCURRENCY = 4;
const TEAM_SIZE = 50;
const GROUP = 10; // users sharing a 6-digit tag prefix
const ALONE = { warmup: 3, count: 50, min: 10, budgetMs: 30_000 };
const DRAIN_TIMEOUT_MS = 600_000;
const PREFIX = "seed";
const id = (i) => `${PREFIX}-${i}`;
const tag = (i) => `m${String(i).padStart(7, "0")}`;

/** A seeded user: unique name (display name + tag), one team of 50, custom field `n`. */
export function benchUser(i, variant = 0) {
  const u = inputUser(i, PREFIX, variant);
  return { ...u, name: `${u.name} ${tag(i)}`, teams: [`t${Math.floor(i / TEAM_SIZE)}`], n: i };
}

const restarts = [];
const RESTARTED = /restarted mid-request/;

/**
 * `raw`, sent again (up to 3 times) when wrangler dev answers 503 "restarted mid-request": it
 * reloads workerd when files it watches change (on a shared machine, another developer's npm
 * install did). Each such restart is recorded in the result.
 */
async function send(w, method, path, opts) {
  for (let attempt = 0; ; attempt++) {
    const t0 = performance.now();
    const res = await raw(w, method, path, opts);
    const ms = performance.now() - t0;
    if (res.status !== 503 || !RESTARTED.test(res.text) || attempt === 3) return { res, ms };
    restarts.push({ at: new Date().toISOString(), request: `${method} ${path}`, output: w.logs().slice(-1000) });
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Seeds users [from, to) with 100-user upserts, a few in flight; returns the request latencies. */
async function seed(w, from, to) {
  const starts = [];
  for (let s = from; s < to; s += SEED_BATCH) starts.push(s);
  const latencies = [];
  let next = 0;
  const worker = async () => {
    while (next < starts.length) {
      const start = starts[next++];
      const users = {};
      for (let i = start; i < Math.min(to, start + SEED_BATCH); i++) users[id(i)] = benchUser(i);
      const { res, ms } = await send(w, "POST", "/users", { body: { users } });
      latencies.push(ms);
      if (res.status !== 201) throw new Error(`seeding failed: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
  return latencies;
}

/** The Writer's SQLite file in the persist directory (the one with an outbox table). */
function writerDb(persistTo) {
  const dir = join(persistTo, "v3", "do");
  if (!existsSync(dir)) return null;
  for (const sub of readdirSync(dir)) {
    for (const f of readdirSync(join(dir, sub))) {
      if (f.endsWith(".sqlite") && f !== "metadata.sqlite") return join(dir, sub, f);
    }
  }
  return null;
}

/** Waits until the Writer's outbox is empty (polling its SQLite file, read-only); returns seconds. */
async function outboxDrained(persistTo) {
  const { DatabaseSync } = await import("node:sqlite");
  const path = writerDb(persistTo);
  if (!path) throw new Error(`no Writer database under ${persistTo}`);
  const t0 = Date.now();
  for (;;) {
    const db = new DatabaseSync(path, { readOnly: true });
    let pending;
    try {
      pending = db.prepare("SELECT count(*) AS c FROM outbox").get().c;
    } finally {
      db.close();
    }
    if (pending === 0) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > DRAIN_TIMEOUT_MS) throw new Error(`the outbox still holds ${pending} entries`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The requests of each workload at `scale` stored users: {label, requests, expect, limit}.
 * `expect(i)` is the ids the i-th request's answer must hold (queries), or its user count.
 */
function workloads(w, scale) {
  const headers = { authorization: w.serverToken, "stream-auth-type": "jwt", "content-type": "application/json" };
  const path = (p, query = {}) => `${p}?${new URLSearchParams({ api_key: w.key, ...query })}`;
  const r = rng(scale);
  const pick = (n) => Math.floor(r() * n);
  const ids = (from, n) => Array.from({ length: n }, (_, k) => id(from + k));
  const query = (make) => {
    const reqs = [];
    const expected = [];
    for (let q = 0; q < 20; q++) {
      const { filter, limit = 30, expect } = make();
      reqs.push({ method: "GET", path: path("/users", { payload: JSON.stringify({ filter_conditions: filter, limit }) }), headers });
      expected.push(expect);
    }
    return { requests: reqs, expected };
  };
  const single = (field) => () => {
    const i = pick(scale);
    return { filter: field(i), expect: [id(i)] };
  };
  const out = {
    baseline: { requests: [{ method: "GET", path: path("/app"), headers }], status: 200 },
    id_in: query(() => {
      const chosen = new Set();
      while (chosen.size < 30) chosen.add(pick(scale));
      const list = [...chosen].map(id);
      return { filter: { id: { $in: list } }, expect: list };
    }),
    name_eq: query(single((i) => ({ name: { $eq: benchUser(i).name } }))),
    autocomplete_1: query(single((i) => ({ name: { $autocomplete: benchUser(i).name } }))),
    autocomplete_10: query(() => {
      const g = pick(Math.floor(scale / GROUP));
      return { filter: { name: { $autocomplete: tag(g * GROUP).slice(0, -1) } }, expect: ids(g * GROUP, GROUP) };
    }),
    teams: query(() => {
      const t = pick(Math.floor(scale / TEAM_SIZE));
      return { filter: { teams: { $contains: `t${t}` } }, limit: 100, expect: ids(t * TEAM_SIZE, TEAM_SIZE) };
    }),
    custom: query(single((i) => ({ n: { $eq: i } }))),
    upsert: {
      requests: Array.from({ length: 10 }, (_, b) => {
        const users = {};
        for (let i = b * 100; i < b * 100 + 100; i++) users[id(i)] = benchUser(i, 1 + (b % 3));
        return { method: "POST", path: path("/users"), headers, body: JSON.stringify({ users }) };
      }),
      status: 201,
      count: 100,
    },
    partial: {
      requests: Array.from({ length: 1000 }, (_, i) => ({
        method: "PATCH",
        path: path("/users"),
        headers,
        body: JSON.stringify({ users: [{ id: id(i), set: { "address.city": "Oslo", "prefs.theme": "dark" }, unset: ["tags"] }] }),
      })),
      status: 200,
      count: 1,
    },
  };
  for (const k of QUERIES) out[k].status = 200;
  out.upsert_quiet = out.upsert;
  return out;
}

const QUERIES = ["id_in", "name_eq", "autocomplete_1", "autocomplete_10", "teams", "custom"];
const WRITES = ["upsert", "upsert_quiet", "partial"];
export const LABEL = {
  baseline: "GET /app (baseline)",
  id_in: "id $in 30 ids → 30",
  name_eq: "name $eq full name → 1",
  autocomplete_1: "name $autocomplete full name → 1",
  autocomplete_10: "name $autocomplete 7-char prefix → 10",
  teams: "teams $contains → 50",
  custom: "custom field n $eq (scan) → 1",
  upsert: "upsert 100 stored users",
  upsert_quiet: "upsert 100 stored users, outbox empty before each",
  partial: "partial update 1 user",
};

/** Sends request `i` of a workload and checks its answer; returns latency and the KV-ops header. */
async function probe(w, work, i) {
  const request = work.requests[i % work.requests.length];
  const [p, q] = request.path.split("?");
  const { res, ms } = await send(w, request.method, p, { query: Object.fromEntries(new URLSearchParams(q)), body: request.body, apiKey: null });
  if (res.status !== work.status) throw new Error(`HTTP ${res.status} ${res.text.slice(0, 300)}`);
  const users = res.json?.users;
  const got = Array.isArray(users) ? users.map((u) => u.id) : Object.keys(users ?? {});
  if (work.expected) {
    const want = work.expected[i % work.expected.length];
    if (got.length !== want.length || [...got].sort().join() !== [...want].sort().join()) {
      throw new Error(`expected ${want.length} users (${want.slice(0, 3)}…), got ${got.length} (${got.slice(0, 3)}…)`);
    }
  } else if (work.count !== undefined && got.length !== work.count) {
    throw new Error(`expected ${work.count} users, got ${got.length}`);
  }
  const kv = res.headers["x-roster-kv-ops"];
  return { ms, kvOps: kv === undefined ? null : Number(kv) };
}

/**
 * Requests sent one at a time: 3 to warm up, then up to 50 (at least 10) within the budget.
 * `before` runs before each timed request, untimed (e.g. waiting for the outbox to drain).
 */
async function alone(w, work, { count = ALONE.count, before } = {}) {
  for (let i = 0; i < ALONE.warmup; i++) await probe(w, work, i);
  const times = [];
  const kvOps = [];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    if (i >= ALONE.min && performance.now() - t0 > ALONE.budgetMs) break;
    if (before) await before();
    const { ms, kvOps: ops } = await probe(w, work, ALONE.warmup + i);
    times.push(ms);
    if (ops !== null) kvOps.push(ops);
  }
  return { times, kvOps };
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** One bounded autocannon run (run again once if wrangler restarted workerd meanwhile). */
async function load(w, work, bound) {
  try {
    return await loadOnce(w, work, bound);
  } catch (e) {
    if (!RESTARTED.test(e.message)) throw e;
    restarts.push({ at: new Date().toISOString(), request: "autocannon", output: w.logs().slice(-1000) });
    return loadOnce(w, work, bound);
  }
}

/** One bounded autocannon run; returns {requests, rps, p50, p99, kvOps}. */
async function loadOnce(w, work, bound) {
  const acc = { latencies: [], kvOps: [], statuses: {}, failure: undefined };
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: w.baseURL,
        ...bound,
        timeout: 60,
        requests: work.requests.map((r) => ({
          ...r,
          onResponse: (status, body, _context, headers) => {
            acc.statuses[status] = (acc.statuses[status] ?? 0) + 1;
            if (status !== work.status && !acc.failure) acc.failure = `HTTP ${status} ${String(body).slice(0, 300)}`;
            const ops = Number(headers?.["x-roster-kv-ops"]);
            if (Number.isFinite(ops)) acc.kvOps.push(ops);
          },
        })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, _status, _bytes, responseTime) => acc.latencies.push(responseTime));
  });
  if (acc.failure || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${result.errors} errors, ${result.timeouts} timeouts: ${JSON.stringify(acc.statuses)}; first: ${acc.failure}`);
  }
  const lat = acc.latencies;
  return {
    connections: bound.connections,
    requests: lat.length,
    rps: lat.length / result.duration,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    kvOpsMax: acc.kvOps.length ? Math.max(...acc.kvOps) : null,
  };
}

const loadAvg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/**
 * Runs the Worker bench. Returns {rows, seeding, build, connections, seconds}: one row per
 * (scale, workload) with its alone times and its autocannon result, and one seeding step per
 * scale (seconds, request latencies, seconds for the outbox to drain afterwards).
 */
/**
 * Issue 27's walks, at one scale: every stored user through `queryUsers` keyset cursors (default
 * sort, 100 per page, following `next`) and through the change feed (`GET /users/changes`, 1,000
 * per page, from the start). Each request is one Writer command, so requests = commands. Every
 * user must be seen exactly once.
 */
async function walks(w, scale) {
  const seenOnce = (ids, what) => {
    const unique = new Set(ids);
    if (unique.size !== ids.length || unique.size < scale) throw new Error(`${what}: ${ids.length} users, ${unique.size} distinct, ${scale} stored`);
  };
  let t0 = performance.now();
  let requests = 0;
  const walked = [];
  for (let next; ;) {
    const payload = { filter_conditions: {}, limit: 100, ...(next ? { next } : {}) };
    const { res } = await send(w, "GET", "/users", { query: { payload } });
    requests++;
    if (res.status !== 200) throw new Error(`walk: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    walked.push(...res.json.users.map((u) => u.id));
    next = res.json.next;
    if (!next) break;
  }
  const walk = { seconds: (performance.now() - t0) / 1000, requests };
  seenOnce(walked, "walk");
  t0 = performance.now();
  requests = 0;
  const fed = [];
  for (let since; ;) {
    const { res } = await send(w, "GET", "/users/changes", { query: { limit: "1000", ...(since ? { since } : {}) } });
    requests++;
    if (res.status !== 200) throw new Error(`feed: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    fed.push(...res.json.changes.map((c) => c.user.id));
    since = res.json.next;
    if (res.json.changes.length === 0) break;
  }
  const feed = { seconds: (performance.now() - t0) / 1000, requests, changes: fed.length };
  seenOnce(fed, "feed");
  return { walk, feed };
}

export async function runWorkerBench({ scales = [1000, 10_000, 100_000], seconds = 5, connections = 4, walksOnly = false, log = () => {} } = {}) {
  const wasm = readFileSync(join(ROOT, "build", "index_bg.wasm"));
  const git = (...a) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const build = {
    wasmBytes: wasm.length,
    wasmSha256: createHash("sha256").update(wasm).digest("hex").slice(0, 16),
    head: git("rev-parse", "--short", "HEAD"),
    srcDirty: git("status", "--porcelain", "--", "src").length > 0,
  };
  const persistTo = mkdtempSync(join(tmpdir(), "roster-bench-"));
  const rows = [];
  const seeding = [];
  const walked = [];
  let w;
  try {
    w = await startWorker({ persistTo, hooks: false });
    let stored = 0;
    for (const scale of [...scales].sort((a, b) => a - b)) {
      log(`seeding ${stored} → ${scale} users (load ${loadAvg()})`);
      const t0 = Date.now();
      const latencies = await seed(w, stored, scale);
      const secs = (Date.now() - t0) / 1000;
      log(`seeded in ${secs.toFixed(1)} s; waiting for the outbox to drain to KV`);
      const drain = await outboxDrained(persistTo);
      seeding.push({ from: stored, to: scale, seconds: secs, requests: latencies.length, p50: percentile(latencies, 50), drainSeconds: drain, load: loadAvg() });
      stored = scale;
      const work = workloads(w, scale);
      const row = (kind) => {
        let r = rows.find((x) => x.scale === scale && x.kind === kind);
        if (!r) rows.push((r = { scale, kind }));
        return r;
      };
      // Reads first, on a quiet Writer (outbox empty); writes after (their outbox drains meanwhile).
      for (const kind of walksOnly ? [] : ["baseline", ...QUERIES, ...WRITES]) {
        log(`${scale} users: ${kind} alone`);
        // upsert_quiet: no KV replication of earlier writes runs meanwhile (locally, the KV
        // writes run in the same workerd process as the Writer); 20 requests, each waiting for
        // the outbox to drain first (at least a second: one KV write per key per second).
        const opts = kind === "upsert_quiet" ? { count: 20, before: () => outboxDrained(persistTo) } : {};
        await outboxDrained(persistTo);
        const { times, kvOps } = await alone(w, work[kind], opts);
        Object.assign(row(kind), {
          alone: { n: times.length, p50: percentile(times, 50), p95: percentile(times, 95), min: Math.min(...times), times: times.map((t) => Math.round(t * 10) / 10) },
          kvOps: kvOps.length ? { min: Math.min(...kvOps), max: Math.max(...kvOps) } : null,
        });
      }
      for (const kind of walksOnly ? [] : ["baseline", ...QUERIES, ...WRITES.filter((x) => x !== "upsert_quiet")]) {
        log(`${scale} users: ${kind} under autocannon`);
        await outboxDrained(persistTo);
        const ms = row(kind).alone.p50;
        const bound =
          kind === "custom"
            ? { connections: 1, amount: Math.max(5, Math.min(100, Math.round((seconds * 1000) / ms))) }
            : { connections, duration: seconds };
        row(kind).load = await load(w, work[kind], bound);
      }
      if (!walksOnly) row("baseline").load.loadAvg = loadAvg();
      log(`${scale} users: a full walk with cursors, and the change feed from the start`);
      await outboxDrained(persistTo);
      walked.push({ scale, ...(await walks(w, scale)) });
    }
  } catch (e) {
    if (w) log(`wrangler's output (end):\n${w.logs().slice(-4000)}`);
    throw e;
  } finally {
    await w?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  }
  return { rows, seeding, walked, build, connections, seconds, restarts };
}

const num = (x) => (x >= 100 ? String(Math.round(x)) : x.toFixed(1));
const k = (n) => (n >= 1000 ? `${n / 1000}k` : String(n));

/** Alone latency per workload (rows) and scale (columns): p50 / p95 in ms. */
export function formatAloneTable({ rows }) {
  const scales = [...new Set(rows.map((r) => r.scale))];
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const lines = [
    `| request, alone (ms) | ${scales.map((s) => `${k(s)} users p50 / p95`).join(" | ")} | KV ops/req |`,
    `|---|${scales.map(() => "---:").join("|")}|---:|`,
  ];
  for (const kind of kinds) {
    const cells = scales.map((s) => {
      const r = rows.find((x) => x.scale === s && x.kind === kind);
      return r ? `${num(r.alone.p50)} / ${num(r.alone.p95)}` : "–";
    });
    const ops = rows.filter((x) => x.kind === kind && x.kvOps).flatMap((x) => [x.kvOps.min, x.kvOps.max]);
    const opsCell = ops.length ? (Math.min(...ops) === Math.max(...ops) ? `${ops[0]}` : `${Math.min(...ops)}–${Math.max(...ops)}`) : "–";
    lines.push(`| ${LABEL[kind]} | ${cells.join(" | ")} | ${opsCell} |`);
  }
  return lines.join("\n");
}

/** Throughput under autocannon, per scale and workload. */
export function formatLoadTable({ rows }) {
  const lines = ["| stored | request | conns | req/s | p50 ms | p99 ms |", "|---:|---|---:|---:|---:|---:|"];
  for (const r of rows) {
    if (!r.load) continue;
    lines.push(
      `| ${r.scale.toLocaleString("en-US")} | ${LABEL[r.kind]} | ${r.load.connections} | ${r.load.rps.toFixed(1)} | ${num(r.load.p50)} | ${num(r.load.p99)} |`,
    );
  }
  return lines.join("\n");
}

export function formatSeeding({ seeding }) {
  return seeding
    .map(
      (s) =>
        `${s.from.toLocaleString("en-US")} → ${s.to.toLocaleString("en-US")} users: ${s.requests} upserts in ${s.seconds.toFixed(1)} s ` +
        `(p50 ${num(s.p50)} ms with ${SEED_CONCURRENCY} in flight), outbox drained to KV ${s.drainSeconds.toFixed(1)} s later`,
    )
    .join("; ");
}

/** Issue 27's full walks: cursors (100 per page) and the change feed (1,000 per page). */
export function formatWalkTable({ walked }) {
  const lines = [
    "| stored | walk with cursors: s | requests | users/s | change feed: s | requests | changes/s |",
    "|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { scale, walk, feed } of walked ?? []) {
    lines.push(
      `| ${scale.toLocaleString("en-US")} | ${walk.seconds.toFixed(2)} | ${walk.requests} | ${Math.round(scale / walk.seconds)} | ` +
        `${feed.seconds.toFixed(2)} | ${feed.requests} | ${Math.round(feed.changes / feed.seconds)} |`,
    );
  }
  return lines.join("\n");
}

export function formatWorkerRows(result) {
  const restarted = result.restarts?.length ? [`wrangler restarted workerd mid-request ${result.restarts.length} time(s) (requests sent again).`] : [];
  return [formatAloneTable(result), "", formatLoadTable(result), "", formatWalkTable(result), "", `Seeding: ${formatSeeding(result)}.`, ...restarted].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const result = await runWorkerBench({
    scales: arg("--scales", "1000,10000,100000").split(",").map(Number),
    seconds: Number(arg("--seconds", 5)),
    connections: Number(arg("--connections", 4)),
    walksOnly: process.argv.includes("--walks-only"),
    log: (m) => console.error(`[bench] ${m}`),
  });
  const text = process.argv.includes("--walks-only") ? [formatWalkTable(result), "", `Seeding: ${formatSeeding(result)}.`].join("\n") : formatWorkerRows(result);
  console.log(process.argv.includes("--json") ? JSON.stringify(result, null, 2) : text);
  process.exit(0);
}
