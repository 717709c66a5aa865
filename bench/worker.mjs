// Part 2 of `npm run bench`: the built Worker (build/) under local workerd (`wrangler dev`,
// started by tests/worker/harness.mjs on free loopback ports), driven by autocannon with a
// bounded number of connections for a bounded time:
//
//   baseline GET /app: what every request does (api_key, app-settings read, token HMAC, JSON)
//   upsert   POST /users with 100 users, all already stored (rotating over 10 batches)
//   partial  PATCH /users with 1 user: 2 set paths, 1 unset (rotating over 1,000 users)
//   query    GET /users?payload={filter_conditions: {id: {$in: 30 ids}}, limit: 30}
//
// at 1k, 10k and 50k stored users, on both write paths: the Writer Durable Object (the
// default) and WRITE_PATH=kv. One --persist-to directory serves every server of the run, one
// server at a time (two wrangler processes writing one directory fail now and then). Users are
// seeded through the Durable Object, 100 per request, up to each scale in turn, so its storage
// and KV both hold them. The two paths take turns (DO, KV, DO, KV: a restart each), so a busy
// neighbour on the shared machine slows both alike. Queries are served from KV on both paths,
// so they run once. The KV operations of every request are read from its `x-roster-kv-ops`
// header; "alone" is the median latency of requests sent one at a time.
//
// Standalone: node bench/worker.mjs [--scales 1000,10000,50000] [--seconds 6] [--connections 4] [--json]
import autocannon from "autocannon";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { raw, startWorker } from "../tests/worker/harness.mjs";
import { inputUser } from "./inputs.mjs";

const SEED_BATCH = 100;
const SEED_CONCURRENCY = 4;
const PASSES = 2; // each write path runs every workload twice, in turns: DO, KV, DO, KV
const PREFIX = "seed";
const id = (i) => `${PREFIX}-${i}`;

/** Seeds users [from, to) with 100-user upserts, a few requests in flight at a time. */
async function seed(w, from, to) {
  const batches = [];
  for (let start = from; start < to; start += SEED_BATCH) {
    const users = {};
    for (let i = start; i < Math.min(to, start + SEED_BATCH); i++) users[id(i)] = inputUser(i, PREFIX);
    batches.push({ users });
  }
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const body = batches[next++];
      const res = await raw(w, "POST", "/users", { body });
      if (res.status !== 201) throw new Error(`seeding failed: HTTP ${res.status} ${res.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
}

/** The requests of each workload (autocannon cycles through them on every connection). */
function workloads(w) {
  const headers = { authorization: w.serverToken, "stream-auth-type": "jwt", "content-type": "application/json" };
  const path = (p, query = {}) => `${p}?${new URLSearchParams({ api_key: w.key, ...query })}`;
  const baseline = [{ method: "GET", path: path("/app"), headers }];
  const upsert = Array.from({ length: 10 }, (_, b) => {
    const users = {};
    for (let i = b * 100; i < b * 100 + 100; i++) users[id(i)] = inputUser(i, PREFIX, 1 + (b % 3));
    return { method: "POST", path: path("/users"), headers, body: JSON.stringify({ users }) };
  });
  const partial = Array.from({ length: 1000 }, (_, i) => ({
    method: "PATCH",
    path: path("/users"),
    headers,
    body: JSON.stringify({ users: [{ id: id(i), set: { "address.city": "Oslo", "prefs.theme": "dark" }, unset: ["tags"] }] }),
  }));
  const query = Array.from({ length: 10 }, (_, q) => {
    const ids = Array.from({ length: 30 }, (_, k) => id((q * 97 + k * 31) % 1000));
    const payload = JSON.stringify({ filter_conditions: { id: { $in: ids } }, limit: 30 });
    return { method: "GET", path: path("/users", { payload }), headers };
  });
  return { baseline, upsert, partial, query };
}

const EXPECTED_STATUS = { baseline: 200, upsert: 201, partial: 200, query: 200 };
const EXPECTED_USERS = { upsert: 100, partial: 1, query: 30 };

/** Sends one request of a workload, checks its answer; returns its latency and KV operations. */
async function probe(w, request, kind) {
  const [p, q] = request.path.split("?");
  const t0 = performance.now();
  const res = await raw(w, request.method, p, { query: Object.fromEntries(new URLSearchParams(q)), body: request.body, apiKey: null });
  const ms = performance.now() - t0;
  if (res.status !== EXPECTED_STATUS[kind]) throw new Error(`${kind}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  if (kind in EXPECTED_USERS) {
    const users = res.json?.users;
    const n = Array.isArray(users) ? users.length : Object.keys(users ?? {}).length;
    if (n !== EXPECTED_USERS[kind]) throw new Error(`${kind}: expected ${EXPECTED_USERS[kind]} users, got ${n}`);
  }
  return { ms, kvOps: Number(res.headers["x-roster-kv-ops"]) };
}

/** Latencies of `n` requests sent one at a time (after one to warm up). */
async function alone(w, requests, kind, n) {
  await probe(w, requests[0], kind);
  const times = [];
  for (let i = 0; i < n; i++) times.push((await probe(w, requests[(i + 1) % requests.length], kind)).ms);
  return times;
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One bounded autocannon run; collects every latency, status and KV-ops header. */
async function slice(w, requests, kind, bound, acc) {
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: w.baseURL,
        ...bound,
        timeout: 60,
        requests: requests.map((r) => ({
          ...r,
          onResponse: (status, body, _context, headers) => {
            acc.statuses[status] = (acc.statuses[status] ?? 0) + 1;
            if (status >= 300 && !acc.failure) acc.failure = `HTTP ${status} ${String(body).slice(0, 300)}`;
            const ops = Number(headers?.["x-roster-kv-ops"]);
            if (Number.isFinite(ops)) acc.kvOps.push(ops);
          },
        })),
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on("response", (_client, _status, _bytes, responseTime) => acc.latencies.push(responseTime));
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${kind}: ${result.non2xx} non-2xx responses, ${result.errors} errors: ${JSON.stringify(acc.statuses)}; first: ${acc.failure}`,
    );
  }
  acc.seconds += result.duration;
}

function summary(acc, extra) {
  const lat = acc.latencies;
  const ops = [...acc.kvOps].sort((a, b) => a - b);
  return {
    ...extra,
    requests: lat.length,
    rps: lat.length / acc.seconds,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    kvOps: ops.length ? { min: ops[0], median: percentile(ops, 50), max: ops[ops.length - 1] } : null,
  };
}

const newAcc = () => ({ latencies: [], kvOps: [], statuses: {}, seconds: 0 });

/**
 * Runs the Worker bench. Returns {rows, seeding, connections, seconds}: one row per (scale,
 * write path, workload), and the seconds each seeding step took.
 */
export async function runWorkerBench({ scales = [1000, 10_000, 50_000], seconds = 6, connections = 4, log = () => {} } = {}) {
  const persistTo = mkdtempSync(join(tmpdir(), "roster-bench-kv-"));
  const rows = [];
  const seeding = [];
  const creds = {};
  const serve = async (path) => {
    const w = await startWorker({ persistTo, ...creds, vars: path === "kv" ? { WRITE_PATH: "kv" } : {} });
    Object.assign(creds, { key: w.key, secret: w.secret });
    return w;
  };
  let w;
  try {
    let stored = 0;
    for (const scale of scales) {
      const accs = {};
      const single = {};
      let queryRow;
      for (let pass = 0; pass < PASSES; pass++) {
        for (const path of ["durable_object", "kv"]) {
          w = await serve(path);
          if (pass === 0 && path === "durable_object") {
            const t0 = Date.now();
            log(`seeding ${stored} → ${scale} users through the Durable Object`);
            await seed(w, stored, scale);
            seeding.push({ from: stored, to: scale, seconds: (Date.now() - t0) / 1000 });
            stored = scale;
          }
          const work = workloads(w);
          for (const kind of ["baseline", "upsert", "partial"]) {
            log(`${scale} users, ${path}, ${kind} (pass ${pass + 1} of ${PASSES})`);
            const k = `${path}/${kind}`;
            accs[k] ??= newAcc();
            single[k] = [...(single[k] ?? []), ...(await alone(w, work[kind], kind, 3))];
            await slice(w, work[kind], kind, { connections, duration: seconds / PASSES }, accs[k]);
          }
          if (pass === 0 && path === "durable_object") {
            // Queries read KV on either path and scan every stored user: one connection, as
            // many requests as fit the time budget (3 at least), so latency is the query's own.
            log(`${scale} users: query`);
            const times = await alone(w, work.query, "query", 3);
            const ms = percentile(times, 50);
            const acc = newAcc();
            const amount = Math.max(3, Math.min(100, Math.round((seconds * 1000) / ms)));
            await slice(w, work.query, "query", { connections: 1, amount }, acc);
            queryRow = summary(acc, { scale, path: "read", kind: "query", connections: 1, alone: ms });
          }
          await w.stop();
          w = undefined;
        }
      }
      for (const path of ["durable_object", "kv"]) {
        for (const kind of ["baseline", "upsert", "partial"]) {
          const k = `${path}/${kind}`;
          rows.push(summary(accs[k], { scale, path, kind, connections, alone: percentile(single[k], 50) }));
        }
      }
      rows.push(queryRow);
    }
  } finally {
    await w?.stop();
    rmSync(persistTo, { recursive: true, force: true });
  }
  return { rows, seeding, connections, seconds };
}

const LABEL = {
  baseline: "GET /app (baseline)",
  upsert: "upsert 100 users",
  partial: "partial update 1 user",
  query: "query → 30 users",
};
const SERVER = { durable_object: "Durable Object", kv: "WRITE_PATH=kv", read: "either (reads KV)" };

export function formatWorkerRows({ rows }) {
  const ms = (x) => (x >= 100 ? String(Math.round(x)) : x.toFixed(1));
  const ops = (k) => (k ? (k.min === k.max ? `${k.median}` : `${k.median} (${k.min}–${k.max})`) : "–");
  const lines = [
    "| stored | write path | request | conns | req/s | p50 ms | p99 ms | alone ms | alone ÷ baseline | KV ops/req |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const base = rows.find((b) => b.kind === "baseline" && b.scale === r.scale && b.path === (r.path === "read" ? "durable_object" : r.path));
    const ratio = r.kind === "baseline" ? "1" : (r.alone / base.alone).toFixed(1);
    lines.push(
      `| ${r.scale.toLocaleString("en-US")} | ${SERVER[r.path]} | ${LABEL[r.kind]} | ${r.connections} | ${r.rps.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.alone)} | ${ratio}× | ${ops(r.kvOps)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const result = await runWorkerBench({
    scales: arg("--scales", "1000,10000,50000").split(",").map(Number),
    seconds: Number(arg("--seconds", 6)),
    connections: Number(arg("--connections", 4)),
    log: (m) => console.error(`[bench] ${m}`),
  });
  console.log(process.argv.includes("--json") ? JSON.stringify(result, null, 2) : formatWorkerRows(result));
  console.error(`seeding: ${result.seeding.map((s) => `${s.from}→${s.to} in ${s.seconds.toFixed(1)} s`).join(", ")}`);
  process.exit(0);
}
