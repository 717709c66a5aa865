// A CPU profile of the Worker under local workerd, taken through its DevTools endpoint: what a
// 100-user upsert spends its time on inside the isolate (the Worker and its Durable Objects run
// in one). Not a benchmark: it prints where the time goes, not how fast.
//   bash scripts/build-worker.sh && node bench/worker-profile.mjs [--rounds 30] [--users 100]
// For Rust function names, build with the name section kept: `ROSTER_KEEP_NAMES=1 bash
// scripts/build-worker.sh` (then rebuild without it before measuring sizes).
// Writes test-output/worker-profile.cpuprofile (open it in Chrome DevTools) and prints the
// functions with the most samples, self and inclusive.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker, serverClient, ROOT } from "../tests/worker/harness.mjs";
import { inputUser } from "./inputs.mjs";
// The `ws` client wrangler itself depends on: Node's built-in WebSocket sends `Origin: null`,
// which wrangler's inspector proxy refuses.
import WebSocket from "ws";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg("rounds", 30);
const USERS = arg("users", 100);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A DevTools session on workerd's isolate. */
async function inspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let next = 1;
  const pending = new Map();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg);
      pending.delete(msg.id);
    }
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, close: () => ws.close() };
}

/** Samples per function: self, and inclusive (each function counted once per sample). */
function summary(profile, top = 40) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => n.callFrame.functionName || `(${n.callFrame.url.split("/").pop() || "anonymous"})`;
  const self = new Map();
  const incl = new Map();
  for (const id of profile.samples) {
    const leaf = nodes.get(id);
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + 1);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const fn = name(nodes.get(at));
      if (!seen.has(fn)) incl.set(fn, (incl.get(fn) ?? 0) + 1), seen.add(fn);
    }
  }
  const total = profile.samples.length;
  const idle = (self.get("(idle)") ?? 0) + (self.get("(program)") ?? 0);
  const rows = (m) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, n]) => `${((100 * n) / (total - idle)).toFixed(1).padStart(5)}%  ${f.slice(0, 140)}`);
  return [`${total} samples, ${idle} idle; shares of the busy ones`, "", "self:", ...rows(self), "", "inclusive:", ...rows(incl)].join("\n");
}

const w = await startWorker({ hooks: false });
try {
  const client = serverClient(w);
  const batch = (variant) => Array.from({ length: USERS }, (_, i) => inputUser(i, "user", variant));
  await client.upsertUsers(batch(0));
  await sleep(2000); // the outbox drains to KV after each write (the alarm): let it settle
  const dev = await inspector(w.inspectorPort);
  await dev.call("Profiler.enable");
  await dev.call("Profiler.setSamplingInterval", { interval: 100 });
  await dev.call("Profiler.start");
  for (let r = 1; r <= ROUNDS; r++) {
    await client.upsertUsers(batch(r % 2 ? 1 : 0));
    await sleep(1500); // the drain runs alone, and shows apart in the profile
  }
  const { profile } = await dev.call("Profiler.stop");
  dev.close();
  const out = join(ROOT, "test-output");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "worker-profile.cpuprofile"), JSON.stringify(profile));
  console.log(summary(profile));
  console.log(`\nwrote test-output/worker-profile.cpuprofile (${ROUNDS} upserts of ${USERS} users)`);
} finally {
  await w.stop();
}
