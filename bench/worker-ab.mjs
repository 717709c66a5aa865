// Two builds of the Worker side by side under local workerd, requests interleaved: the Writer's
// write path before and after a change, measured in one run on the same machine.
//   node bench/worker-ab.mjs "$(bash bench/baseline.sh COMMIT)" . [--rounds 30]
// Each argument is a checkout whose build/ holds a production Worker (`bash scripts/build-worker.sh`)
// and whose wrangler.toml serves it. Each server is seeded with 100 users; then each round runs,
// on both servers in alternating order, GET /app, an upsert of the 100 stored users and a partial
// update of the 100 (3 set paths, one dotted, 1 unset) and the same upsert refused at its last
// user (an id that does not match its key: the body read and every user checked, nothing loaded
// or written: what a write costs before storage), with 1.5 s after each request so that
// the outbox drains to KV apart from the next one (locally, KV runs in the same workerd process
// and competes for the same CPU). Prints each request's p50 per build and the median of the
// per-round ratios (A's latency ÷ B's: above 1, B is faster).
import { startWorker, raw } from "../tests/worker/harness.mjs";
import { inputUser } from "./inputs.mjs";
import { resolve } from "node:path";

const roots = process.argv.slice(2, 4).map((r) => resolve(r));
if (roots.length !== 2) throw new Error("usage: node bench/worker-ab.mjs ROOT_A ROOT_B [--rounds N]");
const at = process.argv.indexOf("--rounds");
const ROUNDS = at > 0 ? Number(process.argv[at + 1]) : 30;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const users = Array.from({ length: 100 }, (_, i) => inputUser(i, "ab"));
const upsertBody = (v) =>
  JSON.stringify({ users: Object.fromEntries(users.map((u, i) => [u.id, { ...u, score: v + i }])) });
const partialBody = (v) =>
  JSON.stringify({
    users: users.map((u, i) => ({ id: u.id, set: { score: v * 2 + i, "address.city": `c${v}`, language: "de" }, unset: ["tags"] })),
  });
const refused = (v) => {
  const body = JSON.parse(upsertBody(v));
  body.users[users[users.length - 1].id].id = "not-its-key";
  return JSON.stringify(body);
};
const requests = {
  "GET /app": (w) => raw(w, "GET", "/app"),
  "upsert 100 refused at the last user": (w, n) => raw(w, "POST", "/users", { body: refused(n) }),
  "upsert 100 stored users": (w, n) => raw(w, "POST", "/users", { body: upsertBody(n) }),
  "partial update 100 users": (w, n) => raw(w, "PATCH", "/users", { body: partialBody(n) }),
};

const servers = [];
for (const root of roots) servers.push(await startWorker({ hooks: false, root }));
try {
  for (const w of servers) {
    const r = await raw(w, "POST", "/users", { body: upsertBody(0) });
    if (r.status !== 201) throw new Error(`seeding: ${r.status} ${r.text}`);
  }
  await sleep(3000);
  const times = servers.map(() => Object.fromEntries(Object.keys(requests).map((k) => [k, []])));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, send] of Object.entries(requests)) {
      for (const i of round % 2 ? [1, 0] : [0, 1]) {
        const t0 = performance.now();
        const res = await send(servers[i], round + 1);
        times[i][name].push(performance.now() - t0);
        const ok = name.includes("refused") ? res.status === 400 : res.status < 300;
        if (!ok) throw new Error(`${name}: ${res.status} ${res.text}`);
        await sleep(1500);
      }
    }
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];
  console.log(`| request | A p50 ms | B p50 ms | A ÷ B, median of ${ROUNDS} rounds |`);
  console.log("|---|---:|---:|---:|");
  for (const name of Object.keys(requests)) {
    const [a, b] = times.map((t) => t[name]);
    const ratio = median(a.map((x, i) => x / b[i]));
    console.log(`| ${name} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${ratio.toFixed(2)} |`);
  }
  console.log(`A: ${roots[0]}\nB: ${roots[1]}`);
} finally {
  for (const w of servers) await w.stop();
}
process.exit(0);
