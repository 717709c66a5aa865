// roster-users for Node (and Deno, Bun): reads the wasm next to this file and instantiates it
// synchronously, so the exports are ready as soon as the import resolves (no top-level await,
// which also lets Node >= 22.12 `require()` this module).
import { readFileSync } from "node:fs";
import { initSync } from "./roster.js";

initSync({ module: readFileSync(new URL("./roster_bg.wasm", import.meta.url)) });

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
