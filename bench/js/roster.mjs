// A plain-JavaScript implementation of three of Roster's core operations, written by hand for
// the benchmark (bench/core.mjs) as the baseline the wasm core is compared with. Same semantics
// as src/core on the same inputs: Unicode username normalization, a partial update with
// `set`/`unset` on dotted paths (same validation), and the upsert merge (keeps `created_at`,
// `role`, `teams`; replaces custom data). Written as a careful JavaScript author would: path
// copying instead of deep clones, no prototype pollution through `__proto__` keys.
//
// Known, benign differences (none occur in the bench inputs, which are checked to agree):
// error messages are shorter; when several fields are invalid, the first one reported may
// differ; the 5 KiB custom-data size counts JavaScript's JSON (serde_json writes `1.0` where
// JavaScript writes `1`).

const RESERVED = new Set(["created_at", "updated_at", "last_active", "online"]);
const HARD_DELETED = "__hard_deleted";
const SERVER_COMPUTED = [
  "banned", "shadow_banned", "ban_expires", "devices", "mutes", "channel_mutes", "blocked_user_ids",
  "unread_count", "total_unread_count", "unread_channels", "unread_threads", "total_unread_count_by_team",
  "latest_hidden_channels", "avg_response_time", "push_preferences", "deactivated_at", "deleted_at",
  "last_engaged_at", "revoke_tokens_issued_before", "bypass_moderation", "created_by_id",
];
const SERVER_COMPUTED_SET = new Set([...SERVER_COMPUTED, HARD_DELETED]);
const CARRIED = [...SERVER_COMPUTED, "created_at", "last_active", "updated_at"];
const SETTABLE = new Set(["id", "role", "name", "image", "teams", "teams_role", "language", "invisible", "privacy_settings"]);
const PRIVACY_KEYS = new Set(["typing_indicators", "read_receipts", "delivery_receipts"]);
const MAX_NESTING = 64;
const MAX_CUSTOM_BYTES = 5 * 1024;
const MAX_TEAMS = 250;
const MAX_TEAM_NAME_BYTES = 100;
const ID = /^[A-Za-z0-9@_-]{1,255}$/;
// Rust's char::is_whitespace is Unicode White_Space (JavaScript's \s differs by U+0085, U+FEFF).
const WHITESPACE = /\p{White_Space}/u;
// Rust's char::is_alphanumeric is Alphabetic or Numeric (Nd, Nl, No).
const NOT_ALPHANUMERIC = /[^\p{Alphabetic}\p{N}]+/gu;
const CAPITAL_SIGMA = /\u03A3/g;

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

const has = Object.hasOwn;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
/** obj[key] = value, also for the key "__proto__" (a plain assignment would set the prototype). */
function put(obj, key, value) {
  if (key === "__proto__") Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}
const get = (obj, key) => (has(obj, key) ? obj[key] : undefined);
/** A shallow copy that keeps a "__proto__" own property as an own property. */
const copy = (obj) => ({ ...obj });

// ------------------------------------------------------------------------------ usernames

/**
 * Lowercase (each character on its own, as Rust's char::to_lowercase: no final-sigma rule),
 * then keep letters and digits.
 */
export function normalizeUsername(name) {
  if (typeof name !== "string") throw new TypeError("name must be a string");
  return name.replace(CAPITAL_SIGMA, "\u03C3").toLowerCase().replace(NOT_ALPHANUMERIC, "");
}

// ------------------------------------------------------------------------------ time

/** `now` (a Date, milliseconds, or nothing) as Stream writes timestamps: microsecond precision. */
function timestamp(now) {
  const ms = now === undefined ? Date.now() : now instanceof Date ? now.getTime() : now;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new TypeError("now must be a Date or milliseconds");
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ for years 0..9999
  return `${iso.slice(0, 23)}000Z`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;
function isTimestamp(s) {
  const m = RFC3339.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (!days || d < 1 || d > days || h > 23 || mi > 59 || sec > 60) return false;
  return m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59);
}

// ------------------------------------------------------------------------------ validation

function validateId(id) {
  if (!ID.test(id)) throw input(id === "" ? "user id is a required field and cannot be empty" : `user id '${id}' is invalid`);
}

function idOf(obj) {
  const id = get(obj, "id");
  if (id === undefined || id === null) throw input("user id is a required field");
  if (typeof id !== "string") throw input("user id must be a string");
  validateId(id);
  return id;
}

/** Levels of arrays and objects below `value`, counting only as deep as `limit`. */
function depth(value, limit) {
  if (value === null || typeof value !== "object") return 0;
  if (limit === 0) return 1;
  let deepest = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (v !== null && typeof v === "object") {
      const d = depth(v, limit - 1);
      if (d > deepest) deepest = d;
      if (deepest >= limit) break;
    }
  }
  return 1 + deepest;
}

function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c >= 0x800 && (c < 0xd800 || c > 0xdfff) ? 2 : 1; // a surrogate pair: 2 + 2
  }
  return n;
}

const isCustom = (k) => !SETTABLE.has(k) && !RESERVED.has(k) && !SERVER_COMPUTED_SET.has(k);

function customDataSize(user) {
  let size = 2;
  let first = true;
  for (const k in user) {
    if (!has(user, k) || !isCustom(k)) continue;
    if (!first) size += 1;
    first = false;
    size += utf8Length(JSON.stringify(k)) + 1 + utf8Length(JSON.stringify(user[k]));
  }
  return size;
}

/** The types and limits of the built-in fields present, nesting, and custom data ≤ 5 KiB. */
function validateFields(user, label) {
  const bad = (field, what) => input(`${label}.${field} ${what}`);
  for (const key in user) {
    if (!has(user, key)) continue;
    const value = user[key];
    if (1 + depth(value, MAX_NESTING) > MAX_NESTING) throw bad(key, "is nested too deeply");
    switch (key) {
      case "role":
        if (typeof value !== "string" || value === "" || utf8Length(value) > 64) throw bad(key, "must be a non-empty string");
        break;
      case "name":
      case "image":
      case "language":
        if (typeof value !== "string") throw bad(key, "must be a string");
        break;
      case "invisible":
        if (typeof value !== "boolean") throw bad(key, "must be a boolean");
        break;
      case "teams":
        if (!Array.isArray(value)) throw bad(key, "must be an array of strings");
        if (value.length > MAX_TEAMS) throw bad(key, `has more than ${MAX_TEAMS} teams`);
        for (const t of value) {
          if (typeof t !== "string") throw bad(key, "must be an array of strings");
          if (t === "" || utf8Length(t) > MAX_TEAM_NAME_BYTES) throw bad(key, "names must be 1 to 100 bytes long");
        }
        break;
      case "teams_role":
        if (!isObject(value) || !Object.values(value).every((r) => typeof r === "string")) {
          throw bad(key, "must be an object of team name to role");
        }
        break;
      case "privacy_settings":
        if (!isObject(value)) throw bad(key, "must be an object");
        for (const k in value) {
          if (!has(value, k)) continue;
          if (!PRIVACY_KEYS.has(k)) throw bad(`${key}.${k}`, "is not a privacy setting");
          const v = value[k];
          const ok = v === null || (isObject(v) && (!has(v, "enabled") || typeof v.enabled === "boolean"));
          if (!ok) throw bad(`${key}.${k}`, 'must be {"enabled": bool}');
        }
        break;
      case "revoke_tokens_issued_before":
        if (value !== null && !(typeof value === "string" && isTimestamp(value))) {
          throw bad(key, "must be an RFC 3339 timestamp or null");
        }
        break;
      default:
    }
  }
  const size = customDataSize(user);
  if (size > MAX_CUSTOM_BYTES) throw new BaselineError(22, 413, `${label} custom data is ${size} bytes`);
}

// ------------------------------------------------------------------------------ shared steps

function checkCaller(caller) {
  if (caller === undefined || caller === null || caller.server === true) return null;
  if (typeof caller.user_id === "string" && caller.user_id !== "") return caller.user_id;
  throw new TypeError("caller must be {server: true} or {user_id: string}");
}

function requireSelf(userId, target) {
  if (userId !== null && userId !== target) {
    throw notAllowed(`User '${userId}' is not allowed to change user '${target}'`);
  }
}

function gone(user, id) {
  if (!user) return;
  if (has(user, HARD_DELETED)) throw input(`user '${id}' was deleted and its id cannot be used again`);
  if (user.deleted_at !== undefined && user.deleted_at !== null && has(user, "deleted_at")) {
    throw input(`user '${id}' was deleted; restore it before changing it`);
  }
}

const isDeactivated = (u) => has(u, "deactivated_at") && u.deactivated_at !== null;

/** Server-computed state comes from the stored user; defaults and timestamps are filled in. */
function carryServerState(old, user, ts) {
  if (old) {
    for (const f of CARRIED) {
      if (has(old, f)) user[f] = old[f];
      else if (has(user, f)) delete user[f];
    }
  }
  if (!has(user, "created_at")) user.created_at = ts;
  if (!has(user, "role")) user.role = "user";
  if (!has(user, "teams")) user.teams = [];
  if (!has(user, "banned")) user.banned = false;
  user.online = false;
  user.updated_at = ts;
}

// ------------------------------------------------------------------------------ partial update

function parsePath(raw) {
  const segments = raw.split(".");
  if (segments.length > MAX_NESTING) throw input(`field name '${raw.slice(0, 64)}…' has more than ${MAX_NESTING} segments`);
  if (raw === "" || segments.some((s) => s === "" || WHITESPACE.test(s))) {
    throw input(`field name '${raw}' is invalid: it should not contain spaces or empty segments`);
  }
  return segments;
}

function checkWritable(segments, label) {
  const top = segments[0];
  if (RESERVED.has(top)) throw input(`${label}.${top} is a reserved field`);
  if (top === "id") throw input("user id cannot be changed");
  if (top === "deactivated_at" || top === "deleted_at" || top === HARD_DELETED) {
    throw input(`${label}.${top} can only be changed by deactivating, deleting or restoring the user`);
  }
}

const overlaps = (a, b) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
};

function parseUpdate(entry) {
  if (!isObject(entry)) throw input("each partial update must be an object with id, set and unset");
  const id = idOf(entry);
  for (const key in entry) {
    if (has(entry, key) && key !== "id" && key !== "set" && key !== "unset") throw input(`unknown field '${key}' in partial update`);
  }
  const set = [];
  const rawSet = get(entry, "set");
  if (rawSet !== undefined && rawSet !== null) {
    if (!isObject(rawSet)) throw input("set must be an object");
    // Applied in key order (serde_json's maps are sorted), which decides overlapping paths.
    for (const raw of Object.keys(rawSet).sort()) set.push([raw, parsePath(raw), rawSet[raw]]);
  }
  const unset = [];
  const rawUnset = get(entry, "unset");
  if (rawUnset !== undefined && rawUnset !== null) {
    if (!Array.isArray(rawUnset)) throw input("unset must be an array of field names");
    for (const raw of rawUnset) {
      if (typeof raw !== "string") throw input("unset must be an array of field names");
      unset.push([raw, parsePath(raw)]);
    }
  }
  const label = `users[${id}]`;
  for (const [, segments] of set) checkWritable(segments, label);
  for (const [, segments] of unset) checkWritable(segments, label);
  for (const [raw, segments] of set) {
    const clash = unset.find(([, u]) => overlaps(u, segments));
    if (clash) throw input(`cannot set and unset the same field or a field and its parent: '${raw}' and '${clash[0]}'`);
  }
  return { id, set, unset };
}

function touches(upd, top) {
  return upd.set.some(([, s]) => s[0] === top) || upd.unset.some(([, s]) => s[0] === top);
}

/** Removes a path from `obj` (already a private copy), copying the objects it walks into. */
function unsetPath(obj, segments) {
  let cur = obj;
  for (let i = 0; i < segments.length - 1; i++) {
    const child = get(cur, segments[i]);
    if (!isObject(child)) return;
    const mine = copy(child);
    put(cur, segments[i], mine);
    cur = mine;
  }
  delete cur[segments[segments.length - 1]];
}

/** Sets a path in `obj` (already a private copy), creating parents and copying the ones it walks into. */
function setPath(obj, raw, segments, value) {
  let cur = obj;
  const last = segments.length - 1;
  for (let i = 0; i < last; i++) {
    const child = get(cur, segments[i]);
    let mine;
    if (child === undefined || child === null) mine = {};
    else if (isObject(child)) mine = copy(child);
    else throw input(`cannot set '${raw}': '${segments.slice(0, i + 1).join(".")}' is not an object`);
    put(cur, segments[i], mine);
    cur = mine;
  }
  const key = segments[last];
  if (last === 0 && key === "privacy_settings" && isObject(value) && isObject(get(cur, key))) {
    const merged = copy(cur[key]);
    for (const k in value) if (has(value, k)) put(merged, k, value[k]);
    cur[key] = merged;
    return;
  }
  put(cur, key, value);
}

/** `applyPartialUpdate(user, {id, set, unset}, {caller, now})`, as the package's. */
export function applyPartialUpdate(user, update, { caller, now } = {}) {
  if (!isObject(user)) throw new TypeError("user must be an object");
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  const upd = parseUpdate(update);
  requireSelf(userId, upd.id);
  if (userId !== null) {
    if (touches(upd, "role")) throw notAllowed("user role can only be changed server-side");
    if (touches(upd, "teams") || touches(upd, "teams_role")) throw notAllowed("user teams can only be updated server-side");
  }
  gone(user, upd.id);
  const out = copy(user);
  for (const [raw, segments] of upd.unset) {
    unsetPath(out, segments);
    if (raw === "role") out.role = "user";
    else if (raw === "teams") out.teams = [];
  }
  for (const [raw, segments, value] of upd.set) setPath(out, raw, segments, value);
  const revoke = get(out, "revoke_tokens_issued_before");
  carryServerState(user, out, ts);
  if (revoke === undefined || revoke === null) delete out.revoke_tokens_issued_before;
  else out.revoke_tokens_issued_before = revoke;
  validateFields(out, `users[${upd.id}]`);
  return out;
}

// ------------------------------------------------------------------------------ upsert merge

const teamsSet = (v) => new Set(Array.isArray(v) ? v.filter((t) => typeof t === "string") : []);
const sameSet = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));

function sameJson(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => has(b, k) && sameJson(a[k], b[k]));
}

/** `mergeUpsert(stored, input, {caller, now})`, as the package's. */
export function mergeUpsert(stored, user, { caller, now } = {}) {
  if (stored !== null && stored !== undefined && !isObject(stored)) throw new TypeError("stored user must be an object, null or undefined");
  const old = stored ?? null;
  const userId = checkCaller(caller);
  const ts = timestamp(now);
  if (!isObject(user)) throw input("users[] must be an object");
  const id = idOf(user);
  const label = `users[${id}]`;
  // Null means "not given"; server-computed fields are ignored; reserved ones are refused.
  const merged = {};
  for (const k in user) {
    if (!has(user, k)) continue;
    if (RESERVED.has(k)) throw input(`${label}.${k} is a reserved field`);
    const v = user[k];
    if (v !== null && !SERVER_COMPUTED_SET.has(k)) put(merged, k, v);
  }
  validateFields(merged, label);
  requireSelf(userId, id);
  gone(old, id);
  if (old && isDeactivated(old)) throw input(`user '${id}' was deactivated`);
  if (userId !== null) {
    const oldRole = old && typeof old.role === "string" ? old.role : "user";
    if (typeof merged.role === "string" && merged.role !== oldRole) throw notAllowed("user role can only be changed server-side");
    const given = teamsSet(merged.teams);
    if (given.size > 0 && !sameSet(given, teamsSet(old?.teams))) throw notAllowed("user teams can only be updated server-side");
    if (has(merged, "teams_role") && !(old && has(old, "teams_role") && sameJson(merged.teams_role, old.teams_role))) {
      throw notAllowed("user teams can only be updated server-side");
    }
    if (teamsSet(merged.teams).size === 0) delete merged.teams; // client-side `teams: []`: not changing teams
  }
  if (old) {
    // Replaced wholesale, except that role and teams are kept when omitted.
    for (const keep of ["role", "teams", "teams_role"]) {
      if (!has(merged, keep) && has(old, keep)) merged[keep] = old[keep];
    }
  }
  carryServerState(old, merged, ts);
  return merged;
}
