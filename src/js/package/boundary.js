// The package's side of the boundary that runs in JavaScript (src/js/boundary.rs imports it): a
// batch's stored users read, its answer's users object built, and users keyed by their ids
// (UserStore.upsertUsers, mergeUpsert), in one call each, instead of one call from wasm per user
// and per member.

// How `stored` answers a user id (src/js/boundary.rs names the same numbers).
const MAP = 1;
const FUNCTION = 2;
const OBJECT = 3;

/**
 * The stored texts of `ids` (joined by "\n": ids hold no newline), in their order: each a
 * string, `null` for none (`undefined` or `null`), or `false` for anything else, where reading
 * stops. An object is stored as its JSON text.
 */
export function loadTexts(stored, kind, ids) {
  const list = ids.split("\n");
  const texts = new Array(list.length).fill(null);
  for (let i = 0; i < list.length; i++) {
    const id = list[i];
    let value;
    let text;
    try {
      if (kind === MAP) value = stored.get(id);
      else if (kind === FUNCTION) value = stored(id);
      else if (kind === OBJECT) value = Object.hasOwn(stored, id) ? stored[id] : undefined;
      text = value !== null && typeof value === "object" ? JSON.stringify(value) : value;
    } catch {
      text = undefined;
      value = false;
    }
    if (value === undefined || value === null) continue;
    if (typeof text !== "string") {
      texts[i] = false;
      break;
    }
    texts[i] = text;
  }
  return texts;
}

/**
 * `{body, users}` of a batch answer: `at` holds, for each user, three UTF-16 offsets into
 * `body` (where its id starts, where its record starts, where its record ends; the body holds
 * `"<id>":<record>`). `users` has no prototype: `__proto__` (a valid user id) is a member like
 * any other.
 */
export function batchAnswer(body, at) {
  const users = Object.create(null);
  for (let i = 0; i + 2 < at.length; i += 3) {
    users[body.substring(at[i], at[i + 1] - 2)] = body.substring(at[i + 1], at[i + 2]);
  }
  return { body, users };
}

// The longest run of users upsertMembers joins into one string: one string crosses into wasm
// for many small users, while large ones are not copied into one large string first.
const CHUNK = 16384;

/**
 * The members of `POST /users`'s `users` object for `UserStore.upsertUsers([...])` and
 * `mergeUpsert` (src/js/store.rs, src/js/mod.rs): each user as `"<id>":<user>` JSON text, keyed by its `id`, joined by
 * commas into runs of about CHUNK characters. A user without a string id goes under "", which
 * no valid id can take, so the core still sees it and refuses the batch. `undefined` when a user
 * cannot be serialized.
 */
export function upsertMembers(users) {
  const runs = [];
  let run = "";
  for (let i = 0; i < users.length; i++) {
    const user = users[i];
    let id;
    try {
      id = Reflect.get(user, "id");
    } catch {
      id = undefined;
    }
    let text;
    try {
      text = JSON.stringify(user);
    } catch {
      return undefined;
    }
    // As wasm reads a string: a lone surrogate becomes U+FFFD.
    const key = JSON.stringify(typeof id === "string" ? id.toWellFormed() : "");
    const member = key + ":" + (typeof text === "string" ? text : "null");
    if (run.length > 0 && run.length + member.length > CHUNK) {
      runs.push(run);
      run = member;
    } else {
      run = run.length > 0 ? run + "," + member : member;
    }
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
