// The connection hubs table of `npm run bench` (issue 26; part 2, the Worker): connects per second
// and event fan-out latency, before and after connection hubs, in one run. "Before" is an earlier
// commit's production Worker (by default cb82ac4, where the Writer held every socket), built by
// bench/baseline.sh; "after" is this checkout's build/ at the default hub count (wrangler.toml) and
// at 8 hubs. All servers run at once under local workerd (test hooks off) and every workload is
// interleaved over them, round by round, so a busy moment of the machine falls on each alike.
//
//   connects   N users (stored, their details unchanged) open a socket each, all at once; the
//              time from the first open to the last `health.check` → connects/s. Then all
//              close, and the next round starts once the server has every one offline. The
//              median of the rounds. After hubs, the Writer commands each storm cost (stats).
//   fan-out    the N users' connections each watch one user (a `presence: true` query); one
//              write to warm up, then K writes to it, one at a time: for each watcher, the time from sending the write to
//              its `user.updated` → p50, p99 and max over N × K deliveries, and the median time
//              until the last watcher had it.
//
// Standalone: node bench/hubs.mjs [--users 1000] [--rounds 3] [--writes 10] [--baseline DIR] [--json]
// (DIR: a checkout with a built build/, as bench/baseline.sh prints; without it, only "after").
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { serverClient, startWorker, stats } from "../tests/worker/harness.mjs";
import { open, storeNamed, watch } from "../tests/worker/sockets.mjs";

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Starts one server per configuration and stores the N users and the watched one. */
async function setup(configs, users) {
  const ids = Array.from({ length: users }, (_, i) => `bh-${i}`);
  for (const c of configs) {
    c.w = await startWorker({ hooks: false, root: c.root, vars: c.vars ?? {} });
    c.server = serverClient(c.w);
    await storeNamed(c.server, ids);
    await c.server.upsertUsers([{ id: "bh-target", name: "Target" }]);
  }
  return ids;
}

/** Commands the Writer has run (after hubs: from GET /roster/stats), or null. */
async function commands(c) {
  if (!c.hubs) return null;
  return (await stats(c.w)).writer.commands_total;
}

/** Closes every socket and waits until the server has all N offline. */
async function closeAll(c, conns, ids) {
  for (const x of conns) x.ws.close();
  await Promise.all(conns.map((x) => x.closed));
  for (let i = 0; i < 600; i++) {
    let online = 0;
    for (let k = 0; k < ids.length; k += 100) {
      const got = await c.server.queryUsers({ id: { $in: ids.slice(k, k + 100) } }, {}, { presence: true, limit: 100 });
      online += got.users.filter((u) => u.online).length;
    }
    if (online === 0) return;
    await sleep(100);
  }
  throw new Error(`${c.name}: users stayed online after their sockets closed`);
}

/** One connect storm: every user at once. */
async function storm(c, ids) {
  const before = await commands(c);
  const t0 = performance.now();
  const conns = ids.map((id) => open(c.w, id, { id, name: `Name ${id}` }));
  const hellos = await Promise.all(conns.map((x) => x.hello));
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(hellos.every((f) => f.type === "health.check"), `${c.name}: every connect answered`);
  const after = await commands(c);
  await closeAll(c, conns, ids);
  return { seconds, perSecond: ids.length / seconds, commands: before === null ? null : after - before };
}

/** Opens the watchers: each user's connection watches bh-target (8 queries in flight). */
async function watchers(c, ids) {
  const conns = ids.map((id) => open(c.w, id, { id, name: `Name ${id}` }));
  await Promise.all(conns.map((x) => x.hello));
  let next = 0;
  const worker = async () => {
    while (next < conns.length) await watch(c.w, conns[next++], ["bh-target"]);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return conns;
}

/** One write to bh-target; each watcher's latency (ms) to its `user.updated`. */
async function write(c, conns, round) {
  const got = conns.map((x) => x.next((f) => f.type === "user.updated" && f.user?.round === round).then(() => performance.now()));
  const t0 = performance.now();
  await c.server.partialUpdateUsers([{ id: "bh-target", set: { round } }]);
  const times = await Promise.all(got);
  return times.map((t) => t - t0);
}

/**
 * Runs the bench. `baseline`: the root of an earlier build (bench/baseline.sh), or null.
 * Returns {users, rounds, writes, configs: [{name, connects: [...], fanout: {...}}]}.
 */
export async function runHubsBench({ users = 1000, rounds = 3, writes = 10, baseline = null, log = () => {} } = {}) {
  const configs = [];
  if (baseline) configs.push({ name: "before: the Writer holds every socket", root: baseline, hubs: false });
  configs.push({ name: "after: hubs, default count (wrangler.toml)", hubs: true });
  configs.push({ name: "after: hubs, ROSTER_HUBS = 8", hubs: true, vars: { ROSTER_HUBS: "8" } });
  try {
    log(`hubs: starting ${configs.length} servers, ${users} users each`);
    const ids = await setup(configs, users);
    for (const c of configs) c.connects = [];
    for (let r = 1; r <= rounds; r++) {
      for (const c of configs) {
        c.connects.push(await storm(c, ids));
        log(`hubs: connect storm ${r}/${rounds}, ${c.name}: ${Math.round(c.connects.at(-1).perSecond)}/s`);
      }
    }
    const watching = [];
    for (const c of configs) watching.push(await watchers(c, ids));
    // One write each to warm up (not counted): the first reaches hubs and paths not yet used.
    for (const [i, c] of configs.entries()) await write(c, watching[i], 0);
    for (const c of configs) c.latencies = [];
    for (const c of configs) c.lasts = [];
    for (let k = 1; k <= writes; k++) {
      for (const [i, c] of configs.entries()) {
        const ms = await write(c, watching[i], k);
        c.latencies.push(...ms);
        c.lasts.push(Math.max(...ms));
      }
    }
    for (const [i, c] of configs.entries()) await closeAll(c, watching[i], ids);
    return {
      users, rounds, writes,
      configs: configs.map((c) => {
        const sorted = [...c.latencies].sort((a, b) => a - b);
        return {
          name: c.name,
          connects: c.connects,
          connectsPerSecond: median(c.connects.map((x) => x.perSecond)),
          commandsPerStorm: c.hubs ? median(c.connects.map((x) => x.commands)) : null,
          fanout: { p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted.at(-1), last: median(c.lasts), samples: sorted.length },
        };
      }),
    };
  } finally {
    for (const c of configs) await c.w?.stop();
  }
}

export function formatHubsTable(res) {
  const ms = (x) => `${x.toFixed(1)} ms`;
  const lines = [
    `| build | connects/s (${res.users.toLocaleString("en-US")} at once, median of ${res.rounds}) | Writer commands per storm | fan-out p50 | p99 | max | write → last of ${res.users.toLocaleString("en-US")} watchers (median of ${res.writes}) |`,
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const c of res.configs) {
    lines.push(
      `| ${c.name} | ${Math.round(c.connectsPerSecond).toLocaleString("en-US")} | ${c.commandsPerStorm ?? "n/a"} | ` +
        `${ms(c.fanout.p50)} | ${ms(c.fanout.p99)} | ${ms(c.fanout.max)} | ${ms(c.fanout.last)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const res = await runHubsBench({
    users: Number(arg("--users", 1000)),
    rounds: Number(arg("--rounds", 3)),
    writes: Number(arg("--writes", 10)),
    baseline: arg("--baseline", null),
    log: (m) => console.error(`[bench] ${m}`),
  });
  console.log(process.argv.includes("--json") ? JSON.stringify(res, null, 2) : formatHubsTable(res));
  process.exit(0);
}
