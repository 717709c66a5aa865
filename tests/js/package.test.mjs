// The published package as its users get it: `npm pack` the repository, install the tarball into
// a fresh folder, then import and call it from Node 22 (ESM and require), from workerd through
// Miniflare (bundled with the `workerd` condition, as wrangler does), from headless Chromium
// (bundled with the `browser` condition), and type-check tests/ts/consumer.ts against the
// published declarations with `tsc --noEmit`. Needs `bash scripts/build-pkg.sh` first.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import * as roster from "roster-users";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
const run = promisify(execFile);

let work; // temp folder holding the tarball and the consumer project
let consumer; // a fresh project with the tarball installed
let packed; // `npm pack --json` output

before(() => {
  work = mkdtempSync(join(tmpdir(), "roster-pkg-"));
  // pkg/ is already built (scripts/test.sh); --ignore-scripts skips `prepack`, which rebuilds.
  const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], {
    cwd: ROOT,
    encoding: "utf8",
  });
  [packed] = JSON.parse(out);
  consumer = join(work, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", join(work, packed.filename)],
    { cwd: consumer, stdio: "inherit" },
  );
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the tarball holds the files allow-list, package.json and README, nothing else", () => {
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, [...manifest.files, "package.json", "README.md"].sort());
  const installed = readdirSync(join(consumer, "node_modules", "roster-users", "pkg")).sort();
  assert.deepEqual(installed, ["boundary.js", "browser.js", "index.d.ts", "node.js", "roster.js", "roster_bg.wasm", "workerd.js"]);
  assert.equal(manifest.type, "module");
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "workerd", "browser", "node", "default"]);
});

test("the declarations name real shapes (no any) and exactly the runtime exports", () => {
  const dts = readFileSync(join(consumer, "node_modules", "roster-users", "pkg", "index.d.ts"), "utf8");
  const code = dts.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  assert.doesNotMatch(code, /\bany\b/, "`any` in the public declarations");
  assert.doesNotMatch(code, /\bFunction\b|\bObject\b(?!\.)/, "untyped Function/Object in the declarations");
  const declared = [...code.matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)].sort(), Object.keys(roster).sort());
});

test("Node 22 imports it (ESM and require) from the installed tarball and calls it", async () => {
  writeFileSync(
    join(consumer, "node-check.mjs"),
    `import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { UserStore, createToken, isRosterError, normalizeUsername, verifyToken } from "roster-users";
assert.match(import.meta.resolve("roster-users"), /node_modules\\/roster-users\\/pkg\\/node\\.js$/);
assert.equal(normalizeUsername("John Doe"), "johndoe");
const store = new UserStore();
const { users } = store.upsertUsers([{ id: "n1", name: "Node" }], { now: 0 });
assert.equal(users.n1.created_at, "1970-01-01T00:00:00.000000Z");
assert.throws(() => store.upsertUsers([{ id: "n1", online: true }]), (e) => isRosterError(e) && e.code === 4 && e.StatusCode === 400);
assert.deepEqual(verifyToken(createToken("k", { user_id: "n1" }), "k"), { user_id: "n1" });
const cjs = createRequire(import.meta.url)("roster-users");
assert.equal(cjs.normalizeUsername("A.B"), "ab");
assert.equal(cjs.UserStore, UserStore, "require and import share one module instance");
console.log("node ok", process.version);
`,
  );
  const { stdout } = await run(process.execPath, ["node-check.mjs"], { cwd: consumer });
  assert.match(stdout, /^node ok v22\./);
});

test("workerd (Miniflare) runs it through the workerd condition", async () => {
  const src = join(consumer, "worker.mjs");
  writeFileSync(
    src,
    `import { UserStore, createToken, isRosterError, normalizeUsername, normalizeUsernames, upsertUsers, verifyToken } from "roster-users";
export default {
  async fetch() {
    const store = new UserStore();
    store.updateAppSettings({ enforce_unique_usernames: "app" });
    const { users } = store.upsertUsers([{ id: "w1", name: "Worker User" }], { now: 0 });
    let error = null;
    try {
      store.upsertUsers([{ id: "w2", name: "worker.user" }]);
    } catch (e) {
      error = { name: e.name, code: e.code, StatusCode: e.StatusCode, message: e.message, roster: isRosterError(e) };
    }
    const claims = verifyToken(createToken("k", { user_id: "w1", iat: 1 }), "k", { now: 2000 });
    const at = store.connectUser({ id: "w3" }, { caller: claims.user_id === "w1" ? { user_id: "w3" } : undefined }).created_at;
    // The batch exports: normalizeUsernames hands its result over through TextDecoder("utf-16le").
    const names = normalizeUsernames(JSON.stringify(["Zoë Ünal", "李 小龙", "A.B"]));
    const batch = upsertUsers('{"users": {"w4": {"id": "w4", "name": "Ωmega"}}}', null, { now: 0 });
    return Response.json({ normalized: normalizeUsername("Worker User"), user: users.w1, error, claims, fresh: Date.parse(at) > 0, names, record: JSON.parse(batch.users.w4) });
  },
};
`,
  );
  const out = join(consumer, "worker-dist");
  const result = await build({
    entryPoints: [src],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"], // what wrangler resolves with
    loader: { ".wasm": "copy" },
    outdir: out,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((p) => p.endsWith("roster-users/pkg/workerd.js")), `bundled ${inputs}`);
  const wasm = readdirSync(out).find((f) => f.endsWith(".wasm"));
  assert.ok(wasm, "the wasm is emitted next to the bundle");
  // Miniflare 5 takes v4-style single-Worker options through its converter.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modulesRoot: out,
      modules: [
        { type: "ESModule", path: join(out, "worker.js") },
        { type: "CompiledWasm", path: join(out, wasm) },
      ],
      compatibilityDate: "2026-11-01",
    }),
  );
  try {
    const res = await mf.dispatchFetch("http://localhost/");
    assert.equal(res.status, 200, await res.clone().text());
    const body = await res.json();
    assert.equal(body.normalized, "workeruser");
    assert.equal(body.user.created_at, "1970-01-01T00:00:00.000000Z");
    assert.deepEqual(body.error, {
      name: "RosterError",
      code: 6,
      StatusCode: 400,
      message: "UpdateUsers failed with error: \"username 'worker.user' already exists\"",
      roster: true,
    });
    assert.deepEqual(body.claims, { user_id: "w1", iat: 1 });
    assert.equal(body.fresh, true);
    assert.equal(body.names, '["zoëünal","李小龙","ab"]');
    assert.equal(body.record.name, "Ωmega");
  } finally {
    await mf.dispose();
  }
});

test("headless Chromium runs it through the browser condition", async () => {
  const page = join(consumer, "web");
  mkdirSync(page);
  writeFileSync(
    join(consumer, "web.mjs"),
    `import { UserStore, isRosterError, normalizeUsername, normalizeUsernames } from "roster-users";
const out = document.getElementById("out");
try {
  const store = new UserStore();
  const me = store.connectUser({ id: "b1", name: "Browser User" }, { caller: { user_id: "b1" } });
  let code = null;
  try {
    store.partialUpdateUsers([{ id: "b1", set: { role: "admin" } }], { caller: { user_id: "b1" } });
  } catch (e) {
    code = isRosterError(e) ? e.code : String(e);
  }
  const names = JSON.parse(normalizeUsernames(JSON.stringify(["Zoë Ünal", "李 小龙"])));
  out.textContent = "RESULT " + JSON.stringify({ normalized: normalizeUsername(me.name), online: me.online, code, names });
} catch (e) {
  out.textContent = "FAILED " + e;
}
`,
  );
  const result = await build({
    entryPoints: [join(consumer, "web.mjs")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outfile: join(page, "web.js"),
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((p) => p.endsWith("roster-users/pkg/browser.js")), `bundled ${inputs}`);
  // browser.js fetches new URL("./roster_bg.wasm", import.meta.url): next to the bundle.
  copyFileSync(join(consumer, "node_modules", "roster-users", "pkg", "roster_bg.wasm"), join(page, "roster_bg.wasm"));
  writeFileSync(join(page, "index.html"), '<!doctype html><pre id="out">PENDING</pre><script type="module" src="web.js"></script>');

  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  const server = createServer((req, res) => {
    const file = join(page, new URL(req.url, "http://x").pathname.replace(/^\/+/, "") || "index.html");
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/index.html`;
    const { stdout } = await run(
      "chromium",
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        `--user-data-dir=${join(work, "chromium-profile")}`,
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
      ],
      { timeout: 60_000 },
    );
    const text = stdout.match(/<pre id="out">([^<]*)<\/pre>/)?.[1] ?? stdout;
    assert.ok(text.startsWith("RESULT "), `page said: ${text}`);
    assert.deepEqual(JSON.parse(text.slice("RESULT ".length).replaceAll("&quot;", '"')), {
      normalized: "browseruser",
      online: true,
      code: 17,
      names: ["zoëünal", "李小龙"],
    });
  } finally {
    server.close();
  }
});

test("a strict TypeScript consumer type-checks against the published declarations", async () => {
  const dir = join(consumer, "ts");
  mkdirSync(dir);
  for (const f of ["tsconfig.json", "consumer.ts"]) copyFileSync(join(ROOT, "tests", "ts", f), join(dir, f));
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const listed = await run(process.execPath, [tsc, "--noEmit", "-p", join(dir, "tsconfig.json"), "--listFiles"], { cwd: consumer }).catch(
    (e) => assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`),
  );
  assert.match(listed.stdout, /consumer\/node_modules\/roster-users\/pkg\/index\.d\.ts/);
  // The check can fail: the same consumer with one wrong type does not compile.
  writeFileSync(join(dir, "consumer.ts"), `${readFileSync(join(dir, "consumer.ts"), "utf8")}\nconst broken: number = new UserStore().getAppSettings().app;\n`);
  await assert.rejects(run(process.execPath, [tsc, "--noEmit", "-p", join(dir, "tsconfig.json")], { cwd: consumer }), (e) => /TS2322/.test(e.stdout));
});
