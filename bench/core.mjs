// Part 1 of `npm run bench`: the core through the npm package (pkg/, wasm) against the plain
// JavaScript implementation in bench/js/, on the same inputs in the same run, string in and
// string out as a Worker sees them (the request body and the stored users arrive as JSON text,
// the response leaves as JSON text). The floor is JSON.parse of the same inputs plus
// JSON.stringify of the same response: what every implementation pays.
//
// Both implementations' outputs are checked equal (as parsed JSON) before anything is timed.
// Timing interleaves the implementations in rounds and reports medians, so a busy neighbour on
// the shared machine slows all of them alike; ratios are taken within each round.
//
// Standalone: node bench/core.mjs [--rounds N] [--ms M] [--json]
import { pathToFileURL } from "node:url";
import * as plain from "./js/roster.mjs";
import { coreInputs, inputUser, T_NOW } from "./inputs.mjs";

// The package as a consumer imports it (pkg/node.js); ROSTER_PKG=<path to a node.js entry>
// measures another build of it (a profiling or optimization variant) instead.
const wasm = await import(process.env.ROSTER_PKG ? pathToFileURL(process.env.ROSTER_PKG).href : "roster-users");

const OPTS = { now: T_NOW };

/** The three workloads for one implementation: each takes the inputs' strings, returns a string. */
function pipelines(impl, inputs) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  return {
    partial() {
      const body = JSON.parse(partialBody);
      const users = {};
      for (const entry of body.users) {
        users[entry.id] = impl.applyPartialUpdate(JSON.parse(stored.get(entry.id)), entry, OPTS);
      }
      return JSON.stringify({ users });
    },
    upsert() {
      const body = JSON.parse(upsertBody);
      const users = {};
      for (const id of Object.keys(body.users)) {
        const old = stored.get(id);
        users[id] = impl.mergeUpsert(old === undefined ? null : JSON.parse(old), body.users[id], OPTS);
      }
      return JSON.stringify({ users, membership_deletion_task_id: "" });
    },
    normalize() {
      return JSON.stringify(JSON.parse(namesBody).map(impl.normalizeUsername));
    },
  };
}

/**
 * The package's batch entry points: the request body and the stored users' text in, the
 * response text out (each user's record text comes back too, as slices of it).
 */
function batchPipelines(inputs) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  return {
    partial: () => wasm.partialUpdateUsers(partialBody, stored, OPTS).body,
    upsert: () => wasm.upsertUsers(upsertBody, stored, OPTS).body,
    normalize: () => wasm.normalizeUsernames(namesBody),
  };
}

/**
 * The same batches through `UserStore`, which runs the Worker's core path (one snapshot of the
 * batch's users and username index lists, unique usernames checked, commit built): what the
 * Worker's Durable Object spends in the core per request. Seeded with the same 100 users.
 */
function storePipelines(inputs, inputUsers) {
  const store = new wasm.UserStore();
  store.upsertUsers(inputUsers, OPTS);
  return {
    partial: () => JSON.stringify(store.partialUpdateUsers(JSON.parse(inputs.partialBody).users, OPTS)),
    upsert: () => JSON.stringify(store.upsertUsers(Object.values(JSON.parse(inputs.upsertBody).users), OPTS)),
  };
}

/** JSON.parse of the same inputs and JSON.stringify of the same response, nothing else. */
function floors(inputs, expected) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  const parseStored = () => {
    for (const s of stored.values()) JSON.parse(s);
  };
  return {
    partial() {
      JSON.parse(partialBody);
      parseStored();
      return JSON.stringify(expected.partial);
    },
    upsert() {
      JSON.parse(upsertBody);
      parseStored();
      return JSON.stringify(expected.upsert);
    },
    normalize() {
      JSON.parse(namesBody);
      return JSON.stringify(expected.normalize);
    },
  };
}

/** Calls per second of `fn`, run for about `ms` milliseconds. */
function opsPerSecond(fn, ms) {
  let sink = 0;
  let calls = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    sink += fn().length;
    calls++;
    elapsed = process.hrtime.bigint() - start;
  }
  if (sink === 0) throw new Error("empty output");
  return (calls * 1e9) / Number(elapsed);
}

/** The first path where two JSON values differ (object key order aside), or null. */
function firstDifference(a, b, path = "$") {
  if (a === b) return null;
  const show = (v) => JSON.stringify(v)?.slice(0, 80);
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(a) !== Array.isArray(b)) {
    return `${path}: JS ${show(a)}, wasm ${show(b)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference(a[k], b[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const OPERATIONS = [
  { key: "partial", label: "partial update, 100 users (5 set, 2 unset)" },
  { key: "upsert", label: "upsert merge, 100 users over 100 stored" },
  { key: "normalize", label: "normalize 10,000 names" },
];

/** Inputs both implementations must refuse, with the same code: the validation is the same too. */
const REFUSED = [
  ["partial", { id: "u", set: { "a..b": 1 } }],
  ["partial", { id: "u", set: { " a": 1 } }],
  ["partial", { id: "u", set: { "a.b": 1 }, unset: ["a"] }],
  ["partial", { id: "u", set: { created_at: "x" } }],
  ["partial", { id: "u", set: { id: "v" } }],
  ["partial", { id: "u", unset: ["deleted_at"] }],
  ["partial", { id: "u", set: { "name.first": "x" } }],
  ["partial", { id: "u", set: { teams: "red" } }],
  ["partial", { id: "u", set: { big: "x".repeat(6000) } }],
  ["partial", { id: "u", sett: {} }],
  ["partial", { id: "a b", set: { a: 1 } }],
  ["upsert", { id: "u", online: true }],
  ["upsert", { id: "u", role: "" }],
  ["upsert", { id: "u", privacy_settings: { nope: {} } }],
  ["upsert", { id: "u", teams_role: { red: 1 } }],
  ["upsert", { id: "u", deep: JSON.parse(`${"[".repeat(64)}${"]".repeat(64)}`) }],
  ["upsert", { name: "no id" }],
];

function codeOf(fn) {
  try {
    fn();
  } catch (e) {
    return e.code ?? e.name;
  }
  return "accepted";
}

/** Both implementations refuse the same inputs with the same code. */
function checkRefusals() {
  const stored = { id: "u", name: "Ann", role: "user", teams: [], created_at: "2025-01-01T00:00:00.000000Z" };
  for (const [op, arg] of REFUSED) {
    const call = (impl) =>
      op === "partial" ? impl.applyPartialUpdate(stored, arg, OPTS) : impl.mergeUpsert(stored, arg, OPTS);
    const [w, j] = [codeOf(() => call(wasm)), codeOf(() => call(plain))];
    if (w !== j || w === "accepted") throw new Error(`${op} ${JSON.stringify(arg).slice(0, 60)}: wasm ${w}, JS ${j}`);
  }
}

/**
 * Runs the comparison. Returns one row per operation: ops/s of wasm, JS and the floor
 * (medians over rounds), and the per-round median ratios wasm/JS and wasm/floor.
 */
export function runCoreBench({ rounds = 7, ms = 200 } = {}) {
  const inputs = coreInputs();
  const objects = pipelines(wasm, inputs);
  const w = batchPipelines(inputs);
  const j = pipelines(plain, inputs);
  const store = storePipelines(inputs, Array.from({ length: 100 }, (_, i) => inputUser(i)));
  // Same outputs before timing: the comparison is between equal results.
  const expected = {};
  for (const { key } of OPERATIONS) {
    const fromJs = JSON.parse(j[key]());
    for (const [name, impl] of [["batch", w], ["per-object", objects]]) {
      const diff = firstDifference(fromJs, JSON.parse(impl[key]()));
      if (diff) throw new Error(`${key}: the JS baseline and the wasm core (${name}) disagree at ${diff}`);
    }
    expected[key] = fromJs;
  }
  checkRefusals();
  const f = floors(inputs, expected);
  const rows = [];
  const runs = [
    ...OPERATIONS.map(({ key, label }) => ({ key, label: `${label}: batch entry point`, wasm: w[key] })),
    ...OPERATIONS.map(({ key, label }) => ({ key, label: `${label}: per-object functions`, wasm: objects[key] })),
    ...["upsert", "partial"].map((key) => ({
      key,
      label: `${OPERATIONS.find((o) => o.key === key).label}: UserStore (the Worker's core path)`,
      wasm: store[key],
    })),
  ];
  for (const { key, label, wasm: wasmFn } of runs) {
    const impls = { wasm: wasmFn, js: j[key], floor: f[key] };
    for (const fn of Object.values(impls)) opsPerSecond(fn, Math.min(ms, 100)); // warm up
    const samples = { wasm: [], js: [], floor: [] };
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no implementation always runs first.
      const order = Object.keys(impls);
      for (let k = 0; k < r % order.length; k++) order.push(order.shift());
      for (const name of order) samples[name].push(opsPerSecond(impls[name], ms));
    }
    const vsJs = samples.wasm.map((x, i) => x / samples.js[i]);
    const vsFloor = samples.floor.map((x, i) => x / samples.wasm[i]);
    const jsVsFloor = samples.floor.map((x, i) => x / samples.js[i]);
    rows.push({
      key,
      label,
      wasm: median(samples.wasm),
      js: median(samples.js),
      floor: median(samples.floor),
      speedupVsJs: median(vsJs), // > 1: wasm is faster than the JS implementation
      wasmTimesFloor: median(vsFloor), // wasm's time as a multiple of the JSON floor's
      jsTimesFloor: median(jsVsFloor),
    });
  }
  return rows;
}

export function formatCoreRows(rows) {
  const n = (x) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
  const lines = [
    "| operation (string in → string out) | wasm ops/s | JS ops/s | floor ops/s | wasm speed ÷ JS | wasm time ÷ floor | JS time ÷ floor |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.label} | ${n(r.wasm)} | ${n(r.js)} | ${n(r.floor)} | ${r.speedupVsJs.toFixed(2)}× | ${r.wasmTimesFloor.toFixed(2)}× | ${r.jsTimesFloor.toFixed(2)}× |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const rows = runCoreBench({ rounds: arg("--rounds", 7), ms: arg("--ms", 200) });
  console.log(process.argv.includes("--json") ? JSON.stringify(rows, null, 2) : formatCoreRows(rows));
}
