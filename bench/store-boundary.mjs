// What bounds `UserStore` against the lean JavaScript store (issue 23's goal of 0.5×): a store
// that answers with objects pays, at the boundary alone, one JSON.stringify of its input and one
// JSON.parse of its answer, before the core does anything. For each shape this prints the lean
// store's time, `UserStore`'s, and that boundary's (with the bench's JSON.stringify of the
// answer, which the lean store pays too), and the two ratios: UserStore's, and the best a store
// whose core cost nothing could reach (lean ÷ boundary).
//   node bench/store-boundary.mjs [--ms 600]      (ROSTER_PKG=<node.js> for another build)
import { pathToFileURL } from "node:url";
import * as lean from "./js/roster.mjs";
import { SHAPES, shapeInputs, T_NOW, T_STORED } from "./inputs.mjs";

const wasm = await import(process.env.ROSTER_PKG ? pathToFileURL(process.env.ROSTER_PKG).href : "roster-users");
const i = process.argv.indexOf("--ms");
const MS = i > 0 ? Number(process.argv[i + 1]) : 600;
const OPTS = { now: T_NOW };

/** JSON text with every object's keys sorted: two answers that differ only in member order. */
const sorted = (value) => JSON.stringify(value, (_, v) =>
  v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v);

/** Microseconds per call of `fn`, after a warm-up. */
function time(fn) {
  for (let n = 0; n < 20; n++) fn();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < MS) {
    fn();
    n++;
  }
  return ((performance.now() - start) / n) * 1000;
}

console.log("| shape | write | lean JS µs | UserStore µs | boundary µs | UserStore ÷ lean (speed) | best: lean ÷ boundary |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const { key } of SHAPES) {
  const inputs = shapeInputs(key);
  const ws = new wasm.UserStore();
  ws.upsertUsers(inputs.seed, { now: T_STORED });
  const js = new lean.MemoryStore();
  js.upsertUsers(structuredClone(inputs.seed), { now: T_STORED });
  const writes = {
    upsert: [() => Object.values(JSON.parse(inputs.upsertBody).users), "upsertUsers"],
    partial: [() => JSON.parse(inputs.partialBody).users, "partialUpdateUsers"],
  };
  for (const [write, [input, method]] of Object.entries(writes)) {
    const answer = js[method](input(), OPTS);
    if (sorted(JSON.parse(answer)) !== sorted(ws[method](input(), OPTS))) {
      throw new Error(`${key} ${write}: the two stores answer differently`);
    }
    const tj = time(() => js[method](input(), OPTS));
    const tw = time(() => JSON.stringify(ws[method](input(), OPTS)));
    const tb = time(() => {
      JSON.stringify(input());
      return JSON.stringify(JSON.parse(answer));
    });
    const f = (x) => x.toFixed(0);
    console.log(`| ${key} | ${write} | ${f(tj)} | ${f(tw)} | ${f(tb)} | ${(tj / tw).toFixed(2)}× | ${(tj / tb).toFixed(2)}× |`);
  }
}
