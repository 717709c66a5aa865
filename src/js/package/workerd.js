// roster-users for Cloudflare Workers (workerd): wrangler and Miniflare import a `.wasm` file as
// a compiled WebAssembly.Module, which instantiates synchronously at module scope.
import module from "./roster_bg.wasm";
import { initSync } from "./roster.js";

initSync({ module });

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
