// The npm package's pure exports, imported by name as a consumer would (the package refers to
// itself through its `exports`, so this runs pkg/node.js): usernames, validation, merges,
// partial updates, tokens and the error shape. Needs `bash scripts/build-pkg.sh` first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hardDoubles } from "../doubles.mjs";
import { throwsRoster } from "./helpers.mjs";
import { signJwt } from "../../scripts/jwt.mjs";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import jwt from "jsonwebtoken";
import { StreamChat } from "stream-chat";
import * as roster from "roster-users";
import {
  applyPartialUpdate,
  createToken,
  isRosterError,
  mergeUpsert,
  UserStore,
  normalizeUsername,
  normalizeUsernames,
  partialUpdateUsers,
  upsertUsers,
  validateUser,
  verifyToken,
} from "roster-users";

const T0 = Date.UTC(2024, 3, 4, 9, 26, 11, 805); // 2024-04-04T09:26:11.805Z
const T0_ISO = "2024-04-04T09:26:11.805000Z";
const T0_SECS = Math.floor(T0 / 1000);

/** A JWT with any payload and the literal signature `devtoken` (stream-chat's devToken). */
const devToken = (payload) => signJwt(payload, "", { signature: "devtoken" });

test("exports exactly the documented names", () => {
  assert.deepEqual(Object.keys(roster).sort(), [
    "UserStore",
    "applyPartialUpdate",
    "createToken",
    "isRosterError",
    "mergeUpsert",
    "normalizeUsername",
    "normalizeUsernames",
    "partialUpdateUsers",
    "upsertUsers",
    "validateUser",
    "verifyToken",
  ]);
});

test("normalizeUsername is Unicode-aware and drops everything but letters and digits", () => {
  for (const [name, normal] of [
    ["John Doe", "johndoe"],
    ["john.doe", "johndoe"],
    ["  J_o-h'n\tD😀oe!! ", "johndoe"],
    ["ÅNGSTRÖM 42", "ångström42"],
    ["Δημήτρης", "δημήτρης"],
    ["李 小龙", "李小龙"],
    ["...", ""],
    ["", ""],
  ]) {
    assert.equal(normalizeUsername(name), normal, name);
  }
  assert.throws(() => normalizeUsername(42), TypeError);
  assert.throws(() => normalizeUsername(), TypeError);
});

test("validateUser accepts a valid user and throws Stream's errors for invalid ones", () => {
  assert.equal(validateUser({ id: "u1", name: "Ann", teams: ["red"], book: { title: "Dune" } }), undefined);
  const e = throwsRoster(
    () => validateUser({ id: "u1", created_at: "helloworld" }),
    4,
    400,
    'UpdateUsers failed with error: "users[u1].created_at is a reserved field"',
  );
  assert.deepEqual(e.exception_fields, { "users[u1].created_at": "users[u1].created_at is a reserved field" });
  // A user written back as it was read: echoed server-computed values are ignored.
  assert.equal(validateUser({ id: "u1", created_at: "2020-01-01T00:00:00Z", online: false, banned: false }), undefined);
  assert.equal(e.more_info, "https://getstream.io/chat/docs/api_errors_response");
  assert.deepEqual(e.details, []);
  assert.equal(e.duration, undefined, "duration means nothing outside HTTP");
  throwsRoster(() => validateUser({ id: "a b" }), 4, 400, /UpdateUsers failed with error: "user id 'a b' is invalid/);
  throwsRoster(() => validateUser({ name: "no id" }), 4, 400, 'UpdateUsers failed with error: "user id is a required field"');
  throwsRoster(() => validateUser({ id: "u", teams: "red" }), 4, 400, /users\[u\]\.teams must be an array/);
  throwsRoster(() => validateUser({ id: "u", big: "x".repeat(6000) }), 22, 413, /larger than the limit/);
  throwsRoster(() => validateUser("u1"), 4, 400);
  throwsRoster(() => validateUser(undefined), 4, 400);
  // Server-computed fields an SDK echoes back are not errors.
  validateUser({ id: "u", banned: true, devices: [] });
});

test("mergeUpsert creates with defaults and replaces custom data, keeping created_at and role", () => {
  const created = mergeUpsert(null, { id: "u1", role: "admin", color: "green", name: "Ann" }, { now: T0 });
  assert.deepEqual(created, {
    id: "u1",
    role: "admin",
    color: "green",
    name: "Ann",
    teams: [],
    banned: false,
    online: false,
    created_at: T0_ISO,
    updated_at: T0_ISO,
  });
  const later = new Date(T0 + 60_000);
  const replaced = mergeUpsert(created, { id: "u1", book: "dune" }, { now: later });
  assert.equal(replaced.book, "dune");
  assert.equal(replaced.color, undefined, "absent custom fields are removed");
  assert.equal(replaced.name, undefined);
  assert.equal(replaced.role, "admin", "an omitted role keeps the stored one");
  assert.equal(replaced.created_at, T0_ISO);
  assert.equal(replaced.updated_at, "2024-04-04T09:27:11.805000Z");
  // A user may not change its own role.
  throwsRoster(
    () => mergeUpsert(created, { id: "u1", role: "user" }, { caller: { user_id: "u1" }, now: T0 }),
    17,
    403,
    'UpdateUsers failed with error: "user role can only be changed server-side"',
  );
  throwsRoster(() => mergeUpsert(undefined, { id: "u1", online: true }), 4, 400, /reserved field/);
  assert.throws(() => mergeUpsert(5, { id: "u1" }), TypeError);
});

test("time is a Date, milliseconds or an RFC 3339 string, and Date.now() by default", () => {
  const as = (now) => mergeUpsert(null, { id: "u" }, { now }).created_at;
  assert.equal(as(T0), T0_ISO);
  assert.equal(as(new Date(T0)), T0_ISO);
  assert.equal(as("2024-04-04T11:26:11.805+02:00"), T0_ISO);
  const before = Date.now();
  const stamped = Date.parse(mergeUpsert(null, { id: "u" }).created_at);
  assert.ok(stamped >= before && stamped <= Date.now(), `default time ${stamped} is not now`);
  for (const bad of [Number.NaN, Infinity, new Date("nope"), "yesterday", {}, true, 9e15]) {
    assert.throws(() => as(bad), TypeError, String(bad));
  }
});

test("the caller is the server by default, or {user_id} / {server: true}", () => {
  const stored = mergeUpsert(null, { id: "me", role: "admin", teams: ["red"] }, { now: T0 });
  assert.equal(mergeUpsert(stored, { id: "me", teams: ["blue"] }).teams[0], "blue");
  assert.equal(mergeUpsert(stored, { id: "me", teams: ["blue"] }, { caller: { server: true } }).teams[0], "blue");
  throwsRoster(
    () => mergeUpsert(stored, { id: "me", teams: ["blue"] }, { caller: { user_id: "me" } }),
    17,
    403,
    'UpdateUsers failed with error: "user teams can only be updated server-side"',
  );
  throwsRoster(() => mergeUpsert(stored, { id: "me" }, { caller: { user_id: "other" } }), 17, 403);
  for (const caller of [{}, { user_id: "" }, { user_id: 5 }, { server: "yes" }, "server", 1]) {
    assert.throws(() => mergeUpsert(null, { id: "u" }, { caller }), TypeError, JSON.stringify(caller));
  }
  assert.throws(() => mergeUpsert(null, { id: "u" }, 5), TypeError);
});

test("applyPartialUpdate sets and unsets dotted paths with PATCH /users' rules", () => {
  const stored = mergeUpsert(null, { id: "u", role: "user", test: { passed: true, n: 1 } }, { now: T0 });
  const after = applyPartialUpdate(
    stored,
    { id: "u", set: { "field2.subfield": "test", "privacy_settings.read_receipts.enabled": false }, unset: ["test.passed"] },
    { now: T0 + 5 },
  );
  assert.deepEqual(after.field2, { subfield: "test" });
  assert.deepEqual(after.test, { n: 1 });
  assert.deepEqual(after.privacy_settings, { read_receipts: { enabled: false } });
  assert.equal(after.updated_at, "2024-04-04T09:26:11.810000Z");
  assert.equal(after.created_at, T0_ISO);
  assert.deepEqual(stored.test, { passed: true, n: 1 }, "the input object is not modified");
  const emptied = applyPartialUpdate(after, { id: "u", unset: ["test.n"] }, { now: T0 });
  assert.deepEqual(emptied.test, {}, "unsetting a.b leaves a: {}");
  for (const key of ["test..test", " test.test", ".test", "test."]) {
    throwsRoster(() => applyPartialUpdate(stored, { id: "u", set: { [key]: 1 } }), 4, 400, /^UpdateUsersPartial failed with error: "field name/);
  }
  throwsRoster(() => applyPartialUpdate(stored, { id: "u", set: { "a.b": 1 }, unset: ["a"] }), 4, 400, /cannot set and unset/);
  throwsRoster(
    () => applyPartialUpdate(stored, { id: "u", set: { role: "user" } }, { caller: { user_id: "u" } }),
    17,
    403,
    'UpdateUsersPartial failed with error: "user role can only be changed server-side"',
  );
  throwsRoster(() => applyPartialUpdate(stored, { id: "u", set: { online: true } }), 4, 400, /reserved field/);
  assert.throws(() => applyPartialUpdate(null, { id: "u" }), TypeError);
});

test("createToken matches Stream's SDKs byte for byte", () => {
  // stream-chat-go's test vector.
  assert.equal(
    createToken("secret", { user_id: "tommaso" }),
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9.v-x-jt3ZnBXXbQ0GoWloIZtVnat2IE74U1a4Yuxd63M",
  );
  const server = createToken("s3cr3t", { server: true });
  assert.deepEqual(jwt.verify(server, "s3cr3t", { algorithms: ["HS256"] }), { server: true });
  const user = createToken("s3cr3t", { user_id: "jo", exp: T0_SECS + 60, iat: T0_SECS });
  assert.deepEqual(jwt.verify(user, "s3cr3t", { algorithms: ["HS256"], clockTimestamp: T0_SECS }), {
    user_id: "jo",
    exp: T0_SECS + 60,
    iat: T0_SECS,
  });
  // The official SDK's server-side createToken makes the same bytes for the same claims.
  const sdk = new StreamChat("key", "s3cr3t");
  assert.equal(createToken("s3cr3t", { user_id: "jo" }), sdk.createToken("jo"));
  for (const claims of [{}, { user_id: "" }, { user_id: 1 }, { user_id: "u", exp: 1.5 }, { user_id: "u", iat: "1" }, null, "u"]) {
    assert.throws(() => createToken("s", claims), TypeError, JSON.stringify(claims));
  }
  assert.throws(() => createToken(undefined, { server: true }), TypeError);
});

test("verifyToken returns claims usable as a caller, and Stream's 401 errors", () => {
  const sdk = new StreamChat("key", "s3cr3t");
  assert.deepEqual(verifyToken(sdk.createToken("jo", T0_SECS + 60, T0_SECS), "s3cr3t", { now: T0 }), {
    user_id: "jo",
    exp: T0_SECS + 60,
    iat: T0_SECS,
  });
  const server = jwt.sign({ server: true }, "s3cr3t", { noTimestamp: true });
  assert.deepEqual(verifyToken(server, "s3cr3t"), { server: true });
  const claims = verifyToken(createToken("s3cr3t", { user_id: "me" }), "s3cr3t");
  throwsRoster(() => mergeUpsert(null, { id: "someone-else" }, { caller: claims }), 17, 403);

  const expired = createToken("s3cr3t", { user_id: "jo", exp: T0_SECS - 1 });
  throwsRoster(() => verifyToken(expired, "s3cr3t", { now: T0 }), 40, 401, 'Request failed with error: "JWTAuth error: token has expired"');
  throwsRoster(() => verifyToken(createToken("other", { user_id: "jo" }), "s3cr3t"), 43, 401, 'Request failed with error: "Token signature is invalid"');
  throwsRoster(() => verifyToken("a.b", "s3cr3t"), 5, 401, /invalid number of segments/);
  const none = signJwt({ server: true }, "", { header: { alg: "none" }, signature: "" });
  throwsRoster(() => verifyToken(none, "s3cr3t"), 5, 401, /signing method none is invalid/);
  const future = createToken("s3cr3t", { user_id: "jo", iat: T0_SECS + 60 });
  throwsRoster(() => verifyToken(future, "s3cr3t", { now: T0 }), 42, 401);
  assert.throws(() => verifyToken(5, "s3cr3t"), TypeError);
  assert.throws(() => verifyToken(server, "s3cr3t", { settings: "yes" }), TypeError);
});

test("verifyToken applies the app settings' auth policy", () => {
  const dev = devToken({ user_id: "jo" });
  throwsRoster(() => verifyToken(dev, "s3cr3t"), 43, 401);
  assert.deepEqual(verifyToken(dev, "s3cr3t", { settings: { disable_auth_checks: true } }), { user_id: "jo" });
  // stream-chat's own devToken is accepted too when auth checks are off.
  const sdkDev = new StreamChat("key").devToken("jo");
  assert.deepEqual(verifyToken(sdkDev, "whatever", { settings: { disable_auth_checks: true } }), { user_id: "jo" });

  const settings = { revoke_tokens_issued_before: "2024-04-04T09:26:11Z" };
  const old = createToken("s3cr3t", { user_id: "jo", iat: T0_SECS - 1 });
  const fresh = createToken("s3cr3t", { user_id: "jo", iat: T0_SECS });
  throwsRoster(() => verifyToken(old, "s3cr3t", { settings, now: T0 }), 40, 401, /token has been revoked/);
  throwsRoster(() => verifyToken(createToken("s3cr3t", { user_id: "jo" }), "s3cr3t", { settings, now: T0 }), 40, 401);
  assert.equal(verifyToken(fresh, "s3cr3t", { settings, now: T0 }).user_id, "jo");
  assert.deepEqual(verifyToken(createToken("s3cr3t", { server: true }), "s3cr3t", { settings }), { server: true });
  // The full settings object GET /app returns works as is.
  const app = { enforce_unique_usernames: "no", disable_auth_checks: false, revoke_tokens_issued_before: null, grants: {} };
  assert.equal(verifyToken(old, "s3cr3t", { settings: app, now: T0 }).user_id, "jo");
});

test("a token signed by hand verifies: the signature covers the received bytes", () => {
  const token = signJwt('{ "user_id" : "spaced" }', "k", { header: '{"typ":"JWT","alg":"HS256"}' });
  assert.deepEqual(verifyToken(token, "k"), { user_id: "spaced" });
  const sig = token.lastIndexOf(".") + 1;
  throwsRoster(() => verifyToken(token.slice(0, sig) + token.slice(sig + 1), "k"), 43, 401); // first signature character dropped
});

test("isRosterError tells operation errors from everything else", () => {
  let thrown;
  try {
    validateUser({ id: "" });
  } catch (e) {
    thrown = e;
  }
  assert.equal(isRosterError(thrown), true);
  assert.equal(String(thrown).startsWith('RosterError: UpdateUsers failed with error: "'), true, String(thrown));
  for (const other of [new Error("x"), new TypeError("y"), null, undefined, "RosterError", { name: "RosterError" }, 4]) {
    assert.equal(isRosterError(other), false, String(other));
  }
});

test("inputs JSON cannot carry are input errors, not crashes", () => {
  const cyclic = { id: "u" };
  cyclic.self = cyclic;
  throwsRoster(() => validateUser(cyclic), 4, 400, 'UpdateUsers failed with error: "user cannot be serialized as JSON"');
  throwsRoster(() => validateUser({ id: "u", n: 10n }), 4, 400);
  let deep = {};
  for (let i = 0; i < 200; i++) deep = { d: deep };
  throwsRoster(() => validateUser({ id: "u", deep }), 4, 400, /nests deeper than 128 levels/);
  throwsRoster(() => validateUser({ id: "u", s: "\ud800" }), 4, 400, /unpaired surrogate/);
  // Functions and undefined values are dropped as JSON.stringify drops them.
  validateUser({ id: "u", f() {}, gone: undefined });
  // The module still works afterwards.
  assert.equal(normalizeUsername("Still Here"), "stillhere");
});

test("the README's npm package example runs as written", async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## npm package"));
  const code = section.match(/```js\n([\s\S]*?)```/)?.[1];
  assert.ok(code, "README has a js example in its npm package section");
  // Inside the repository, "roster-users" resolves to the package itself.
  const dir = join(root, "target", "readme-example");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "example.mjs");
  const logged = [];
  globalThis.__readmeLog = (...args) => logged.push(args);
  writeFileSync(file, code.replaceAll("console.log(", "globalThis.__readmeLog("));
  await import(pathToFileURL(file).href);
  assert.deepEqual(logged, [[4, 400, 'UpdateUsers failed with error: "users[u1].created_at is a reserved field"']]);
});

test("floats round-trip exactly through UserStore and applyPartialUpdate", () => {
  const doubles = hardDoubles(0x9e3779b97f4a7c15n); // tests/doubles.mjs
  const store = new UserStore();
  store.upsertUsers([{ id: "f", doubles, nested: { x: doubles[1] } }], { now: T0 });
  const [stored] = store.queryUsers({ id: "f" }).users;
  assert.deepEqual(stored.doubles, doubles);
  assert.equal(stored.nested.x, doubles[1]);
  const set = Object.fromEntries(doubles.map((d, i) => [`d.k${i}`, d]));
  const after = applyPartialUpdate(stored, { id: "f", set }, { now: T0 });
  assert.deepEqual(doubles.map((_, i) => after.d[`k${i}`]), doubles);
  assert.deepEqual(after.doubles, doubles);
});

test("upsertUsers: POST /users in one call, text in and text out, equal to mergeUpsert per user", () => {
  const stored = new Map([["u1", JSON.stringify(mergeUpsert(null, { id: "u1", role: "admin", teams: ["red"], n: 1 }, { now: T0 }))]]);
  const body = JSON.stringify({ users: { u1: { id: "u1", color: "green", ratio: 1.5 }, u2: { id: "u2", name: "Ann", deep: { a: [1e21, -0.1] } } } });
  const later = T0 + 60_000;
  const out = upsertUsers(body, stored, { now: later });
  assert.equal(typeof out.body, "string");
  const response = JSON.parse(out.body);
  assert.deepEqual(Object.keys(response).sort(), ["membership_deletion_task_id", "users"]);
  for (const [id, input] of Object.entries(JSON.parse(body).users)) {
    const old = stored.get(id);
    const expected = mergeUpsert(old === undefined ? null : JSON.parse(old), input, { now: later });
    assert.deepEqual(response.users[id], expected, id);
    assert.deepEqual(JSON.parse(out.users[id]), expected, `record of ${id}`);
  }
  assert.equal(response.users.u1.role, "admin");
  assert.equal(response.users.u1.n, undefined, "custom data is replaced");
  // The same stored users as a plain object, a function or objects give the same answer.
  const plain = Object.fromEntries(stored);
  for (const source of [plain, (id) => stored.get(id), { u1: JSON.parse(stored.get("u1")) }]) {
    assert.deepEqual(JSON.parse(upsertUsers(body, source, { now: later }).body), response);
  }
  // `__proto__` is a valid id: an object's prototype is not a stored user.
  const proto = upsertUsers(JSON.stringify({ users: { __proto__: null, ["__proto__"]: { id: "__proto__" } } }).replace('"__proto__":null,', ""), {}, { now: T0 });
  assert.equal(JSON.parse(proto.body).users.__proto__.created_at, T0_ISO);
  assert.deepEqual(Object.keys(proto.users), ["__proto__"]);
  assert.equal(JSON.parse(proto.users["__proto__"]).created_at, T0_ISO);
});

test("the batch exports read a batch's stored users in one call, in id order, each value as a record or refused", () => {
  const u1 = JSON.stringify(mergeUpsert(null, { id: "u1", n: 1 }, { now: T0 }));
  const body = JSON.stringify({ users: { u3: { id: "u3" }, u1: { id: "u1" }, u2: { id: "u2" } } });
  // Asked once each, in id order; `null` and `undefined` are "not stored", whatever comes after.
  const calls = [];
  const out = upsertUsers(body, (id) => (calls.push(id), id === "u1" ? u1 : id === "u2" ? null : undefined), { now: T0 + 1 });
  assert.deepEqual(calls, ["u1", "u2", "u3"]);
  const users = JSON.parse(out.body).users;
  assert.deepEqual([users.u1.created_at, users.u2.created_at, users.u3.created_at], [T0_ISO, users.u3.updated_at, users.u3.updated_at]);
  assert.notEqual(users.u3.updated_at, T0_ISO);
  // An inherited member is not a stored user.
  assert.equal(JSON.parse(upsertUsers(body, Object.create({ u1 }), { now: T0 + 1 }).body).users.u1.created_at, users.u3.created_at);
  // A value that is neither text, an object, null nor undefined is refused by the id that gave it.
  const cyclic = {};
  cyclic.self = cyclic;
  const refused = 'UpdateUsers failed with error: "stored user \'u2\' must be JSON text, an object, null or undefined"';
  const throwing = Object.defineProperty({}, "u2", { get: () => { throw new Error("no"); }, enumerable: true });
  for (const stored of [new Map([["u2", 5]]), { u2: true }, { u2: () => u1 }, { u2: { toJSON: () => undefined } }, { u2: cyclic }, throwing]) {
    throwsRoster(() => upsertUsers(body, stored, { now: T0 }), 4, 400, refused);
  }
  // Reading stops at the first such value: the users after it are not asked for.
  calls.length = 0;
  const stopAt = (id) => {
    calls.push(id);
    if (id === "u2") throw new Error("storage is down");
    return null;
  };
  throwsRoster(() => upsertUsers(body, stopAt, { now: T0 }), 4, 400, refused);
  assert.deepEqual(calls, ["u1", "u2"]);
  const patch = JSON.stringify({ users: [{ id: "u1", set: { a: 1 } }] });
  throwsRoster(() => partialUpdateUsers(patch, { u1: 7 }, { now: T0 }), 4, 400, /stored user 'u1' must be JSON text/);
  assert.equal(JSON.parse(partialUpdateUsers(patch, { u1: JSON.parse(u1) }, { now: T0 }).users.u1).a, 1);
});

test("upsertUsers: each record is its own slice of the body, whatever characters come before it", () => {
  const names = ["Zoë 😀", "李小龙", "ascii only name", "Ωmega 🎉🎉", "", "Ünal Çelik the third of his name"];
  const users = Object.fromEntries(
    Array.from({ length: 40 }, (_, i) => [`u${i}`, { id: `u${i}`, name: names[i % names.length].repeat(1 + (i % 3)), i }]),
  );
  const out = upsertUsers(JSON.stringify({ users }), null, { now: T0 });
  const response = JSON.parse(out.body);
  assert.equal(Object.keys(out.users).length, 40);
  for (const id of Object.keys(users)) {
    assert.deepEqual(JSON.parse(out.users[id]), response.users[id], id);
    assert.equal(response.users[id].name, users[id].name);
  }
});

test("strings of every length and script cross into wasm intact", () => {
  // Strings of 128 characters or more skip the glue's ASCII loop (scripts/build-pkg.sh): short
  // and long, ASCII first or not, astral characters at the edges, each must arrive as it left.
  const pieces = ["a", "é", "李", "😀", "\u007f", "\u0080", "~"];
  const texts = [];
  for (const len of [1, 2, 127, 128, 129, 1000]) {
    for (const lead of pieces) texts.push(lead.repeat(len).slice(0, len * lead.length));
    texts.push("x".repeat(len - 1) + "😀", "😀" + "y".repeat(len));
  }
  const users = Object.fromEntries(texts.map((text, i) => [`u${i}`, { id: `u${i}`, note: text }]));
  const stored = new Map(texts.map((text, i) => [`u${i}`, JSON.stringify({ id: `u${i}`, kept: text, role: "user" })]));
  const out = JSON.parse(upsertUsers(JSON.stringify({ users: Object.fromEntries(Object.entries(users).slice(0, 100)) }), stored, { now: T0 }).body);
  for (const [id, user] of Object.entries(users).slice(0, 100)) assert.equal(out.users[id].note, user.note, id);
  const store = new UserStore();
  store.upsertUsers(texts.slice(0, 100).map((text, i) => ({ id: `u${i}`, note: text })), { now: T0 });
  const read = store.queryUsers({ id: { $in: texts.slice(0, 100).map((_, i) => `u${i}`) } }, [], { limit: 100 }).users;
  for (const u of read) assert.equal(u.note, texts[Number(u.id.slice(1))], u.id);
  assert.equal(read.length, Math.min(100, texts.length));
});

test("bodies written ASCII-only, as Python's json.dumps writes them, give what their UTF-8 form gives", () => {
  // Every character beyond ASCII escaped, emoji and other astral characters as surrogate pairs.
  const asciiOnly = (text) => text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const names = ["Zoë 😀", "Δημήτρης", "李小龙 𠀀", "𝐀lice", "plain"];
  const users = Object.fromEntries(names.map((name, i) => [`u${i}`, { id: `u${i}`, name, bio: `${name} ✨`, tags: [name] }]));
  const stored = new Map(names.map((name, i) => [`u${i}`, JSON.stringify(mergeUpsert(null, { id: `u${i}`, city: name }, { now: T0 }))]));
  const storedAscii = new Map([...stored].map(([id, text]) => [id, asciiOnly(text)]));
  const body = JSON.stringify({ users });
  assert.match(asciiOnly(body), /\\ud83d\\ude00/);
  const plain = upsertUsers(body, stored, { now: T0 + 1000 });
  const escaped = upsertUsers(asciiOnly(body), storedAscii, { now: T0 + 1000 });
  assert.deepEqual(JSON.parse(escaped.body), JSON.parse(plain.body));
  for (const id of Object.keys(users)) assert.deepEqual(JSON.parse(escaped.users[id]), JSON.parse(plain.users[id]), id);
  const patch = JSON.stringify({ users: names.map((name, i) => ({ id: `u${i}`, set: { "address.city": `${name} 🏙`, name }, unset: ["city"] })) });
  assert.deepEqual(
    JSON.parse(partialUpdateUsers(asciiOnly(patch), storedAscii, { now: T0 + 1000 }).body),
    JSON.parse(partialUpdateUsers(patch, stored, { now: T0 + 1000 }).body),
  );
  const list = JSON.stringify(names);
  assert.equal(normalizeUsernames(asciiOnly(list)), normalizeUsernames(list));
  // A lone surrogate is not JSON text serde_json accepts: the endpoints' error, as before.
  throwsRoster(() => upsertUsers('{"users": {"u1": {"id": "u1", "name": "\\ud83d"}}}', stored), 4, 400, /invalid JSON body/);
});

test("upsertUsers and partialUpdateUsers throw the endpoints' errors and write nothing", () => {
  const stored = { u1: JSON.stringify(mergeUpsert(null, { id: "u1" }, { now: T0 })) };
  throwsRoster(() => upsertUsers('{"users": {"u1": {"id": "u1", "online": true}}}', stored), 4, 400, /users\[u1\]\.online is a reserved field/);
  throwsRoster(() => upsertUsers('{"users": []}', stored), 4, 400, /users must be an object keyed by user id/);
  throwsRoster(() => upsertUsers("{", stored), 4, 400, /invalid JSON body/);
  throwsRoster(() => upsertUsers('{"users": {"u2": {"id": "u2"}}}', stored, { caller: { user_id: "u1" } }), 17, 403);
  throwsRoster(
    () => upsertUsers(JSON.stringify({ users: { u1: { id: "u1", big: "x".repeat(6000) } } }), stored),
    22,
    413,
  );
  throwsRoster(() => partialUpdateUsers('{"users": [{"id": "u9", "set": {"a": 1}}]}', stored), 4, 400, /user 'u9' does not exist/);
  throwsRoster(() => partialUpdateUsers('{"users": [{"id": "u1", "set": {"a..b": 1}}]}', stored), 4, 400, /field name 'a\.\.b' is invalid/);
  throwsRoster(() => partialUpdateUsers('{"users": [{"id": "u1", "set": {"a": 1}}]}', { u1: "[not json" }), 4, 400, /stored user 'u1' is not a JSON object/);
  assert.throws(() => upsertUsers({ users: {} }, stored), TypeError);
  assert.throws(() => upsertUsers("{}", 42), TypeError);
  assert.throws(() => partialUpdateUsers('{"users": [{"id": "u1"}]}', { u1: 42 }), (e) => e.code === 4);
});

test("partialUpdateUsers: PATCH /users in one call, equal to applyPartialUpdate per user", () => {
  const users = ["u1", "u2"].map((id) => mergeUpsert(null, { id, address: { city: "Amsterdam", number: 5 }, tags: ["a"] }, { now: T0 }));
  const stored = new Map(users.map((u) => [u.id, JSON.stringify(u)]));
  const entries = [
    { id: "u1", set: { "address.city": "Oslo", "address.geo.lat": 59.91, "prefs.theme": "dark", score: 0.1 }, unset: ["tags", "address.number"] },
    { id: "u2", set: { name: "Renamed", privacy_settings: { read_receipts: { enabled: false } } } },
  ];
  const out = partialUpdateUsers(JSON.stringify({ users: entries }), stored, { now: T0 + 1000 });
  const response = JSON.parse(out.body);
  for (const entry of entries) {
    const expected = applyPartialUpdate(JSON.parse(stored.get(entry.id)), entry, { now: T0 + 1000 });
    assert.deepEqual(response.users[entry.id], expected, entry.id);
    assert.deepEqual(JSON.parse(out.users[entry.id]), expected);
  }
  assert.deepEqual(response.users.u1.address, { city: "Oslo", geo: { lat: 59.91 } });
});

test("normalizeUsernames: a JSON array of names in, their normalized forms out", () => {
  const names = ["John Doe", "john.doe", "Ünal Çelik", "ΣΩΚΡΑΤΗΣ", "İlker", "Zoë 😀", "a\nb", "", "李小龙"];
  assert.deepEqual(JSON.parse(normalizeUsernames(JSON.stringify(names))), names.map(normalizeUsername));
  assert.equal(normalizeUsernames('["caf\\u00e9"]'), '["café"]');
  throwsRoster(() => normalizeUsernames("[1]"), 4, 400, /names must be a JSON array of strings/);
  assert.throws(() => normalizeUsernames(["a"]), TypeError);
});
