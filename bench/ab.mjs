// Compares two builds of the npm package in one process, on the core bench's pipelines,
// interleaved (A, B, B, A, …) so that a busy neighbour slows both alike:
//   node bench/ab.mjs <A node.js> <B node.js> [ops] [shape]
// ops (comma-separated, default: all): partial, upsert, normalize (the per-object functions),
// batch-partial, batch-upsert, batch-normalize (the batch entry points), store-upsert,
// store-partial (UserStore). shape: one of bench/inputs.mjs's SHAPES
// (flat, nested, arrays, nonascii, big, mixed, escaped; default mixed).
// Builds come from bench/variant.sh (or pkg/node.js). Prints each side's median ops/s and the
// median of the per-round ratios B/A (> 1: B is faster). Outputs must be equal JSON.
import { pathToFileURL } from "node:url";
import { shapeInputs, T_NOW } from "./inputs.mjs";

const ALL = "partial,upsert,normalize,batch-partial,batch-upsert,batch-normalize,store-upsert,store-partial";
const [a, b, ops = ALL, shape = "mixed"] = process.argv.slice(2);
if (!a || !b) throw new Error("usage: node bench/ab.mjs <A node.js> <B node.js> [ops]");
const A = await import(pathToFileURL(a).href);
const B = await import(pathToFileURL(b).href);
const inputs = shapeInputs(shape);
const OPTS = { now: T_NOW };

const pipelines = (w) => ({
  partial() {
    const body = JSON.parse(inputs.partialBody);
    const users = {};
    for (const e of body.users) users[e.id] = w.applyPartialUpdate(JSON.parse(inputs.stored.get(e.id)), e, OPTS);
    return JSON.stringify({ users });
  },
  upsert() {
    const body = JSON.parse(inputs.upsertBody);
    const users = {};
    for (const id of Object.keys(body.users)) users[id] = w.mergeUpsert(JSON.parse(inputs.stored.get(id)), body.users[id], OPTS);
    return JSON.stringify({ users, membership_deletion_task_id: "" });
  },
  normalize() {
    return JSON.stringify(JSON.parse(inputs.namesBody).map(w.normalizeUsername));
  },
  "batch-partial": () => w.partialUpdateUsers(inputs.partialBody, inputs.stored, OPTS).body,
  "batch-upsert": () => w.upsertUsers(inputs.upsertBody, inputs.stored, OPTS).body,
  "batch-normalize": () => w.normalizeUsernames(inputs.namesBody),
  ...storePipelines(w),
});

/** UserStore, seeded with the shape's users: what the Worker's core runs per request. */
function storePipelines(w) {
  const store = new w.UserStore();
  store.upsertUsers(structuredClone(inputs.seed), OPTS);
  return {
    "store-upsert": () => JSON.stringify(store.upsertUsers(Object.values(JSON.parse(inputs.upsertBody).users), OPTS)),
    "store-partial": () => JSON.stringify(store.partialUpdateUsers(JSON.parse(inputs.partialBody).users, OPTS)),
  };
}

function rate(fn, ms) {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < BigInt(ms) * 1_000_000n) {
    fn();
    n++;
    elapsed = process.hrtime.bigint() - start;
  }
  return (n * 1e9) / Number(elapsed);
}
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

/** JSON text with every object's keys sorted: two answers that differ only in member order. */
const canonical = (text) => JSON.stringify(JSON.parse(text), (_, v) =>
  v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v);

const [pa, pb] = [pipelines(A), pipelines(B)];
for (const op of ops.split(",")) {
  const [ta, tb] = [pa[op](), pb[op]()];
  if (ta !== tb && canonical(ta) !== canonical(tb)) throw new Error(`${op}: the two builds answer differently`);
  rate(pa[op], 200);
  rate(pb[op], 200);
  const [ra, rb, ratio] = [[], [], []];
  for (let i = 0; i < 10; i++) {
    const [x, y] = i % 2 ? [rate(pa[op], 150), rate(pb[op], 150)] : [null, rate(pb[op], 150)];
    const xa = x ?? rate(pa[op], 150);
    ra.push(xa);
    rb.push(y);
    ratio.push(y / xa);
  }
  console.log(`${op.padEnd(16)} A ${median(ra).toFixed(1)} ops/s   B ${median(rb).toFixed(1)} ops/s   B/A ${median(ratio).toFixed(2)}×`);
}
