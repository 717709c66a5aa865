// roster-users for browsers and bundlers (and the `default` condition): fetches the wasm next
// to this file (bundlers see `new URL(…, import.meta.url)` and emit it as an asset) and waits
// for it with top-level await, so the exports are ready as soon as the import resolves.
import init from "./roster.js";

await init({ module_or_path: new URL("./roster_bg.wasm", import.meta.url) });

export {
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
} from "./roster.js";
