// Times the json and swb boundaries on identical inputs: a pure round trip of one user, an
// upsert of 100 users, and a query returning 100 users. Prints microseconds per call.
const bench = require(process.argv[2]);

function user(i) {
  return {
    id: `user-${i}`,
    name: `User Number ${i}`,
    role: "user",
    teams: ["red", "blue"],
    image: `https://example.com/u/${i}.png`,
    language: "en",
    privacy_settings: { typing_indicators: { enabled: true } },
    favorite_color: "green",
    score: i * 1.5,
    address: { city: "Amsterdam", street: "Keizersgracht", number: i },
    tags: ["a", "b", "c"],
  };
}
const users = Array.from({ length: 100 }, (_, i) => user(i));
const byId = Object.fromEntries(users.map((u) => [u.id, u]));
const query = { filter_conditions: { teams: { $contains: "red" } }, sort: [{ field: "id", direction: 1 }], limit: 100 };

// serde_json's maps are sorted by key; compare key order-insensitively.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

function time(label, fn) {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < 1_000_000_000n) {
    fn();
    n++;
    elapsed = process.hrtime.bigint() - start;
  }
  const us = Number(elapsed) / 1000 / n;
  return { label, us };
}

const rows = [];
for (const [kind, echo, upsert, queryFn] of [
  ["json", bench.echoJson, bench.upsertJson, bench.queryJson],
  ["swb", bench.echoSwb, bench.upsertSwb, bench.querySwb],
]) {
  const store = new bench.Store();
  const check = upsert(store, byId);
  if (Object.keys(check.users).length !== 100) throw new Error(`${kind}: upsert returned ${JSON.stringify(check).slice(0, 200)}`);
  if (queryFn(store, query).users.length !== 100) throw new Error(`${kind}: query did not return 100 users`);
  if (canonical(echo(users[1])) !== canonical(users[1])) {
    throw new Error(`${kind}: echo changed the user: ${JSON.stringify(echo(users[1]))}`);
  }
  rows.push([kind, time("echo 1 user", () => echo(users[7])), time("upsert 100 users", () => upsert(store, byId)), time("query 100 users", () => queryFn(store, query))]);
}
for (const i of [1, 2, 3]) {
  const [j, s] = [rows[0][i], rows[1][i]];
  console.log(`${j.label.padEnd(18)} json ${j.us.toFixed(1).padStart(8)} µs   swb ${s.us.toFixed(1).padStart(8)} µs   swb/json ${(s.us / j.us).toFixed(2)}×`);
}
