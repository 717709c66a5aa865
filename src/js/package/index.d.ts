// Type declarations for roster-users: Stream Chat's user semantics compiled from Rust to
// WebAssembly. Field names are Stream's (snake_case) because these objects are Stream's wire
// objects; function and method names are camelCase like stream-chat's.

/** Any value JSON can carry. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** An RFC 3339 UTC timestamp as Stream writes them: `2024-04-04T09:26:11.805899Z`. */
export type Timestamp = string;

/** One privacy toggle. */
export type PrivacySetting = { enabled?: boolean };

export type PrivacySettings = {
  typing_indicators?: PrivacySetting | null;
  read_receipts?: PrivacySetting | null;
  delivery_receipts?: PrivacySetting | null;
};

/**
 * A user as a writer sends it: Stream's built-in fields and any custom data (≤ 5 KiB as JSON).
 * Ids are 1–255 characters of `[A-Za-z0-9@_-]`.
 */
export type UserInput = {
  id: string;
  role?: string;
  name?: string;
  image?: string;
  teams?: string[];
  teams_role?: { [team: string]: string };
  language?: string;
  invisible?: boolean;
  privacy_settings?: PrivacySettings;
  [custom: string]: JsonValue | undefined;
};

/** A user as Roster returns it: the input plus the fields the server computes. */
export type UserResponse = UserInput & {
  role: string;
  teams: string[];
  created_at: Timestamp;
  updated_at: Timestamp;
  banned: boolean;
  online: boolean;
  last_active?: Timestamp;
  deactivated_at?: Timestamp;
  deleted_at?: Timestamp;
  revoke_tokens_issued_before?: Timestamp;
};

/** The connecting user as the first `health.check` frame describes it (`me`). */
export type OwnUserResponse = UserResponse & {
  online: true;
  last_active: Timestamp;
  devices: JsonValue[];
  mutes: JsonValue[];
  channel_mutes: JsonValue[];
  blocked_user_ids: string[];
  invisible: boolean;
  language: string;
  unread_count: number;
  total_unread_count: number;
  unread_channels: number;
  unread_threads: number;
};

/** One entry of a partial update: dotted paths to set and to unset. */
export type PartialUserUpdate = {
  id: string;
  set?: { [path: string]: JsonValue };
  unset?: string[];
};

/** The server (a server token's `{server: true}`): may act on any user. */
export type ServerCaller = { server: true };
/** A user (a user token's `{user_id}`): may act on that user only. */
export type UserCaller = { user_id: string };
/** Who performs an operation. `verifyToken`'s result is a valid caller. */
export type Caller = ServerCaller | UserCaller;

/** A point in time: a `Date`, milliseconds since the epoch, or an RFC 3339 string. */
export type TimeInput = Date | number | string;

/** The last argument of every write. */
export type CallOptions = {
  /** Who performs the operation; the server by default. */
  caller?: Caller;
  /** The operation's time, for `created_at`, `updated_at`, …; `Date.now()` by default. */
  now?: TimeInput;
};

/** The claims `createToken` signs: a server token, or a user token with optional times (seconds). */
export type TokenClaimsInput = ServerCaller | (UserCaller & { exp?: number; iat?: number });

/** Verified claims: who the token speaks for, and its `iat`/`exp` in seconds when present. */
export type TokenClaims = (ServerCaller | UserCaller) & { iat?: number; exp?: number };

export type VerifyTokenOptions = {
  /** The time to check `exp`, `nbf` and `iat` against; `Date.now()` by default. */
  now?: TimeInput;
  /**
   * App settings whose auth policy applies (`disable_auth_checks`, app-wide
   * `revoke_tokens_issued_before`), e.g. `store.getAppSettings().app`.
   */
  settings?: AppSettingsInput;
};

export type UniqueUsernames = "no" | "app" | "team";

/** Settings `updateAppSettings` accepts: the ones Roster acts on are validated, others are kept as sent. */
export type AppSettingsInput = {
  enforce_unique_usernames?: UniqueUsernames;
  disable_auth_checks?: boolean;
  disable_permissions_checks?: boolean;
  multi_tenant_enabled?: boolean;
  revoke_tokens_issued_before?: Timestamp | null;
  /** Roster's own: `connectUser` only fills fields the stored user lacks (no profile rollback). */
  roster_connect_fill_only?: boolean;
  /** Roster's own: with unique usernames on, lookalike names (UTS #39 skeletons) collide too. */
  roster_username_skeletons?: boolean;
  [setting: string]: JsonValue | undefined;
};

/** The app as `GET /app` returns it: every setting, with defaults for those never set. */
export type AppSettings = {
  name: string;
  organization: string;
  suspended: boolean;
  enforce_unique_usernames: UniqueUsernames;
  disable_auth_checks: boolean;
  disable_permissions_checks: boolean;
  multi_tenant_enabled: boolean;
  permission_version: string;
  revoke_tokens_issued_before: Timestamp | null;
  [setting: string]: JsonValue;
};

type Scalar = string | number | boolean | null;

/** A condition on one field: a value (equality) or operators. */
export type FieldCondition =
  | Scalar
  | {
      $eq?: JsonValue;
      $ne?: JsonValue;
      $in?: JsonValue[];
      $nin?: JsonValue[];
      $gt?: Scalar;
      $gte?: Scalar;
      $lt?: Scalar;
      $lte?: Scalar;
      $exists?: boolean;
      $autocomplete?: string;
      $contains?: JsonValue;
    };

/** `filter_conditions` of a user query. */
export type UserFilter = {
  $and?: UserFilter[];
  $or?: UserFilter[];
  $nor?: UserFilter[];
  [field: string]: FieldCondition | UserFilter[] | undefined;
};

/** One sort key; `direction` is 1 (ascending, the default) or -1. */
export type SortParam = { field: string; direction?: 1 | -1 };

export type QueryUsersOptions = {
  /** Who queries; the server by default. A user sees only what a user token sees (its tenants in
   * a multi-tenant app, no `roster_hidden_fields`). */
  caller?: Caller;
  /** At most 100; 30 by default. */
  limit?: number;
  /** At most 1000. */
  offset?: number;
  include_deactivated_users?: boolean;
  presence?: boolean;
  id_gt?: string;
  id_gte?: string;
  id_lt?: string;
  id_lte?: string;
  /** Roster's own: a cursor from a previous page's `next` (or `prev`), with the same filter and
   * sort; not with `offset`. */
  next?: string;
  prev?: string;
};

export type DeactivateUserParams = { mark_messages_deleted?: boolean; mark_channels_deleted?: boolean; created_by_id?: string };
export type ReactivateUserParams = { name?: string; restore_messages?: boolean; created_by_id?: string };
export type DeleteUserParams = { hard_delete?: boolean; mark_messages_deleted?: boolean; delete_conversation_channels?: boolean };

export type UpsertUsersResponse = { users: { [id: string]: UserResponse }; membership_deletion_task_id: string };
export type PartialUpdateUsersResponse = { users: { [id: string]: UserResponse } };
/** `next`/`prev`: keyset cursors (Roster's own) when the sort is on indexed fields only
 * (`created_at`, `updated_at`, `last_active`, `id`; the default); absent at either end. */
export type QueryUsersResponse = { users: UserResponse[]; next?: string; prev?: string };
export type GetAppSettingsResponse = { app: AppSettings };
export type UserLifecycleResponse = { user: UserResponse };
/** `updateAppSettings` and `restoreUsers` answer with an empty object, as Stream does (minus `duration`). */
export type EmptyResponse = { [key: string]: never };

/** Stream's operation names, the prefix of every error message. */
export type Operation =
  | "UpdateUsers"
  | "UpdateUsersPartial"
  | "QueryUsers"
  | "GetApp"
  | "UpdateApp"
  | "Connect"
  | "DeactivateUser"
  | "ReactivateUser"
  | "DeleteUser"
  | "RestoreUsers"
  | "Request";

/**
 * What every failed operation throws: an `Error` carrying Stream's error envelope.
 * `message` is `<Operation> failed with error: "<reason>"`.
 */
export interface RosterError extends Error {
  name: "RosterError";
  /** Stream's error code: 4 input, 5 auth, 6 duplicate username, 16 not found, 17 not allowed, 22 too big, 40 token expired, 43 bad signature, … */
  code: number;
  /** The HTTP status the Worker answers with. */
  StatusCode: number;
  more_info: string;
  details: JsonValue[];
  /** For a field error: the offending field and its own message. */
  exception_fields?: { [field: string]: string };
}

/** Whether `error` is a `RosterError` (thrown by an operation), for `catch (e: unknown)`. */
export function isRosterError(error: unknown): error is RosterError;

/** The form unique usernames are compared in: letters and digits only, lowercased ("John Doe" → "johndoe"). */
export function normalizeUsername(name: string): string;

/** Applies one `{id, set, unset}` entry to a stored user with `PATCH /users`' rules; returns the new user. */
export function applyPartialUpdate(user: UserInput, update: PartialUserUpdate, options?: CallOptions): UserResponse;

/** What `POST /users` makes of `input` given the stored user (`null` if new); returns the new user. */
export function mergeUpsert(stored: UserInput | null | undefined, input: UserInput, options?: CallOptions): UserResponse;

/**
 * The stored users of a batch, looked up by id: a `Map` or a plain object of id → record (its own
 * members only), or a function of the id. A record is JSON text (as a KV store or database holds
 * it) or an object; `undefined` or `null` means not stored. Each id of the batch is looked up
 * once, in id order, all in one call from wasm; any other value (or a lookup that throws) refuses
 * the batch with that id, and the ids after it are not looked up.
 */
export type StoredUsers =
  | Map<string, string | UserResponse | null | undefined>
  | { [id: string]: string | UserResponse | null | undefined }
  | ((id: string) => string | UserResponse | null | undefined);

/**
 * What a batch write returns, as text: `body`, the response body (`POST /users` or
 * `PATCH /users`, without `duration`), and `users`, each changed user's new record by id — the
 * JSON text to store, also the user as the response shows it. `users` has no prototype, so every
 * id, `__proto__` included, is an own member.
 */
export type BatchWritten = { body: string; users: { [id: string]: string } };

/**
 * `POST /users` in one call: `body` is the request body as JSON text (`{"users": {id: user}}`),
 * `stored` the batch's stored users. Same rules, errors and merge as the endpoint (all or
 * nothing), without unique usernames (those need the username index: use `UserStore`).
 * Faster than `mergeUpsert` per user: text in, text out, custom data never parsed.
 */
export function upsertUsers(body: string, stored: StoredUsers | null | undefined, options?: CallOptions): BatchWritten;

/**
 * `PATCH /users` in one call: `body` is the request body as JSON text
 * (`{"users": [{id, set, unset}]}`). Every user must be stored. Same rules and errors as the
 * endpoint (all or nothing, default app settings), without unique usernames.
 */
export function partialUpdateUsers(body: string, stored: StoredUsers | null | undefined, options?: CallOptions): BatchWritten;

/** `normalizeUsername` for many names: a JSON array of strings in, the JSON array of their normalized forms out. */
export function normalizeUsernames(names: string): string;

/** Throws the `RosterError` `POST /users` would give for this user on its own; returns nothing if valid. */
export function validateUser(user: UserInput): void;

/** Signs an HS256 JWT with `secret`, as Stream's server SDKs do. */
export function createToken(secret: string, claims: TokenClaimsInput): string;

/** Verifies a token (HS256, signature, `exp`, `nbf`, `iat`, the settings' auth policy); throws a `RosterError` with code 5, 40–43 if invalid. */
export function verifyToken(token: string, secret: string, options?: VerifyTokenOptions): TokenClaims;

/**
 * Users, the username index and app settings in memory, with the Worker's semantics and errors.
 * Methods take what the stream-chat SDK calls take and return the endpoint's body without `duration`.
 */
export class UserStore {
  constructor();
  /** `POST /users`: creates or replaces users, all or nothing. Takes an array or an `{id: user}` map. */
  upsertUsers(users: UserInput[] | { [id: string]: UserInput }, options?: CallOptions): UpsertUsersResponse;
  /** `PATCH /users`: `set`/`unset` on dotted paths, all or nothing. */
  partialUpdateUsers(updates: PartialUserUpdate[], options?: CallOptions): PartialUpdateUsersResponse;
  /** Client-side connect: creates the user or merges the fields given; returns `me`. */
  connectUser(user: UserInput, options?: CallOptions): OwnUserResponse;
  /** `GET /users`: filter, sort and paginate. */
  queryUsers(filter?: UserFilter, sort?: SortParam[], options?: QueryUsersOptions): QueryUsersResponse;
  /** `GET /app`. */
  getAppSettings(): GetAppSettingsResponse;
  /** `PATCH /app` (server only). */
  updateAppSettings(settings: AppSettingsInput, options?: CallOptions): EmptyResponse;
  /** `POST /users/{id}/deactivate` (server only): frees the user's name; blocks connect and upsert. */
  deactivateUser(id: string, params?: DeactivateUserParams, options?: CallOptions): UserLifecycleResponse;
  /** `POST /users/{id}/reactivate` (server only), optionally renaming. */
  reactivateUser(id: string, params?: ReactivateUserParams, options?: CallOptions): UserLifecycleResponse;
  /** `DELETE /users/{id}` (server only): soft unless `hard_delete`. */
  deleteUser(id: string, params?: DeleteUserParams, options?: CallOptions): UserLifecycleResponse;
  /** `POST /users/restore` (server only): brings soft-deleted users back. */
  restoreUsers(userIds: string[], options?: CallOptions): EmptyResponse;
  /** Verifies a token under this app's auth policy and the user's own `revoke_tokens_issued_before`. */
  verifyToken(token: string, secret: string, options?: { now?: TimeInput }): TokenClaims;
  /** Releases the wasm memory now instead of at garbage collection. */
  free(): void;
}
