// `npm run bench` (through scripts/bench.sh, which builds pkg/ and build/ first): the machine,
// the wasm sizes, the core against plain JavaScript (bench/core.mjs) and the Worker under
// load (bench/worker.mjs), printed as Markdown tables and saved to test-output/bench.{md,json}.
//
// Options: --quick (1k stored users only, shorter runs: a smoke test of the bench itself;
// the full run seeds 1k → 10k → 100k users),
// --skip-worker, --skip-core, --skip-hubs (the hubs part builds an earlier commit with
// bench/baseline.sh for its "before", once).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const log = (m) => console.error(`[bench] ${m}`);

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}
const version = (pkg) => JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;

function machine() {
  const model = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.*)$/m)?.[1] ?? cpus()[0]?.model;
  return {
    cpus: Number(sh("nproc", [])) || cpus().length,
    model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: sh("uname", ["-sr"]),
    node: process.version,
    workerd: version("workerd"),
    wrangler: version("wrangler"),
    autocannon: version("autocannon"),
    rustc: sh("rustc", ["--version"]),
    load: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** Raw and `gzip -9` bytes, as scripts/size.sh counts them. */
function size(rel) {
  const path = join(ROOT, rel);
  const gz = spawnSync("sh", ["-c", `gzip -9c "${path}" | wc -c`], { encoding: "utf8" });
  return { file: rel, raw: statSync(path).size, gzip: Number(gz.stdout.trim()) };
}

function formatSizes(sizes) {
  const kib = (b) => `${(b / 1024).toFixed(1)} KiB`;
  const lines = ["| artifact | raw | gzip -9 | budget (gzip) | within budget |", "|---|---:|---:|---:|---|"];
  for (const s of sizes) {
    const verdict = s.gzip <= s.budget ? "yes" : `no: ${(s.gzip - s.budget).toLocaleString("en-US")} B over`;
    lines.push(
      `| \`${s.file}\` | ${s.raw.toLocaleString("en-US")} B (${kib(s.raw)}) | ${s.gzip.toLocaleString("en-US")} B (${kib(s.gzip)}) | ${kib(s.budget)} | ${verdict} |`,
    );
  }
  return lines.join("\n");
}

const m = machine();
const out = [
  "## Machine",
  "",
  `${m.cpus} × ${m.model}, ${m.memoryGiB} GiB RAM, ${m.kernel}; Node ${m.node}, workerd ${m.workerd} (wrangler ${m.wrangler}), autocannon ${m.autocannon}, ${m.rustc}. Load average at start: ${m.load}.`,
  "",
];
const result = { machine: m, started: new Date().toISOString() };

// The budgets scripts/size.sh enforces, read from it (BENCHMARKS.md, "Sizes", says why they are
// what they are).
function budget(name) {
  const m = readFileSync(join(ROOT, "scripts", "size.sh"), "utf8").match(new RegExp(`^${name}=\\$\\(\\((\\d+) \\* 1024\\)\\)`, "m"));
  if (!m) throw new Error(`scripts/size.sh has no ${name}`);
  return Number(m[1]) * 1024;
}
const sizes = [
  { ...size("pkg/roster_bg.wasm"), budget: budget("PKG_BUDGET_GZIP") },
  { ...size("build/index_bg.wasm"), budget: budget("WORKER_BUDGET_GZIP") },
];
result.sizes = sizes;
out.push("## Sizes", "", formatSizes(sizes), "");

if (!process.argv.includes("--skip-core")) {
  log("core: wasm package vs plain JavaScript vs the JSON floor");
  const { runCoreBench, formatCoreRows } = await import("./core.mjs");
  const rows = runCoreBench(quick ? { rounds: 3, ms: 100 } : { rounds: 9, ms: 200 });
  result.core = rows;
  out.push("## Core: npm package (wasm) vs plain JavaScript, string in → string out", "", formatCoreRows(rows), "");
}

if (!process.argv.includes("--skip-worker")) {
  log("worker: wrangler dev (local workerd): queries and writes alone at each scale, then autocannon");
  const { runWorkerBench, formatAloneTable, formatLoadTable, formatSeeding, formatWalkTable } = await import("./worker.mjs");
  const res = await runWorkerBench(quick ? { scales: [1000], seconds: 2, log } : { seconds: 5, log });
  result.worker = res;
  out.push(
    "## Worker: local workerd, one Writer (SQLite), requests alone",
    "",
    formatAloneTable(res),
    "",
    `## Worker: under autocannon (${res.connections} connections, ${res.seconds} s per workload; the scan: 1 connection)`,
    "",
    formatLoadTable(res),
    "",
    "## Worker: walking every user (issue 27): keyset cursors, the change feed",
    "",
    formatWalkTable(res),
    "",
    `Seeding (100-user upserts, 4 in flight): ${formatSeeding(res)}.`,
    "",
  );
}

if (!process.argv.includes("--skip-hubs")) {
  log("hubs (issue 26): connects/s and fan-out latency, before connection hubs and after, in one run");
  const { runHubsBench, formatHubsTable } = await import("./hubs.mjs");
  const baseline = spawnSync("bash", [join(ROOT, "bench", "baseline.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (baseline.status !== 0) throw new Error("bench/baseline.sh failed");
  const res = await runHubsBench(quick ? { users: 200, rounds: 1, writes: 3, baseline: baseline.stdout.trim(), log } : { baseline: baseline.stdout.trim(), log });
  result.hubs = res;
  out.push(`## Worker: connection hubs (issue 26), ${res.users.toLocaleString("en-US")} sockets, before and after`, "", formatHubsTable(res), "");
}

result.finished = new Date().toISOString();
const text = out.join("\n");
console.log(text);
mkdirSync(join(ROOT, "test-output"), { recursive: true });
writeFileSync(join(ROOT, "test-output", "bench.md"), `${text}\n`);
writeFileSync(join(ROOT, "test-output", "bench.json"), `${JSON.stringify(result, null, 2)}\n`);
log("saved test-output/bench.md and test-output/bench.json");
process.exit(0);
