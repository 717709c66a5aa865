// Part 1 of `npm run bench`: the core through the npm package (pkg/, wasm) against a lean
// plain-JavaScript implementation of the same rules (bench/js/roster.mjs), on the same inputs in
// the same run, string in and string out as a Worker sees them (the request body and the stored
// users arrive as JSON text, the response leaves as JSON text). The floor is JSON.parse of the
// same inputs plus JSON.stringify of the same response: what every implementation pays.
//
// Each workload runs on several shapes of user (bench/inputs.mjs `SHAPES`: small flat users,
// nested custom objects, arrays, non-ASCII text, custom data near 5 KiB, the previous inputs,
// and the non-ASCII users written ASCII-only as Python's json.dumps writes them), each reported
// in its own table, then the median across shapes. Three comparisons:
// - the package's batch entry points (`partialUpdateUsers`, `upsertUsers`, `normalizeUsernames`)
//   ÷ the lean JavaScript's, stored users as JSON text (what storage returns);
// - the package's per-object functions (`applyPartialUpdate`, `mergeUpsert`,
//   `normalizeUsername`, each stored user JSON.parse'd) ÷ the same lean JavaScript;
// - `UserStore` (its batch writes run the record path, then the uniqueness check and the index)
//   ÷ the lean JavaScript in-memory store
//   (`MemoryStore`: objects in a Map, no JSON round trip for stored users), both seeded with the
//   shape's users; the floor of these rows parses only the body.
//
// Every implementation's output is checked equal (as parsed JSON) before anything is timed, and
// bad inputs must be refused with the same code. Timing interleaves the implementations in
// rounds and reports medians, so a busy neighbour on the shared machine slows all of them alike;
// ratios are taken within each round.
//
// Standalone: node bench/core.mjs [--rounds N] [--ms M] [--shapes flat,nested,…] [--json]
import { pathToFileURL } from "node:url";
import * as lean from "./js/roster.mjs";
import { SHAPES, shapeInputs, T_NOW, T_STORED } from "./inputs.mjs";

// The package as a consumer imports it (pkg/node.js); ROSTER_PKG=<path to a node.js entry>
// measures another build of it (a profiling or optimization variant) instead.
const wasm = await import(process.env.ROSTER_PKG ? pathToFileURL(process.env.ROSTER_PKG).href : "roster-users");

const OPTS = { now: T_NOW };
const SEED_OPTS = { now: T_STORED };

/** The package's per-object functions: each stored user JSON.parse'd, the response JSON.stringify'd. */
function objectPipelines(inputs) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  return {
    partial() {
      const body = JSON.parse(partialBody);
      const users = {};
      for (const entry of body.users) {
        users[entry.id] = wasm.applyPartialUpdate(JSON.parse(stored.get(entry.id)), entry, OPTS);
      }
      return JSON.stringify({ users });
    },
    upsert() {
      const body = JSON.parse(upsertBody);
      const users = {};
      for (const id of Object.keys(body.users)) {
        const old = stored.get(id);
        users[id] = wasm.mergeUpsert(old === undefined ? null : JSON.parse(old), body.users[id], OPTS);
      }
      return JSON.stringify({ users, membership_deletion_task_id: "" });
    },
    normalize() {
      return JSON.stringify(JSON.parse(namesBody).map(wasm.normalizeUsername));
    },
  };
}

/**
 * Batch entry points, `impl` the package or the lean JavaScript (same signatures): the request
 * body and the stored users' text in, the response text out (and each user's record text).
 */
function batchPipelines(impl, inputs) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  return {
    partial: () => impl.partialUpdateUsers(partialBody, stored, OPTS).body,
    upsert: () => impl.upsertUsers(upsertBody, stored, OPTS).body,
    normalize: () => impl.normalizeUsernames(namesBody),
  };
}

/**
 * The batches through an in-memory store holding the shape's users as objects (seeded with an
 * upsert at T_STORED): `UserStore`, which runs the batch entry points' record path over the users it
 * holds as text, then the uniqueness check and the index update every write makes, and returns
 * objects, stringified here; and the lean JavaScript `MemoryStore`, which returns the text.
 */
function storePipelines(inputs) {
  const ws = new wasm.UserStore();
  ws.upsertUsers(inputs.seed, SEED_OPTS);
  const js = new lean.MemoryStore();
  js.upsertUsers(structuredClone(inputs.seed), SEED_OPTS);
  const upsertInput = () => Object.values(JSON.parse(inputs.upsertBody).users);
  const partialInput = () => JSON.parse(inputs.partialBody).users;
  return {
    wasm: {
      upsert: () => JSON.stringify(ws.upsertUsers(upsertInput(), OPTS)),
      partial: () => JSON.stringify(ws.partialUpdateUsers(partialInput(), OPTS)),
    },
    js: {
      upsert: () => js.upsertUsers(upsertInput(), OPTS),
      partial: () => js.partialUpdateUsers(partialInput(), OPTS),
    },
  };
}

/**
 * JSON.parse of the same inputs and JSON.stringify of the same response, nothing else. With
 * `storedAsText`, each stored user of the batch is parsed too (the batch and per-object rows);
 * without, only the body (the in-memory store rows).
 */
function floors(inputs, expected, storedAsText) {
  const { stored, partialBody, upsertBody, namesBody } = inputs;
  const parseStored = () => {
    if (storedAsText) for (const s of stored.values()) JSON.parse(s);
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

/** Throws unless the JS output text and the wasm output text are equal as JSON. */
function assertSame(what, jsText, wasmText) {
  const diff = firstDifference(JSON.parse(jsText), JSON.parse(wasmText));
  if (diff) throw new Error(`${what}: the lean JS and the wasm core disagree at ${diff}`);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const OPERATIONS = [
  { key: "partial", label: "partial update, 100 users" },
  { key: "upsert", label: "upsert merge, 100 users over 100 stored" },
  { key: "normalize", label: "normalize 10,000 names" },
];

/** The row kinds of each shape's table, in order: [kind, operation, what the wasm side runs]. */
const KINDS = [
  ...OPERATIONS.map(({ key }) => ["batch", key, "batch entry point ÷ lean JS"]),
  ...OPERATIONS.map(({ key }) => ["per-object", key, "per-object functions ÷ lean JS"]),
  ...["upsert", "partial"].map((key) => ["store", key, "UserStore ÷ lean JS store (objects in a Map)"]),
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
  ["upsert", { id: "u", created_at: "yesterday" }],
  ["upsert", { id: "u", role: "" }],
  ["upsert", { id: "u", privacy_settings: { nope: {} } }],
  ["upsert", { id: "u", teams_role: { red: 1 } }],
  ["upsert", { id: "u", deep: JSON.parse(`${"[".repeat(64)}${"]".repeat(64)}`) }],
  ["upsert", { id: "u", notes: "é".repeat(2600) }],
  ["upsert", { name: "no id" }],
];

/** Batch bodies both batch entry points must refuse with the same code. */
const REFUSED_BATCHES = [
  ["partial", "[]"],
  ["partial", JSON.stringify({ users: {} })],
  ["partial", JSON.stringify({ users: [] })],
  ["partial", JSON.stringify({ users: [{ id: "u", set: { a: 1 } }, { id: "u", set: { b: 1 } }] })],
  ["partial", JSON.stringify({ users: [{ id: "nobody", set: { a: 1 } }] })],
  ["partial", JSON.stringify({ users: Array.from({ length: 101 }, (_, i) => ({ id: `u${i}`, set: { a: 1 } })) })],
  ["upsert", JSON.stringify({ users: [{ id: "u" }] })],
  ["upsert", JSON.stringify({ users: { v: { id: "u" } } })],
  ["upsert", JSON.stringify({ users: { u: "x" } })],
  ["upsert", JSON.stringify({})],
  ["normalize", JSON.stringify({ names: [] })],
  ["normalize", JSON.stringify(["a", 1])],
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
    const [w, j] = [codeOf(() => call(wasm)), codeOf(() => call(lean))];
    if (w !== j || w === "accepted") throw new Error(`${op} ${JSON.stringify(arg).slice(0, 60)}: wasm ${w}, JS ${j}`);
  }
  const storedText = new Map([["u", JSON.stringify(stored)]]);
  for (const [op, body] of REFUSED_BATCHES) {
    const call = (impl) =>
      op === "partial"
        ? impl.partialUpdateUsers(body, storedText, OPTS)
        : op === "upsert"
          ? impl.upsertUsers(body, storedText, OPTS)
          : impl.normalizeUsernames(body);
    const [w, j] = [codeOf(() => call(wasm)), codeOf(() => call(lean))];
    if (w !== j || w === "accepted") throw new Error(`${op} batch ${body.slice(0, 60)}: wasm ${w}, JS ${j}`);
  }
}

/** Times `impls` ({wasm, js, floor}) in rotating order; the row's medians and median per-round ratios. */
function measure(impls, rounds, ms) {
  for (const fn of Object.values(impls)) opsPerSecond(fn, Math.min(ms, 100)); // warm up
  const samples = { wasm: [], js: [], floor: [] };
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so no implementation always runs first.
    const order = Object.keys(impls);
    for (let k = 0; k < r % order.length; k++) order.push(order.shift());
    for (const name of order) samples[name].push(opsPerSecond(impls[name], ms));
  }
  return {
    wasm: median(samples.wasm),
    js: median(samples.js),
    floor: median(samples.floor),
    speedupVsJs: median(samples.wasm.map((x, i) => x / samples.js[i])), // > 1: wasm is faster than the lean JS
    wasmTimesFloor: median(samples.floor.map((x, i) => x / samples.wasm[i])), // wasm's time as a multiple of the floor's
    jsTimesFloor: median(samples.floor.map((x, i) => x / samples.js[i])),
  };
}

/** One shape: outputs checked equal, then every row kind timed. */
function runShape(shape, { rounds, ms, log }) {
  const inputs = shapeInputs(shape.key);
  const wasmBatch = batchPipelines(wasm, inputs);
  const wasmObjects = objectPipelines(inputs);
  const js = batchPipelines(lean, inputs);
  const stores = storePipelines(inputs);
  // Same outputs before timing: the comparison is between equal results.
  const expected = {};
  for (const { key } of OPERATIONS) {
    const fromJs = js[key]();
    assertSame(`${shape.key} ${key} (batch)`, fromJs, wasmBatch[key]());
    assertSame(`${shape.key} ${key} (per-object)`, fromJs, wasmObjects[key]());
    expected[key] = JSON.parse(fromJs);
  }
  const expectedInStore = {};
  for (const key of ["upsert", "partial"]) {
    const fromJs = stores.js[key]();
    assertSame(`${shape.key} ${key} (UserStore)`, fromJs, stores.wasm[key]());
    expectedInStore[key] = JSON.parse(fromJs);
  }
  const textFloor = floors(inputs, expected, true);
  const objectFloor = floors(inputs, expectedInStore, false);
  const rows = [];
  for (const [kind, key, compared] of KINDS) {
    log?.(`core: ${shape.key}: ${kind} ${key}`);
    const impls =
      kind === "store"
        ? { wasm: stores.wasm[key], js: stores.js[key], floor: objectFloor[key] }
        : { wasm: (kind === "batch" ? wasmBatch : wasmObjects)[key], js: js[key], floor: textFloor[key] };
    const op = OPERATIONS.find((o) => o.key === key);
    const detail = key === "partial" ? ` (${shape.partialLabel})` : "";
    rows.push({
      shape: shape.key,
      shapeLabel: shape.label,
      kind,
      key,
      label: `${op.label}${detail}: ${compared}`,
      ...measure(impls, rounds, ms),
    });
    if (kind === "store") assertSame(`${shape.key} ${key} (UserStore, after timing)`, stores.js[key](), stores.wasm[key]());
  }
  return rows;
}

/**
 * Runs the comparison on every shape (or those in `shapes`). Returns one row per shape and row
 * kind: ops/s of wasm, lean JS and the floor (medians over rounds), and the per-round median
 * ratios wasm/JS and wasm/floor.
 */
export function runCoreBench({ rounds = 7, ms = 200, shapes, log } = {}) {
  checkRefusals();
  const chosen = shapes ? SHAPES.filter((s) => shapes.includes(s.key)) : SHAPES;
  if (chosen.length === 0) throw new Error(`no such shapes: ${shapes}`);
  return chosen.flatMap((shape) => runShape(shape, { rounds, ms, log }));
}

const HEADER = [
  "| operation (string in → string out) | wasm ops/s | lean JS ops/s | floor ops/s | wasm speed ÷ JS | wasm time ÷ floor | JS time ÷ floor |",
  "|---|---:|---:|---:|---:|---:|---:|",
];

/** A table per shape, then the median of each row kind across the shapes. */
export function formatCoreRows(rows) {
  const n = (x) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1));
  const x = (r) => `${r.toFixed(2)}×`;
  const lines = [];
  const shapes = [...new Set(rows.map((r) => r.shape))];
  for (const shape of shapes) {
    const mine = rows.filter((r) => r.shape === shape);
    lines.push(`**Shape \`${shape}\`: ${mine[0].shapeLabel}**`, "", ...HEADER);
    for (const r of mine) {
      lines.push(`| ${r.label} | ${n(r.wasm)} | ${n(r.js)} | ${n(r.floor)} | ${x(r.speedupVsJs)} | ${x(r.wasmTimesFloor)} | ${x(r.jsTimesFloor)} |`);
    }
    lines.push("");
  }
  if (shapes.length > 1) {
    lines.push(
      `**Median across the ${shapes.length} shapes** (of each shape's median ratio)`,
      "",
      "| operation | wasm speed ÷ JS | range over shapes | wasm time ÷ floor | JS time ÷ floor |",
      "|---|---:|---:|---:|---:|",
    );
    for (const [kind, key, compared] of KINDS) {
      const same = rows.filter((r) => r.kind === kind && r.key === key);
      if (same.length === 0) continue;
      const speed = same.map((r) => r.speedupVsJs);
      const label = `${OPERATIONS.find((o) => o.key === key).label}: ${compared}`;
      lines.push(
        `| ${label} | ${x(median(speed))} | ${Math.min(...speed).toFixed(2)}–${x(Math.max(...speed))} | ${x(median(same.map((r) => r.wasmTimesFloor)))} | ${x(median(same.map((r) => r.jsTimesFloor)))} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n").trimEnd();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const rows = runCoreBench({
    rounds: Number(arg("--rounds", 7)),
    ms: Number(arg("--ms", 200)),
    shapes: arg("--shapes")?.split(","),
    log: (m) => console.error(`[bench] ${m}`),
  });
  console.log(process.argv.includes("--json") ? JSON.stringify(rows, null, 2) : formatCoreRows(rows));
}
