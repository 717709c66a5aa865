// A small TypeScript consumer of roster-users, checked with `tsc --noEmit`. Every call must
// type-check, every `@ts-expect-error` line must be an error (so a loose declaration fails the
// check), and nothing the package returns may be `any`.
import {
  UserStore,
  applyPartialUpdate,
  createToken,
  isRosterError,
  mergeUpsert,
  normalizeUsername,
  normalizeUsernames,
  partialUpdateUsers,
  upsertUsers,
  validateUser,
  verifyToken,
  type AppSettings,
  type Caller,
  type OwnUserResponse,
  type RosterError,
  type TokenClaims,
  type UserResponse,
} from "roster-users";

/** Compiles only if T is not `any`. */
type IsAny<T> = 0 extends 1 & T ? true : false;
function notAny<T>(value: T, ok: IsAny<T> extends true ? never : true): T {
  void ok;
  return value;
}

const name: string = notAny(normalizeUsername("John Doe"), true);

const stored: UserResponse = notAny(mergeUpsert(null, { id: "u1", name, color: "green" }, { now: new Date() }), true);
const createdAt: string = stored.created_at;
const updated: UserResponse = applyPartialUpdate(stored, { id: "u1", set: { "address.city": "Oslo" }, unset: ["color"] }, { now: 0 });
validateUser({ id: "u2", teams: ["red"], privacy_settings: { read_receipts: { enabled: false } } });

// Batch entry points: text in, text out.
const written = notAny(upsertUsers('{"users":{"u3":{"id":"u3"}}}', new Map<string, string>(), { now: 0 }), true);
const body: string = written.body;
const record: string | undefined = written.users["u3"];
const patched = partialUpdateUsers('{"users":[{"id":"u3","set":{"a":1}}]}', (id: string) => written.users[id], {});
const normalized: string = notAny(normalizeUsernames('["John Doe"]'), true);
void [body, record, patched.body, normalized];
// @ts-expect-error the body is JSON text, not an object
upsertUsers({ users: {} }, null);
// @ts-expect-error stored records are text or objects
partialUpdateUsers("{}", { u3: 42 });

const token: string = createToken("secret", { user_id: "u1", iat: 1_700_000_000 });
createToken("secret", { server: true });
const claims: TokenClaims = notAny(verifyToken(token, "secret", { now: "2024-01-01T00:00:00Z" }), true);
const caller: Caller = claims; // verified claims work as a caller

const store = new UserStore();
const upserted = notAny(store.upsertUsers([{ id: "u1", name: "Ann" }], { caller, now: Date.now() }), true);
const firstRole: string | undefined = upserted.users["u1"]?.role;
store.upsertUsers({ u2: { id: "u2" } });
store.partialUpdateUsers([{ id: "u1", set: { name: "Anna" } }]);
const me: OwnUserResponse = store.connectUser({ id: "u1" }, { caller: { user_id: "u1" } });
const online: true = me.online;
const found: UserResponse[] = store.queryUsers({ name: { $autocomplete: "an" }, $or: [{ id: "u1" }] }, [{ field: "created_at", direction: -1 }], { limit: 10 }).users;
const app: AppSettings = store.getAppSettings().app;
const mode: "no" | "app" | "team" = app.enforce_unique_usernames;
store.updateAppSettings({ enforce_unique_usernames: "team", event_hooks: [] });
store.deactivateUser("u1", { mark_messages_deleted: false });
store.reactivateUser("u1", { name: "Ann" });
store.deleteUser("u2", { hard_delete: true });
store.restoreUsers(["u2"]);
store.verifyToken(token, "secret", { now: new Date() });
store.free();

try {
  validateUser({ id: "" });
} catch (e: unknown) {
  if (isRosterError(e)) {
    const error: RosterError = e;
    const code: number = error.code;
    const status: number = error.StatusCode;
    const fields: { [field: string]: string } | undefined = error.exception_fields;
    void [code, status, fields];
  }
}

// Loose types would let these through.
// @ts-expect-error a user needs an id
validateUser({ name: "no id" });
// @ts-expect-error ids are strings
store.deactivateUser(42);
// @ts-expect-error teams are an array of strings
store.upsertUsers([{ id: "u", teams: "red" }]);
// @ts-expect-error unique usernames are no, app or team
store.updateAppSettings({ enforce_unique_usernames: "yes" });
// @ts-expect-error a caller is {server: true} or {user_id}
store.upsertUsers([{ id: "u" }], { caller: { server: false } });
// @ts-expect-error time is a Date, a number or a string
mergeUpsert(null, { id: "u" }, { now: true });
// @ts-expect-error createToken needs claims
createToken("secret");
// @ts-expect-error sort is [{field, direction}]
store.queryUsers({}, { created_at: -1 });
// @ts-expect-error direction is 1 or -1
store.queryUsers({}, [{ field: "id", direction: 2 }]);
// @ts-expect-error a partial update's set is an object of paths
store.partialUpdateUsers([{ id: "u", set: ["name"] }]);
// @ts-expect-error custom data is JSON
store.upsertUsers([{ id: "u", when: new Map() }]);
// @ts-expect-error queryUsers returns users, not any
const wrong: number = store.queryUsers().users;

void [createdAt, updated, firstRole, found, mode, online, wrong];
