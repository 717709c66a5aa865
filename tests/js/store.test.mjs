// UserStore through the npm package: the Worker's semantics and errors for upsert, partial
// update, connect, query, app settings, unique usernames, the lifecycle and tokens, and that bad
// input of any shape leaves the store as it was. Needs `bash scripts/build-pkg.sh` first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { throwsRoster } from "./helpers.mjs";
import { UserStore, createToken, isRosterError, upsertUsers, partialUpdateUsers } from "roster-users";

const T0 = Date.UTC(2024, 0, 1); // 2024-01-01T00:00:00Z
const at = (ms) => ({ now: T0 + ms });
const iso = (ms) => new Date(T0 + ms).toISOString().replace("Z", "000Z");
const asUser = (id, ms = 0) => ({ caller: { user_id: id }, now: T0 + ms });

/** Every user the store holds, deactivated ones included, by id. */
function snapshot(store) {
  const { users } = store.queryUsers({}, [{ field: "id" }], { limit: 100, include_deactivated_users: true });
  return users;
}

function seeded() {
  const store = new UserStore();
  store.upsertUsers([{ id: "ann", name: "Ann", teams: ["red"] }, { id: "bob", name: "Bob", role: "admin" }], at(0));
  return store;
}

test("upsertUsers creates users with defaults and answers like POST /users", () => {
  const store = new UserStore();
  const body = store.upsertUsers([{ id: "u1", book: "dune" }], at(0));
  assert.deepEqual(body, {
    membership_deletion_task_id: "",
    users: {
      u1: { id: "u1", book: "dune", role: "user", teams: [], banned: false, online: false, created_at: iso(0), updated_at: iso(0) },
    },
  });
  // The request body's {id: user} map works as well as the SDK's array.
  const again = store.upsertUsers({ u1: { id: "u1", book: "emma" } }, at(1000));
  assert.equal(again.users.u1.book, "emma");
  assert.equal(again.users.u1.created_at, iso(0));
  assert.equal(again.users.u1.updated_at, iso(1000));
});

test("upsertUsers replaces custom data wholesale and keeps role and teams when omitted", () => {
  const store = seeded();
  const { users } = store.upsertUsers([{ id: "bob", color: "green" }], at(10));
  assert.equal(users.bob.role, "admin");
  assert.equal(users.bob.name, undefined, "absent fields are removed");
  assert.equal(users.bob.color, "green");
  const ann = store.upsertUsers([{ id: "ann" }], at(20)).users.ann;
  assert.deepEqual(ann.teams, ["red"]);
});

test("a batch is all or nothing", () => {
  const store = seeded();
  const before = snapshot(store);
  const e = throwsRoster(
    () => store.upsertUsers([{ id: "new1" }, { id: "ann", v: 2 }, { id: "z", online: true }], at(5)),
    4,
    400,
    'UpdateUsers failed with error: "users[z].online is a reserved field"',
  );
  assert.deepEqual(e.exception_fields, { "users[z].online": "users[z].online is a reserved field" });
  throwsRoster(() => store.upsertUsers([{ id: "new1" }, { id: "big", data: "x".repeat(6000) }], at(5)), 22, 413);
  throwsRoster(() => store.upsertUsers([{ id: "new1" }, { name: "no id" }], at(5)), 4, 400, /user id is a required field/);
  throwsRoster(() => store.upsertUsers([{ id: "new1" }, "ann"], at(5)), 4, 400);
  throwsRoster(() => store.upsertUsers([], at(5)), 4, 400, /users is a required field and cannot be empty/);
  const many = Array.from({ length: 101 }, (_, i) => ({ id: `u${i}` }));
  throwsRoster(() => store.upsertUsers(many, at(5)), 4, 400, /maximum per request is 100/);
  throwsRoster(() => store.partialUpdateUsers([{ id: "ann", set: { x: 1 } }, { id: "nobody", set: { x: 1 } }], at(5)), 4, 400);
  assert.deepEqual(snapshot(store), before);
});

test("partialUpdateUsers sets and unsets paths and merges privacy_settings", () => {
  const store = seeded();
  let { users } = store.partialUpdateUsers(
    [
      { id: "ann", set: { "field.sub": "x", test: { passed: true }, "privacy_settings.typing_indicators": { enabled: true } } },
      { id: "bob", unset: ["nothing.here"] },
    ],
    at(5),
  );
  assert.deepEqual(users.ann.field, { sub: "x" });
  assert.equal(users.ann.updated_at, iso(5));
  ({ users } = store.partialUpdateUsers(
    [{ id: "ann", set: { privacy_settings: { read_receipts: { enabled: false } } }, unset: ["test.passed"] }],
    at(6),
  ));
  assert.deepEqual(users.ann.test, {});
  assert.deepEqual(users.ann.privacy_settings, { typing_indicators: { enabled: true }, read_receipts: { enabled: false } });
  throwsRoster(
    () => store.partialUpdateUsers([{ id: "ann", set: { role: "admin" } }], asUser("ann")),
    17,
    403,
    'UpdateUsersPartial failed with error: "user role can only be changed server-side"',
  );
  throwsRoster(() => store.partialUpdateUsers([{ id: "bob", set: { x: 1 } }], asUser("ann")), 17, 403);
  throwsRoster(() => store.partialUpdateUsers([{ id: "ann", set: { "a..b": 1 } }]), 4, 400, /field name 'a\.\.b' is invalid/);
  throwsRoster(() => store.partialUpdateUsers({ id: "ann" }), 4, 400, /users must be an array/);
});

test("connectUser creates, merges without removing, ignores role, and answers with me", () => {
  const store = new UserStore();
  const me = store.connectUser({ id: "john", name: "John", role: "admin", color: "green" }, asUser("john", 0));
  assert.equal(me.role, "user", "a client cannot choose its role");
  assert.equal(me.online, true);
  assert.deepEqual([me.devices, me.mutes, me.channel_mutes], [[], [], []]);
  assert.equal(me.last_active, iso(0));
  const again = store.connectUser({ id: "john", status: "busy" }, asUser("john", 1000));
  assert.equal(again.color, "green", "connect never removes fields");
  assert.equal(again.status, "busy");
  throwsRoster(() => store.connectUser({ id: "john", teams: ["red"] }, asUser("john")), 17, 403, 'Connect failed with error: "user teams cannot be changed at connection time"');
  throwsRoster(() => store.connectUser({ id: "victim" }, asUser("mallory")), 5, 401);
  throwsRoster(() => store.connectUser({ name: "no id" }), 4, 400);
  throwsRoster(() => store.connectUser({ id: "x", created_at: "helloworld" }), 4, 400, /reserved field/);
});

test("roster_connect_fill_only: a reconnect with a stale profile fills only missing fields", () => {
  const store = new UserStore();
  store.connectUser({ id: "kim", name: "Kim", color: "red" }, asUser("kim", 0));
  store.partialUpdateUsers([{ id: "kim", set: { name: "Kim Server", color: "blue" } }]);
  store.updateAppSettings({ roster_connect_fill_only: true });
  const me = store.connectUser({ id: "kim", name: "Kim", color: "red", mood: "ok" }, asUser("kim", 1000));
  assert.deepEqual([me.name, me.color, me.mood], ["Kim Server", "blue", "ok"]);
  store.updateAppSettings({ roster_connect_fill_only: false });
  const stale = store.connectUser({ id: "kim", name: "Kim" }, asUser("kim", 2000));
  assert.equal(stale.name, "Kim", "off: Stream's merge writes the client's value");
  throwsRoster(() => store.updateAppSettings({ roster_connect_fill_only: 1 }), 4, 400, /must be a boolean/);
});

test("unique usernames: app and team modes, across methods", () => {
  const store = new UserStore();
  assert.deepEqual(store.updateAppSettings({ enforce_unique_usernames: "app" }), {});
  store.upsertUsers([{ id: "a", name: "John Doe" }], at(0));
  throwsRoster(
    () => store.upsertUsers([{ id: "b", name: "john.doe" }], at(1)),
    6,
    400,
    "UpdateUsers failed with error: \"username 'john.doe' already exists\"",
  );
  throwsRoster(() => store.upsertUsers([{ id: "c", name: "Jane" }, { id: "d", name: "jane" }], at(1)), 6, 400);
  store.upsertUsers([{ id: "b", name: "Bob" }], at(2));
  throwsRoster(() => store.partialUpdateUsers([{ id: "b", set: { name: "JOHN DOE" } }], at(3)), 6, 400, /^UpdateUsersPartial/);
  throwsRoster(() => store.connectUser({ id: "z", name: "johndoe" }, asUser("z")), 6, 400, /^Connect failed/);
  store.partialUpdateUsers([{ id: "a", set: { name: "Johnny" } }], at(4));
  store.partialUpdateUsers([{ id: "b", set: { name: "John Doe" } }], at(5)); // the rename freed it

  store.updateAppSettings({ enforce_unique_usernames: "team" });
  store.upsertUsers([{ id: "t1", name: "Nick", teams: ["T"] }, { id: "t2", name: "nick", teams: ["S"] }], at(6));
  throwsRoster(
    () => store.upsertUsers([{ id: "t3", name: "NICK", teams: ["A", "T"] }], at(7)),
    6,
    400,
    "UpdateUsers failed with error: \"username 'NICK' already exists in team 'T'\"",
  );
});

test("app settings: stored as sent, validated where Roster acts, server only", () => {
  const store = new UserStore();
  const { app } = store.getAppSettings();
  assert.equal(app.enforce_unique_usernames, "no");
  assert.equal(app.disable_auth_checks, false);
  assert.equal(app.revoke_tokens_issued_before, null);
  const hooks = [{ hook_type: "webhook", webhook_url: "https://example.com/h" }];
  store.updateAppSettings({ event_hooks: hooks, webhook_url: "https://example.com" });
  assert.deepEqual(store.getAppSettings().app.event_hooks, hooks);
  throwsRoster(
    () => store.updateAppSettings({ enforce_unique_usernames: "maybe" }),
    4,
    400,
    'UpdateApp failed with error: "enforce_unique_usernames must be one of [no app team]"',
  );
  throwsRoster(() => store.updateAppSettings({ disable_auth_checks: true }, { caller: { user_id: "u" } }), 17, 403, /^UpdateApp failed/);
  throwsRoster(() => store.updateAppSettings([1]), 4, 400);
  assert.equal(store.getAppSettings().app.disable_auth_checks, false);
});

test("queryUsers filters, sorts and paginates like GET /users", () => {
  const store = new UserStore();
  store.upsertUsers(
    Array.from({ length: 12 }, (_, i) => ({ id: `u${String(i).padStart(2, "0")}`, n: i, teams: i % 2 ? ["odd"] : ["even"] })),
    at(0),
  );
  const ids = (r) => r.users.map((u) => u.id);
  assert.deepEqual(ids(store.queryUsers({ n: { $gte: 9 } }, [{ field: "n", direction: -1 }])), ["u11", "u10", "u09"]);
  assert.deepEqual(ids(store.queryUsers({ teams: { $contains: "odd" } }, [{ field: "id" }], { limit: 2, offset: 1 })), ["u03", "u05"]);
  assert.deepEqual(ids(store.queryUsers({ $or: [{ id: "u01" }, { id: { $in: ["u02", "zz"] } }] }, [{ field: "id" }])), ["u01", "u02"]);
  assert.equal(store.queryUsers().users.length, 12, "everything by default");
  throwsRoster(() => store.queryUsers({}, [], { limit: 101 }), 4, 400, 'QueryUsers failed with error: "limit must be between 0 and 100"');
  throwsRoster(() => store.queryUsers({}, { id: 1 }), 4, 400, /sort must be an array/);
  throwsRoster(() => store.queryUsers({ n: { $nope: 1 } }), 4, 400, /^QueryUsers failed/);
  assert.throws(() => store.queryUsers({}, [], 5), TypeError);
});

test("deactivate frees the name and blocks connect and upsert; reactivate may rename", () => {
  const store = new UserStore();
  store.updateAppSettings({ enforce_unique_usernames: "app" });
  store.upsertUsers([{ id: "a", name: "Neo" }], at(0));
  const { user } = store.deactivateUser("a", { mark_messages_deleted: false, created_by_id: "" }, at(10));
  assert.equal(user.deactivated_at, iso(10));
  throwsRoster(() => store.connectUser({ id: "a" }, asUser("a")), 16, 404, /was deactivated/);
  throwsRoster(() => store.upsertUsers([{ id: "a", name: "x" }]), 4, 400, /was deactivated/);
  assert.deepEqual(store.queryUsers({ id: "a" }).users, [], "deactivated users are hidden by default");
  assert.equal(store.queryUsers({ id: "a" }, [], { include_deactivated_users: true }).users.length, 1);
  store.upsertUsers([{ id: "b", name: "neo" }], at(20));
  throwsRoster(() => store.reactivateUser("a", {}, at(30)), 6, 400, "ReactivateUser failed with error: \"username 'Neo' already exists\"");
  const back = store.reactivateUser("a", { name: "Trinity", restore_messages: false }, at(40)).user;
  assert.equal(back.deactivated_at, undefined);
  assert.equal(back.name, "Trinity");
  throwsRoster(() => store.reactivateUser("a"), 4, 400, /is not deactivated/);
  throwsRoster(() => store.deactivateUser("nobody"), 16, 404, /^DeactivateUser failed/);
  throwsRoster(() => store.deactivateUser("a", {}, { caller: { user_id: "a" } }), 17, 403);
  throwsRoster(() => store.deactivateUser("a", { mark_messages_deleted: "yes" }), 4, 400);
  assert.throws(() => store.deactivateUser(7), TypeError);
});

test("delete is soft by default and restorable; a hard-deleted id cannot be reused", () => {
  const store = new UserStore();
  store.upsertUsers([{ id: "a", name: "A" }, { id: "b" }], at(0));
  assert.equal(store.deleteUser("a", undefined, at(10)).user.deleted_at, iso(10));
  assert.deepEqual(store.queryUsers().users.map((u) => u.id), ["b"]);
  throwsRoster(() => store.upsertUsers([{ id: "a" }]), 4, 400, /restore it before changing it/);
  assert.deepEqual(store.restoreUsers(["a"], at(20)), {});
  assert.equal(store.queryUsers({ id: "a" }).users[0].name, "A");
  throwsRoster(() => store.restoreUsers(["a"]), 4, 400, /^RestoreUsers failed with error: "user "a" is not deleted, it can't be restored"$/);
  store.deleteUser("b", { hard_delete: true }, at(30));
  throwsRoster(() => store.upsertUsers([{ id: "b" }]), 4, 400, /cannot be used again/);
  throwsRoster(() => store.restoreUsers(["b"]), 16, 404);
  throwsRoster(() => store.deleteUser("nobody"), 16, 404, /^DeleteUser failed/);
  throwsRoster(() => store.deleteUser("a", {}, { caller: { user_id: "a" } }), 17, 403);
  assert.throws(() => store.deleteUser("a", { hard_delete: "true" }), TypeError);
});

test("store.verifyToken applies the app's policy and each user's revoke_tokens_issued_before", () => {
  const store = new UserStore();
  const secs = T0 / 1000;
  store.upsertUsers([{ id: "jo" }], at(0));
  const old = createToken("k", { user_id: "jo", iat: secs - 10 });
  assert.equal(store.verifyToken(old, "k", at(0)).user_id, "jo");
  store.partialUpdateUsers([{ id: "jo", set: { revoke_tokens_issued_before: new Date(T0 - 5000).toISOString() } }], at(1));
  throwsRoster(() => store.verifyToken(old, "k", at(0)), 40, 401, 'Request failed with error: "JWTAuth error: token has been revoked"');
  assert.equal(store.verifyToken(createToken("k", { user_id: "jo", iat: secs }), "k", at(0)).user_id, "jo");
  assert.equal(store.verifyToken(createToken("k", { user_id: "other", iat: secs - 10 }), "k", at(0)).user_id, "other");

  store.updateAppSettings({ revoke_tokens_issued_before: new Date(T0).toISOString() });
  throwsRoster(() => store.verifyToken(createToken("k", { user_id: "other", iat: secs - 1 }), "k", at(0)), 40, 401);
  assert.deepEqual(store.verifyToken(createToken("k", { server: true }), "k"), { server: true });

  const dev = `${createToken("k", { user_id: "jo", iat: secs + 1 }).split(".").slice(0, 2).join(".")}.devtoken`;
  throwsRoster(() => store.verifyToken(dev, "k", at(2000)), 43, 401);
  store.updateAppSettings({ disable_auth_checks: true });
  assert.equal(store.verifyToken(dev, "k", at(2000)).user_id, "jo");
});

test("writes default to the server and to the current time", () => {
  const store = new UserStore();
  const before = Date.now();
  const { users } = store.upsertUsers([{ id: "u", role: "admin" }]);
  const created = Date.parse(users.u.created_at);
  assert.ok(created >= before && created <= Date.now());
  assert.equal(users.u.role, "admin", "the default caller may set roles");
});

test("tenants, search roles, server-only and hidden fields: a user caller sees and writes what a user token may", () => {
  const store = new UserStore();
  store.updateAppSettings({
    multi_tenant_enabled: true, user_search_disallowed_roles: ["guest"],
    roster_server_only_fields: ["verified"], roster_hidden_fields: ["secret"],
  });
  store.upsertUsers([
    { id: "a1", name: "Ann", teams: ["A"], verified: true }, { id: "a2", name: "Ann", teams: ["A"], secret: "s" },
    { id: "b1", name: "Ann", teams: ["B"] }, { id: "g1", teams: ["A"], role: "guest" },
  ], at(0));
  const ids = (res) => res.users.map((u) => u.id).sort();
  assert.deepEqual(ids(store.queryUsers({ name: "Ann" }, [], { caller: { user_id: "a1" } })), ["a1", "a2"]);
  assert.deepEqual(ids(store.queryUsers({ name: "Ann" })), ["a1", "a2", "b1"], "the server by default");
  throwsRoster(() => store.queryUsers({ teams: "B" }, [], { caller: { user_id: "a1" } }), 17, 403);
  throwsRoster(() => store.queryUsers({}, [], { caller: { user_id: "g1" } }), 17, 403);
  const [a2] = store.queryUsers({ id: "a2" }, [], { caller: { user_id: "a1" } }).users;
  assert.equal(a2.secret, undefined, "hidden from a user caller");
  throwsRoster(() => store.partialUpdateUsers([{ id: "a1", set: { verified: false } }], asUser("a1")), 17, 403);
  store.upsertUsers([{ id: "a1", name: "Ann", teams: ["A"] }], asUser("a1", 1000));
  assert.equal(store.queryUsers({ id: "a1" }).users[0].verified, true, "kept when a user upsert omits it");
});

test("garbage of every shape is refused with a RosterError or TypeError and changes nothing", () => {
  const store = seeded();
  store.updateAppSettings({ enforce_unique_usernames: "team" });
  const before = snapshot(store);
  const settingsBefore = store.getAppSettings();
  const cyclic = {};
  cyclic.c = cyclic;
  const garbage = [
    undefined, null, 0, -1, 1.5, NaN, "", "nobody", true, [], [null], [1, 2], {}, { users: {} }, { id: 5 }, { id: "" },
    { id: "ann", teams: 7 }, { id: "ann", name: 5 }, { id: "zed", set: "x" }, [{ id: "zed", set: { "": 1 } }],
    [{ id: "zed", unset: [""] }], [{ id: "ann", name: 5 }], [{ id: "bob", teams: ["red"], name: "ANN" }], { "": { id: "" } }, cyclic, [cyclic], 10n,
    Symbol("s"), () => 1, new Date(0), "x".repeat(100_000), [{ id: "x".repeat(300) }],
  ];
  let refused = 0;
  const calls = [
    (g) => store.upsertUsers(g, at(1)),
    (g) => store.upsertUsers([g], at(1)),
    (g) => store.partialUpdateUsers(g, at(1)),
    (g) => store.partialUpdateUsers([g], at(1)),
    (g) => store.connectUser(g, at(1)),
    (g) => store.restoreUsers(g, at(1)),
    (g) => store.deactivateUser(g, undefined, at(1)),
    (g) => store.reactivateUser("ann", g, at(1)),
    (g) => store.upsertUsers([{ id: "zed" }], g),
    (g) => store.updateAppSettings({ enforce_unique_usernames: g }),
  ];
  for (const call of calls) {
    for (const g of garbage) {
      try {
        call(g);
      } catch (e) {
        assert.ok(isRosterError(e) || e instanceof TypeError, `unexpected ${e?.stack ?? e}`);
        refused++;
        continue;
      }
      // A few are valid (options that only hold defaults); they must not touch ann or bob.
      const after = snapshot(store).filter((u) => u.id === "ann" || u.id === "bob");
      assert.deepEqual(after, before, `accepted ${String(g)} and changed the seeded users`);
    }
  }
  assert.ok(refused > calls.length * garbage.length * 0.75, `only ${refused} refused`);
  assert.deepEqual(snapshot(store).filter((u) => u.id === "ann" || u.id === "bob"), before);
  assert.deepEqual(store.getAppSettings(), settingsBefore);
  // Still fully working.
  assert.equal(store.upsertUsers([{ id: "carol", name: "Carol", teams: ["red"] }], at(2)).users.carol.name, "Carol");
});

test("queryUsers pages with keyset cursors: every user once, both ways; a foreign cursor is code 4", () => {
  const store = new UserStore();
  const ids = Array.from({ length: 250 }, (_, i) => `w${String(i).padStart(3, "0")}`);
  for (let i = 0; i < ids.length; i += 100) {
    store.upsertUsers(ids.slice(i, i + 100).map((id) => ({ id, name: `Walker ${id}`, color: Number(id.slice(1)) % 2 ? "odd" : "even" })), at(i));
  }
  const filter = { id: { $in: ids } };
  const sort = [{ field: "created_at", direction: -1 }];
  const seen = [];
  let page = store.queryUsers(filter, sort, { limit: 30 });
  assert.equal(page.prev, undefined, "the first page has no prev");
  const pages = [page];
  for (;;) {
    seen.push(...page.users.map((u) => u.id));
    if (!page.next) break;
    page = store.queryUsers(filter, sort, { limit: 30, next: page.next });
    pages.push(page);
  }
  assert.equal(pages.length, 9);
  assert.equal(seen.length, ids.length);
  assert.equal(new Set(seen).size, ids.length, "no user twice");
  const expected = store.queryUsers(filter, sort, { limit: 100, offset: 0 }).users.map((u) => u.id);
  assert.deepEqual(seen.slice(0, 100), expected, "in the sort's order");
  // Back from the last page with prev: the pages before it, in the same order.
  const back = store.queryUsers(filter, sort, { limit: 30, prev: page.prev });
  assert.deepEqual(back.users.map((u) => u.id), pages[pages.length - 2].users.map((u) => u.id));
  // A cursor carries its filter and sort; offset does not mix with it.
  throwsRoster(() => store.queryUsers({ color: "odd" }, sort, { limit: 30, next: pages[0].next }), 4, 400, /next belongs to another query/);
  throwsRoster(() => store.queryUsers(filter, sort, { limit: 30, offset: 30, next: pages[0].next }), 4, 400, /next cannot be combined with offset/);
  throwsRoster(() => store.queryUsers(filter, sort, { next: "not-a-cursor" }), 4, 400, /next is not a next cursor/);
  throwsRoster(() => store.queryUsers(filter, [{ field: "color" }], { next: pages[0].next }), 4, 400, /indexed fields only/);
  assert.equal(store.queryUsers(filter, [{ field: "color" }], { limit: 5 }).next, undefined, "no cursors on an unindexed sort");
});

test("roster_username_skeletons: lookalike names collide in UserStore too", () => {
  const store = new UserStore();
  store.updateAppSettings({ enforce_unique_usernames: "app", roster_username_skeletons: true });
  store.upsertUsers([{ id: "a", name: "paypal" }], at(0));
  throwsRoster(() => store.upsertUsers([{ id: "b", name: "раураl" }], at(1)), 6, 400, "UpdateUsers failed with error: \"username 'раураl' already exists\"");
  throwsRoster(() => store.upsertUsers([{ id: "b", name: "PAYPA1" }], at(1)), 6, 400, /already exists/);
  assert.deepEqual(snapshot(store).map((u) => u.id), ["a"]);
  store.updateAppSettings({ roster_username_skeletons: false });
  store.upsertUsers([{ id: "b", name: "раураl" }], at(2));
});

test("upsertUsers and partialUpdateUsers run the batch exports' record path: same answers, repeated ids, unreadable input", () => {
  const store = new UserStore();
  const users = [
    { id: "u1", name: "Ann", n: 1.5, nested: { b: [1, "x", { c: null }] }, teams: ["red"] },
    { id: "u2", name: "Zoë 😀", big: 12345678901234567890 },
  ];
  const mine = store.upsertUsers(users, at(0));
  const batch = upsertUsers(JSON.stringify({ users: Object.fromEntries(users.map((u) => [u.id, u])) }), new Map(), at(0));
  assert.deepEqual(mine, JSON.parse(batch.body));
  const updates = [{ id: "u1", set: { "nested.b": 2, name: "Ann B" }, unset: ["n"] }];
  const stored = new Map(Object.entries(batch.users));
  assert.deepEqual(
    store.partialUpdateUsers(updates, at(1)),
    JSON.parse(partialUpdateUsers(JSON.stringify({ users: updates }), stored, at(1)).body),
  );
  // An id given twice: the last entry counts, as in an object keyed by id.
  assert.equal(store.upsertUsers([{ id: "u3", name: "first" }, { id: "u3", name: "last" }], at(2)).users.u3.name, "last");
  // What JSON.stringify writes and JSON cannot be read back as is refused as before.
  let deep = {};
  const root = deep;
  for (let i = 0; i < 200; i++) deep = deep.d = {};
  throwsRoster(() => store.upsertUsers([{ id: "u4", root }], at(3)), 4, 400, /users cannot be read as JSON: it nests deeper than 128 levels/);
  throwsRoster(() => store.partialUpdateUsers([{ id: "u1", set: { s: "\ud800" } }], at(3)), 4, 400, /updates cannot be read as JSON/);
  assert.deepEqual(snapshot(store).map((u) => u.id), ["u1", "u2", "u3"]);
  assert.equal(snapshot(store)[0].name, "Ann B");
});

test("upsertUsers([...]) keys each user by its id, in runs of any length, as the SDK keys them", () => {
  const store = new UserStore();
  // 100 users of about 330 characters each cross into wasm in several runs; ids repeat across runs.
  const users = Array.from({ length: 100 }, (_, i) => ({ id: `u${i % 80}`, bio: "x".repeat(300), v: i }));
  const { users: written } = store.upsertUsers(users, at(0));
  assert.equal(Object.keys(written).length, 80);
  assert.deepEqual([written.u5.v, written.u25.v, written.u79.v], [85, 25, 79]);
  assert.deepEqual(store.queryUsers({ id: { $in: ["u5", "u6"] } }, [{ field: "id", direction: 1 }], {}).users.map((u) => u.v), [85, 86]);
  // A user that cannot be serialized refuses the batch, and nothing is written.
  const cyclic = { id: "c" };
  cyclic.self = cyclic;
  throwsRoster(() => store.upsertUsers([{ id: "n1" }, cyclic], at(1)), 4, 400, 'UpdateUsers failed with error: "users cannot be serialized as JSON"');
  // An id that is not a string, or whose getter throws, is no id; `toJSON` is what is written.
  throwsRoster(() => store.upsertUsers([{ id: 7 }], at(1)), 4, 400, /user id must be a string/);
  const getter = Object.defineProperty({}, "id", { get: () => { throw new Error("no"); } });
  throwsRoster(() => store.upsertUsers([getter], at(1)), 4, 400, /user id is a required field/);
  throwsRoster(() => store.upsertUsers([{ id: "a", toJSON: () => ({ id: "b" }) }], at(1)), 4, 400, /users\[a\]\.id must match its key, got 'b'/);
  assert.deepEqual(store.queryUsers({ id: { $in: ["n1", "c", "a", "b"] } }, [], {}).users, []);
});
