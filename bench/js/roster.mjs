// The plain-JavaScript baseline of bench/core.mjs (issue 23): Roster's core rules for the three
// benchmarked workloads, written lean, the way one would write them for speed in a Worker.
// Same semantics as src/core on the same inputs: a partial update with `set`/`unset` on dotted
// paths (same path, reserved-field, conflict, permission, type, nesting and 5 KiB checks), the
// upsert merge (keeps `created_at`, `role`, `teams`, `teams_role` and the server-computed
// fields; replaces custom data), and Unicode username normalization.
//
// How it stays lean:
// - Request bodies and stored users are parsed once with JSON.parse; a parsed stored user is
//   private to the call, so a partial update edits it in place. A caller's object (the
//   per-object functions, `MemoryStore`'s stored users) is never edited: a shallow copy of the
//   top level, and copies of only the objects a dotted path walks into.
// - An upsert keeps the parsed input object as the new user when it carries nothing to drop
//   (no nulls, no server-computed or echoed reserved fields).
// - One pass over a user's fields does the type checks and the nesting check.
// - Each user is serialized once (JSON.stringify); that text is both the user's record (to
//   store) and a slice of the response body, and the 5 KiB custom-data check reads its length:
//   a user whose whole JSON is ≤ 5 KiB cannot have more custom data than that, so the exact
//   count (the user's bytes minus its built-in members) only runs for large users.
// - Tables (field kinds, server-computed fields) are hoisted Maps and arrays; regular
//   expressions are built once.
//
// Known, benign differences from the wasm core (none occur in the bench inputs, which are checked
// to agree): error messages are shorter; when several things are wrong, the first one reported
// may differ (the code is the same unless one of them is the 5 KiB limit); the 5 KiB count uses
// JavaScript's JSON (serde_json writes `1.0` where JavaScript writes `1`); a batch's users are
// processed in the body's order (serde_json's maps are sorted by id), which only decides which
// error is reported first; `now` is a Date or milliseconds (not an RFC 3339 string).

const MAX_NESTING = 64;
const MAX_CUSTOM_BYTES = 5 * 1024;
const MAX_TEAMS = 250;
const MAX_TEAM_NAME_BYTES = 100;
const MAX_ROLE_BYTES = 64;
const MAX_BATCH = 100;
const HARD_DELETED = "__hard_deleted";
const REVOKE = "revoke_tokens_issued_before";
const RESERVED = ["created_at", "updated_at", "last_active", "online"];
const SERVER_COMPUTED = [
  "banned", "shadow_banned", "ban_expires", "devices", "mutes", "channel_mutes", "blocked_user_ids",
  "unread_count", "total_unread_count", "unread_channels", "unread_threads", "total_unread_count_by_team",
  "latest_hidden_channels", "avg_response_time", "push_preferences", "deactivated_at", "deleted_at",
  "last_engaged_at", REVOKE, "bypass_moderation", "created_by_id",
];
/** Copied from the stored user on every write (`updated_at` is then overwritten). */
const CARRIED = [...SERVER_COMPUTED, "created_at", "last_active", "updated_at"];
const CARRIED_SET = new Set(CARRIED);
const PRIVACY_KEYS = new Set(["typing_indicators", "read_receipts", "delivery_receipts"]);

// What each built-in top-level field is; a key not in KIND is custom data.
const K_ID = 1;
const K_ROLE = 2;
const K_STRING = 3; // name, image, language
const K_BOOL = 4; // invisible
const K_TEAMS = 5;
const K_TEAMS_ROLE = 6;
const K_PRIVACY = 7;
const K_RESERVED = 8; // refused in writes unless an echo of what the server answers
const K_COMPUTED = 9; // server-computed: ignored in upserts, carried from the stored user
const K_REVOKE = 10; // server-computed, but a partial update may set it (an RFC 3339 timestamp)
const KIND = new Map([
  ["id", K_ID], ["role", K_ROLE], ["name", K_STRING], ["image", K_STRING], ["language", K_STRING],
  ["invisible", K_BOOL], ["teams", K_TEAMS], ["teams_role", K_TEAMS_ROLE], ["privacy_settings", K_PRIVACY],
  ...RESERVED.map((k) => [k, K_RESERVED]),
  ...SERVER_COMPUTED.map((k) => [k, k === REVOKE ? K_REVOKE : K_COMPUTED]),
  [HARD_DELETED, K_COMPUTED],
]);

const ID = /^[A-Za-z0-9@_-]{1,255}$/;
// Rust's char::is_whitespace is Unicode White_Space (JavaScript's \s differs by U+0085, U+FEFF).
const WHITESPACE = /\p{White_Space}/u;
// Rust's char::is_alphanumeric is Alphabetic or Numeric (Nd, Nl, No).
const ALPHANUMERIC = /^[\p{Alphabetic}\p{N}]$/u;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** An error with Stream's code and HTTP status, like the package's RosterError. */
export class BaselineError extends Error {
  constructor(code, status, reason) {
    super(reason);
    this.name = "BaselineError";
    this.code = code;
    this.StatusCode = status;
  }
}
const input = (reason) => new BaselineError(4, 400, reason);
const notAllowed = (reason) => new BaselineError(17, 403, reason);

const hasOwn = Object.hasOwn;
/** A caller's object with only its own fields, as JSON has them (for-in here reads inherited enumerable ones too). */
const plain = (o) => (Object.getPrototypeOf(o) === Object.prototype ? o : { ...o });
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** obj[key] = value, also for the key "__proto__" (a plain assignment would set the prototype). */
function put(obj, key, value) {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}
/** obj's own `key` (JSON data has no functions; "__proto__" is the one inherited non-function). */
function own(obj, key) {
  if (key === "__proto__") return hasOwn(obj, key) ? obj[key] : undefined;
  const v = obj[key];
  return typeof v === "function" ? undefined : v;
}

// ------------------------------------------------------------------------------ usernames

// Whether a character is kept: a table for ASCII, and a cache of the Unicode class test for the
// rest (a loop over the name with these beat one `replace` with a \p{…} class 2:1 in V8).
const ASCII_KEPT = new Uint8Array(128).map((_, c) => (/[a-z0-9]/.test(String.fromCharCode(c)) ? 1 : 0));
const KEPT = new Map();
function kept(cp) {
  let k = KEPT.get(cp);
  if (k === undefined) KEPT.set(cp, (k = ALPHANUMERIC.test(String.fromCodePoint(cp))));
  return k;
}

/**
 * Lowercase (each character on its own, as Rust's char::to_lowercase: Σ is always σ, no
 * final-sigma rule), then keep letters and digits.
 */
export function normalizeUsername(name) {
  if (typeof name !== "string") throw new TypeError("name must be a string");
  const s = (name.includes("\u03A3") ? name.replaceAll("\u03A3", "\u03C3") : name).toLowerCase();
  // Copies the runs of kept characters.
  let out = "";
  let from = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let ok;
    if (c < 128) ok = ASCII_KEPT[c] === 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      ok = kept(s.codePointAt(i));
      if (!ok) {
        if (i > from) out += s.slice(from, i);
        from = i + 2;
      }
      i++;
      continue;
    } else ok = kept(c);
    if (!ok) {
      if (i > from) out += s.slice(from, i);
      from = i + 1;
    }
  }
  if (from === 0) return s;
  return from < n ? out + s.slice(from) : out;
}

/** A JSON array of names in, the JSON array of their normalized forms out. */
export function normalizeUsernames(text) {
  const names = JSON.parse(text);
  if (!Array.isArray(names)) throw input("names must be an array of strings");
  const out = new Array(names.length);
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (typeof n !== "string") throw input("names must be an array of strings");
    out[i] = normalizeUsername(n);
  }
  return JSON.stringify(out);
}

// ------------------------------------------------------------------------------ small checks

/** `now` (a Date, milliseconds, or nothing) as Stream writes timestamps: microsecond precision. */
function timestamp(now) {
  const ms = now === undefined ? Date.now() : now instanceof Date ? now.getTime() : now;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new TypeError("now must be a Date or milliseconds");
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`; // YYYY-MM-DDTHH:MM:SS.mmm + µs
}

function isTimestamp(s) {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const y = +m[1];
  const mo = +m[2];
  const d = +m[3];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (!days || d < 1 || d > days || +m[4] > 23 || +m[5] > 59 || +m[6] > 60) return false;
  return m[9] === undefined || (+m[9] <= 23 && +m[10] <= 59);
}

function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1; // a surrogate pair: 2 + 2
  }
  return n;
}
/** Whether `s` is longer than `limit` UTF-8 bytes (a UTF-16 unit is 1 to 3 bytes). */
const utf8Over = (s, limit) => s.length > limit || (s.length * 3 > limit && utf8Length(s) > limit);

function idOf(obj) {
  const id = own(obj, "id");
  if (id === undefined || id === null) throw input("user id is a required field");
  if (typeof id !== "string") throw input("user id must be a string");
  if (!ID.test(id)) throw input(id === "" ? "user id is a required field and cannot be empty" : `user id '${id}' is invalid`);
  return id;
}

/** Whether an object or array nests more than `budget` levels (itself included). */
function deeper(value, budget) {
  if (budget === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v !== null && typeof v === "object" && deeper(v, budget - 1)) return true;
    }
  } else {
    for (const k in value) {
      const v = value[k];
      if (v !== null && typeof v === "object" && deeper(v, budget - 1)) return true;
    }
  }
  return false;
}

/** The type and limit checks of one built-in field. */
function checkBuiltin(kind, key, value, label) {
  const bad = (what) => input(`${label}.${key} ${what}`);
  switch (kind) {
    case K_ROLE:
      if (typeof value !== "string" || value === "" || utf8Over(value, MAX_ROLE_BYTES)) throw bad("must be a non-empty string");
      break;
    case K_STRING:
      if (typeof value !== "string") throw bad("must be a string");
      break;
    case K_BOOL:
      if (typeof value !== "boolean") throw bad("must be a boolean");
      break;
    case K_TEAMS:
      if (!Array.isArray(value)) throw bad("must be an array of strings");
      if (value.length > MAX_TEAMS) throw bad(`has more than ${MAX_TEAMS} teams`);
      for (let i = 0; i < value.length; i++) {
        const t = value[i];
        if (typeof t !== "string") throw bad("must be an array of strings");
        if (t === "" || utf8Over(t, MAX_TEAM_NAME_BYTES)) throw bad("names must be 1 to 100 bytes long");
      }
      break;
    case K_TEAMS_ROLE:
      if (!isObject(value)) throw bad("must be an object of team name to role");
      for (const k in value) {
        const r = value[k];
        if (typeof r !== "string" && r !== undefined) throw bad("must be an object of team name to role"); // undefined: unset
      }
      break;
    case K_PRIVACY:
      if (!isObject(value)) throw bad("must be an object");
      for (const k in value) {
        if (!PRIVACY_KEYS.has(k)) throw input(`${label}.${key}.${k} is not a privacy setting`);
        const v = value[k];
        if (v === undefined) continue; // unset
        if (v !== null && !(isObject(v) && (!hasOwn(v, "enabled") || typeof v.enabled === "boolean"))) {
          throw input(`${label}.${key}.${k} must be {"enabled": bool}`);
        }
      }
      break;
    case K_REVOKE:
      if (value !== null && !(typeof value === "string" && isTimestamp(value))) throw bad("must be an RFC 3339 timestamp or null");
      break;
    default:
  }
}

/** Nesting and the built-in fields' types, over every field of a whole user. */
function validateFields(user, label) {
  for (const key in user) {
    const value = user[key];
    if (value === undefined) continue; // unset
    if (value !== null && typeof value === "object" && deeper(value, MAX_NESTING - 1)) {
      throw input(`${label}.${key} is nested too deeply`);
    }
    const kind = KIND.get(key);
    if (kind !== undefined) checkBuiltin(kind, key, value, label);
  }
}

/** Custom data ≤ 5 KiB, given the user's JSON text (its custom members' bytes are counted only if the whole is larger). */
function checkCustomSize(user, json, label) {
  if (!utf8Over(json, MAX_CUSTOM_BYTES)) return;
  // The user's bytes minus each built-in member and its comma: the custom members as an object.
  let size = utf8Length(json);
  let custom = 0;
  for (const key in user) {
    const value = user[key];
    if (value === undefined) continue; // unset: not in the JSON
    if (KIND.get(key) === undefined) custom++;
    else size -= key.length + 4 + utf8Length(JSON.stringify(value)); // built-in keys are ASCII: "key":value,
  }
  if (custom > 0 && size > MAX_CUSTOM_BYTES) throw new BaselineError(22, 413, `${label} custom data is ${size} bytes`);
}

function checkCaller(caller) {
  if (caller === undefined || caller === null || caller.server === true) return null;
  if (typeof caller.user_id === "string" && caller.user_id !== "") return caller.user_id;
  throw new TypeError("caller must be {server: true} or {user_id: string}");
}

function requireSelf(userId, target) {
  if (userId !== null && userId !== target) throw notAllowed(`User '${userId}' is not allowed to change user '${target}'`);
}

function gone(user, id) {
  if (user[HARD_DELETED] !== undefined) throw input(`user '${id}' was deleted and its id cannot be used again`);
  if (user.deleted_at !== undefined && user.deleted_at !== null) throw input(`user '${id}' was deleted; restore it before changing it`);
}

/** Server defaults and the write's timestamps (after the stored user's server state was carried). */
function finishServerState(user, ts) {
  if (user.created_at === undefined) user.created_at = ts;
  if (user.role === undefined) user.role = "user";
  if (user.teams === undefined) user.teams = [];
  if (user.banned === undefined) user.banned = false;
  user.online = false;
  user.updated_at = ts;
}

function checkBatchLength(n) {
  if (n === 0) throw input("users is a required field and cannot be empty");
  if (n > MAX_BATCH) throw input(`users contains ${n} entries, the maximum per request is ${MAX_BATCH}`);
}

function requestBody(text) {
  const body = JSON.parse(text);
  if (!isObject(body)) throw input("request body must be a JSON object");
  return body;
}

/** A stored record as an object: JSON text is parsed (and then the caller's to edit). */
const record = (r) => (typeof r === "string" ? JSON.parse(r) : r ?? null);

// ------------------------------------------------------------------------------ partial update

/** The segments of a dotted path, checked; `cache` holds the batch's paths already parsed. */
function parsePath(raw, cache) {
  let segments = cache.get(raw);
  if (segments === undefined) cache.set(raw, (segments = parseNewPath(raw)));
  return segments;
}
function parseNewPath(raw) {
  const last = raw.length - 1;
  if (last < 0 || raw.charCodeAt(0) === 46 || raw.charCodeAt(last) === 46 || raw.includes("..") || WHITESPACE.test(raw)) {
    throw input(`field name '${raw}' is invalid: it should not contain spaces or empty segments`);
  }
  const segments = raw.includes(".") ? raw.split(".") : [raw];
  if (segments.length > MAX_NESTING) throw input(`field name '${raw.slice(0, 64)}…' has more than ${MAX_NESTING} segments`);
  return segments;
}

function checkWritable(top, label) {
  const kind = KIND.get(top);
  if (kind === K_RESERVED) throw input(`${label}.${top} is a reserved field`);
  if (kind === K_ID) throw input("user id cannot be changed");
  if (top === "deactivated_at" || top === "deleted_at" || top === HARD_DELETED) {
    throw input(`${label}.${top} can only be changed by deactivating, deleting or restoring the user`);
  }
}

function overlaps(a, b) {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One `{id, set, unset}` entry, checked: `set` as [raw, segments, value] in key order, `unset` as [raw, segments]. */
function parseUpdate(entry, userId, paths) {
  if (!isObject(entry)) throw input("each partial update must be an object with id, set and unset");
  const id = idOf(entry);
  let rawSet;
  let rawUnset;
  for (const key in entry) {
    if (key === "set") rawSet = entry.set;
    else if (key === "unset") rawUnset = entry.unset;
    else if (key !== "id") throw input(`unknown field '${key}' in partial update`);
  }
  const label = `users[${id}]`;
  const set = [];
  if (rawSet !== undefined && rawSet !== null) {
    if (!isObject(rawSet)) throw input("set must be an object");
    // Applied in key order (serde_json's maps are sorted), which decides overlapping paths.
    const keys = Object.keys(rawSet);
    if (keys.length > 1) keys.sort();
    for (const raw of keys) {
      const segments = parsePath(raw, paths);
      checkWritable(segments[0], label);
      set.push([raw, segments, rawSet[raw]]);
    }
  }
  const unset = [];
  if (rawUnset !== undefined && rawUnset !== null) {
    if (!Array.isArray(rawUnset)) throw input("unset must be an array of field names");
    for (const raw of rawUnset) {
      if (typeof raw !== "string") throw input("unset must be an array of field names");
      const segments = parsePath(raw, paths);
      checkWritable(segments[0], label);
      unset.push([raw, segments]);
    }
    for (const [raw, segments] of set) {
      for (const [uRaw, u] of unset) {
        if (overlaps(u, segments)) throw input(`cannot set and unset the same field or a field and its parent: '${raw}' and '${uRaw}'`);
      }
    }
  }
  requireSelf(userId, id);
  if (userId !== null) {
    const touches = (top) => set.some((s) => s[1][0] === top) || unset.some((s) => s[1][0] === top);
    if (touches("role")) throw notAllowed("user role can only be changed server-side");
    if (touches("teams") || touches("teams_role")) throw notAllowed("user teams can only be updated server-side");
  }
  return { id, label, set, unset };
}

/** Removes a path; `copy`: the objects it walks into are copied first (they are not ours). */
function unsetPath(obj, segments, copy) {
  let cur = obj;
  const last = segments.length - 1;
  for (let i = 0; i < last; i++) {
    let child = own(cur, segments[i]);
    if (!isObject(child)) return;
    if (copy) put(cur, segments[i], (child = { ...child }));
    cur = child;
  }
  // Left as undefined, not deleted: JSON.stringify omits it, every read here treats it as
  // absent, and a `delete` would turn the object into a slow dictionary for V8.
  const key = segments[last];
  if (own(cur, key) !== undefined) put(cur, key, undefined);
}

/** Sets a path, creating missing parents; `copy`: the objects it walks into are copied first. */
function setPath(obj, raw, segments, value, copy) {
  let cur = obj;
  const last = segments.length - 1;
  for (let i = 0; i < last; i++) {
    const key = segments[i];
    let child = own(cur, key);
    if (child === undefined || child === null) put(cur, key, (child = {}));
    else if (!isObject(child)) throw input(`cannot set '${raw}': '${segments.slice(0, i + 1).join(".")}' is not an object`);
    else if (copy) put(cur, key, (child = { ...child }));
    cur = child;
  }
  const key = segments[last];
  if (last === 0 && key === "privacy_settings" && isObject(value)) {
    const before = cur.privacy_settings;
    if (isObject(before)) {
      const merged = copy ? { ...before } : before;
      for (const k in value) put(merged, k, value[k]);
      cur.privacy_settings = merged;
      return;
    }
  }
  put(cur, key, value);
}

/**
 * A parsed update applied to a stored user. `mine`: the user is this call's (parsed from text),
 * edited in place; otherwise the result is a copy and `user` is left as it was.
 */
function applyUpdate(user, upd, ts, userId, mine) {
  gone(user, upd.id);
  if (userId !== null && user.deactivated_at !== undefined && user.deactivated_at !== null) {
    throw input(`user '${upd.id}' was deactivated`);
  }
  const out = mine ? user : { ...user };
  // A server-computed field an update touches goes back to its stored value afterwards (its
  // objects are copied on the way, so that value stays as stored).
  let carried = null;
  for (const [raw, segments] of upd.unset) {
    const top = segments[0];
    const keep = CARRIED_SET.has(top);
    if (keep) (carried ??= []).push([top, own(user, top)]);
    unsetPath(out, segments, !mine || keep);
    if (raw === "role") out.role = "user";
    else if (raw === "teams") out.teams = [];
  }
  for (const [raw, segments, value] of upd.set) {
    const top = segments[0];
    const keep = CARRIED_SET.has(top);
    if (keep) (carried ??= []).push([top, own(user, top)]);
    setPath(out, raw, segments, value, !mine || keep);
  }
  if (carried !== null) {
    // Backwards: a field touched twice gets the value saved first, the stored one.
    for (let i = carried.length - 1; i >= 0; i--) {
      const [top, value] = carried[i];
      if (top === REVOKE) continue; // the one server-computed field a partial update sets
      if (value !== undefined || own(out, top) !== undefined) put(out, top, value);
    }
  }
  if (out[REVOKE] === null) out[REVOKE] = undefined;
  finishServerState(out, ts);
  validateFields(out, upd.label);
  return out;
}

/** `applyPartialUpdate(user, {id, set, unset}, {caller, now})`, as the package's. */
export function applyPartialUpdate(user, update, { caller, now } = {}) {
  if (!isObject(user)) throw new TypeError("user must be an object");
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  const upd = parseUpdate(isObject(update) ? plain(update) : update, userId, new Map());
  const out = applyUpdate(plain(user), upd, ts, userId, false);
  checkCustomSize(out, JSON.stringify(out), upd.label);
  // What was unset is left undefined (see unsetPath); the caller gets it removed.
  for (const k in out) if (out[k] === undefined) delete out[k];
  for (const [, segments] of upd.unset) {
    let cur = out;
    for (let i = 0; i < segments.length - 1 && isObject(cur); i++) cur = own(cur, segments[i]);
    const last = segments[segments.length - 1];
    if (isObject(cur) && hasOwn(cur, last) && cur[last] === undefined) delete cur[last];
  }
  return out;
}

/** `PATCH /users`' body checked and parsed: the entries, each id once. */
function parsePartialBody(body, userId) {
  const entries = body.users;
  if (entries === undefined || entries === null) throw input("users is a required field");
  if (!Array.isArray(entries)) throw input("users must be an array of {id, set, unset}");
  checkBatchLength(entries.length);
  const seen = new Set();
  const paths = new Map(); // a batch's entries mostly name the same paths: each parsed once
  const updates = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const upd = parseUpdate(entries[i], userId, paths);
    if (seen.has(upd.id)) throw input(`user '${upd.id}' appears more than once in the batch`);
    seen.add(upd.id);
    updates[i] = upd;
  }
  return updates;
}

/**
 * `PATCH /users` in one call, as the package's `partialUpdateUsers`: the body text and the
 * stored users (a Map of id → JSON text or object) in; `{body, users}` out, the response text
 * and each user's new record text by id. All or nothing.
 */
export function partialUpdateUsers(bodyText, stored, { caller, now } = {}) {
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  const updates = parsePartialBody(requestBody(bodyText), userId);
  const parts = ['{"users":{'];
  const users = Object.create(null);
  for (let i = 0; i < updates.length; i++) {
    const upd = updates[i];
    const rec = stored.get(upd.id);
    if (rec === undefined || rec === null) throw input(`user '${upd.id}' does not exist`);
    const mine = typeof rec === "string";
    const out = applyUpdate(mine ? JSON.parse(rec) : rec, upd, ts, userId, mine);
    const json = JSON.stringify(out);
    checkCustomSize(out, json, upd.label);
    users[upd.id] = json;
    parts.push(i === 0 ? '"' : ',"', upd.id, '":', json); // ids need no escaping
  }
  parts.push("}}");
  return { body: parts.join(""), users };
}

// ------------------------------------------------------------------------------ upsert merge

/**
 * Whether a reserved field in a whole-user write is refused: ignored when it only echoes what the
 * server answers (null, a valid timestamp, `online: false`), refused otherwise.
 */
function refusesReserved(key, value) {
  if (value === null) return false;
  if (key === "online") return value !== false;
  return !(typeof value === "string" && isTimestamp(value));
}

/**
 * One input user of `POST /users` checked (all that needs no stored data): the object to
 * become the new user, without nulls and server-computed or echoed reserved fields. `mine`: the
 * input is this call's and becomes the new user itself when it has nothing to drop.
 */
function parseInput(key, user, userId, mine) {
  if (!isObject(user)) throw input(`users[${key ?? ""}] must be an object`);
  const id = idOf(user);
  if (key !== null && id !== key) throw input(`users[${key}].id must match its key, got '${id}'`);
  const label = `users[${id}]`;
  let drop = false;
  for (const k in user) {
    const value = user[k];
    const kind = KIND.get(k);
    if (kind === K_RESERVED) {
      if (refusesReserved(k, value)) throw input(`${label}.${k} is a reserved field`);
      drop = true;
    } else if (value === null || kind === K_COMPUTED || kind === K_REVOKE) {
      drop = true;
    } else {
      if (typeof value === "object" && deeper(value, MAX_NESTING - 1)) throw input(`${label}.${k} is nested too deeply`);
      if (kind !== undefined) checkBuiltin(kind, k, value, label);
    }
  }
  requireSelf(userId, id);
  if (!drop) return mine ? user : { ...user };
  const out = {};
  for (const k in user) {
    const value = user[k];
    const kind = KIND.get(k);
    if (value !== null && kind !== K_RESERVED && kind !== K_COMPUTED && kind !== K_REVOKE) put(out, k, value);
  }
  return out;
}

const teamsSet = (v) => new Set(Array.isArray(v) ? v.filter((t) => typeof t === "string") : []);
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
function sameJson(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => hasOwn(b, k) && sameJson(a[k], b[k]));
}

/** A checked input (`parseInput`) merged with the stored user (`old`, null if new); edits and returns `user`. */
function merge(old, user, ts, userId) {
  const id = user.id;
  if (old !== null) {
    gone(old, id);
    if (old.deactivated_at !== undefined && old.deactivated_at !== null) throw input(`user '${id}' was deactivated`);
  }
  if (userId !== null) {
    const oldRole = old !== null && typeof old.role === "string" ? old.role : "user";
    if (typeof user.role === "string" && user.role !== oldRole) throw notAllowed("user role can only be changed server-side");
    const given = teamsSet(user.teams);
    if (given.size > 0 && !sameSet(given, teamsSet(old?.teams))) throw notAllowed("user teams can only be updated server-side");
    if (user.teams_role !== undefined && !(old !== null && old.teams_role !== undefined && sameJson(user.teams_role, old.teams_role))) {
      throw notAllowed("user teams can only be updated server-side");
    }
    if (given.size === 0 && user.teams !== undefined) delete user.teams; // client-side `teams: []`: not changing teams
  }
  if (old !== null) {
    // Replaced wholesale, except that role and teams are kept when omitted; server state carried.
    if (user.role === undefined && old.role !== undefined) user.role = old.role;
    if (user.teams === undefined && old.teams !== undefined) user.teams = old.teams;
    if (user.teams_role === undefined && old.teams_role !== undefined) user.teams_role = old.teams_role;
    for (let i = 0; i < CARRIED.length; i++) {
      const v = old[CARRIED[i]];
      if (v !== undefined) user[CARRIED[i]] = v;
    }
  }
  finishServerState(user, ts);
  return user;
}

/** `mergeUpsert(stored, input, {caller, now})`, as the package's. */
export function mergeUpsert(stored, user, { caller, now } = {}) {
  if (stored !== null && stored !== undefined && !isObject(stored)) throw new TypeError("stored user must be an object, null or undefined");
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  const out = merge(stored ? plain(stored) : null, parseInput(null, isObject(user) ? plain(user) : user, userId, false), ts, userId);
  checkCustomSize(out, JSON.stringify(out), `users[${out.id}]`);
  return out;
}

/** `POST /users`' body checked and parsed: [id, new user's start] in the body's order. */
function parseUpsertBody(body, userId, mine) {
  const users = body.users;
  if (users === undefined || users === null) throw input("users is a required field");
  if (!isObject(users)) throw input("users must be an object keyed by user id");
  const ids = Object.keys(users);
  checkBatchLength(ids.length);
  const inputs = new Array(ids.length);
  for (let i = 0; i < ids.length; i++) inputs[i] = parseInput(ids[i], users[ids[i]], userId, mine);
  return inputs;
}

/**
 * `POST /users` in one call, as the package's `upsertUsers`: the body text and the stored users
 * (a Map of id → JSON text or object) in; `{body, users}` out, the response text and each user's
 * new record text by id. All or nothing.
 */
export function upsertUsers(bodyText, stored, { caller, now } = {}) {
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  const inputs = parseUpsertBody(requestBody(bodyText), userId, true);
  const parts = ['{"users":{'];
  const users = Object.create(null);
  for (let i = 0; i < inputs.length; i++) {
    const user = inputs[i];
    const id = user.id;
    const out = merge(record(stored.get(id)), user, ts, userId);
    const json = JSON.stringify(out);
    checkCustomSize(out, json, `users[${id}]`);
    users[id] = json;
    parts.push(i === 0 ? '"' : ',"', id, '":', json);
  }
  parts.push('},"membership_deletion_task_id":""}');
  return { body: parts.join(""), users };
}

// ------------------------------------------------------------------------------ in-memory store

/**
 * The lean JavaScript counterpart of the package's `UserStore` for the two batch writes: users
 * as objects in a Map (no JSON round trip for stored users), the username index (normalized
 * name → ids of the active users holding it) kept up to date, default app settings (unique
 * usernames off, so no uniqueness check; no lookalike skeletons). Writes are all or nothing.
 * The objects passed in become the store's (as a request body parsed for it would); stored
 * users are never edited in place. Each write returns the response body as text.
 */
export class MemoryStore {
  constructor() {
    this.users = new Map();
    this.names = new Map(); // normalized name → [id]
    this.heldBy = new Map(); // id → the normalized name it holds
  }

  /** `POST /users`: `users` an array or an `{id: user}` map. */
  upsertUsers(users, { caller, now } = {}) {
    const userId = checkCaller(caller);
    const ts = timestamp(now);
    let body = users;
    if (Array.isArray(users)) {
      body = {};
      for (const u of users) put(body, typeof u?.id === "string" ? u.id : "", u);
    }
    const inputs = parseUpsertBody({ users: body }, userId, true);
    const out = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) out[i] = merge(this.users.get(inputs[i].id) ?? null, inputs[i], ts, userId);
    return this.#commit(out, '},"membership_deletion_task_id":""}');
  }

  /** `PATCH /users` with `[{id, set, unset}]`. */
  partialUpdateUsers(updates, { caller, now } = {}) {
    const userId = checkCaller(caller);
    const ts = timestamp(now);
    const parsed = parsePartialBody({ users: updates }, userId);
    const out = new Array(parsed.length);
    for (let i = 0; i < parsed.length; i++) {
      const upd = parsed[i];
      const old = this.users.get(upd.id);
      if (old === undefined) throw input(`user '${upd.id}' does not exist`);
      out[i] = applyUpdate(old, upd, ts, userId, false);
    }
    return this.#commit(out, "}}");
  }

  /** Serializes and size-checks the batch's new users, then stores them and their names. */
  #commit(users, tail) {
    const parts = ['{"users":{'];
    for (let i = 0; i < users.length; i++) {
      const u = users[i];
      const json = JSON.stringify(u);
      checkCustomSize(u, json, `users[${u.id}]`);
      parts.push(i === 0 ? '"' : ',"', u.id, '":', json);
    }
    parts.push(tail);
    for (const u of users) {
      this.users.set(u.id, u);
      this.#index(u);
    }
    return parts.join("");
  }

  #index(user) {
    const id = user.id;
    const active = (user.deactivated_at === undefined || user.deactivated_at === null) && (user.deleted_at === undefined || user.deleted_at === null);
    const name = active && typeof user.name === "string" ? normalizeUsername(user.name) : "";
    const before = this.heldBy.get(id) ?? "";
    if (name === before) return;
    if (before !== "") {
      const ids = this.names.get(before).filter((x) => x !== id);
      if (ids.length === 0) this.names.delete(before);
      else this.names.set(before, ids);
      this.heldBy.delete(id);
    }
    if (name !== "") {
      const ids = this.names.get(name);
      if (ids === undefined) this.names.set(name, [id]);
      else ids.push(id);
      this.heldBy.set(id, name);
    }
  }
}
