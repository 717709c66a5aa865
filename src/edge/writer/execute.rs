//! Running one command: authorization that needs state, the core's operation through the one
//! driver, the commit, and the versions attached to answers that return users.

use super::*;

/// The request body as JSON: `null` when empty or blank.
pub(super) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    json::parse_slice(body).map_err(ApiError::invalid_body)
}

/// The checks that need state: `disable_auth_checks` for an unsigned token, the app's and the
/// caller's own revocation cut-offs. Returns the snapshot to start from (holding the caller's
/// record, read for its cut-off) and the loader that read it.
pub(super) fn authorize<'a>(
    db: &'a Db,
    cmd: &Command,
    settings: &AppSettings,
) -> Result<(Snapshot, SqlLoader<'a>), ApiError> {
    if cmd.unsigned && !settings.disable_auth_checks() {
        return Err(ApiError::new(code::TOKEN_SIGNATURE, 401, "Token signature is invalid"));
    }
    auth::check_user_revocation(&cmd.claims, settings.revoke_tokens_issued_before())?;
    let mut loader = SqlLoader { db, before: Vec::new() };
    let mut snap = Snapshot::new(settings.clone());
    if let Caller::User(id) = &cmd.claims.caller {
        drive::load(&mut loader, &mut snap, &Need { users: vec![id.clone()], names: Vec::new() })?;
        auth::check_user_revocation(&cmd.claims, snap.stored(id).and_then(user::revocation_cutoff))?;
    }
    Ok((snap, loader))
}

/// What a command answers: the body, the status, and what to tell connections and webhooks.
pub(super) type Answer = (Value, u16, Option<Publish>);

/// One command's inputs, as every step of [`execute`] reads them.
struct Ctx<'a> {
    db: &'a Db,
    cmd: &'a Command,
    settings: &'a AppSettings,
    body: &'a Value,
    at: Timestamp,
}

/// Runs one command: read, decide, commit. Synchronous from start to end.
pub(super) fn execute(
    db: &Db,
    cmd: &Command,
    settings: &AppSettings,
    body: &[u8],
    at: Timestamp,
    presence: &dyn Presence,
) -> Result<Answer, OpError> {
    let op = cmd.route.op();
    let fail = |error| OpError { op, error };
    let (mut snap, mut loader) = authorize(db, cmd, settings).map_err(fail)?;
    let raw = body;
    let (body, as_sent) = request_body(db, cmd, raw).map_err(fail)?;
    let ctx = Ctx { db, cmd, settings, body: &body, at };
    if let Some(answer) = answer_without_driver(&ctx, &snap, presence).map_err(fail)? {
        return Ok(answer);
    }
    if matches!(cmd.route, Route::Upsert | Route::Partial) {
        // The record path reads the body as sent, unless reading it changed it.
        let text = match (as_sent, std::str::from_utf8(raw)) {
            (true, Ok(text)) => std::borrow::Cow::Borrowed(text),
            _ => std::borrow::Cow::Owned(json::text(&body)),
        };
        let w = records::BatchWrite {
            db,
            op,
            upsert: matches!(cmd.route, Route::Upsert),
            caller: &cmd.claims.caller,
            settings,
            at,
        };
        let commit = records::write(&w, &text, &mut snap, &mut loader)?;
        return Ok((commit.response, commit.status, Some(Publish::Users(UserChange::Updated, commit.users))));
    }
    let operation = driven_operation(&ctx).map_err(fail)?;
    let commit = drive::drive(&mut loader, &mut snap, op, &*operation)?;
    store::commit(db, &commit, &loader.before, &[], at).map_err(fail)?;
    let change = match cmd.route {
        Route::Deactivate(_) => UserChange::Deactivated,
        Route::Reactivate(_) => UserChange::Reactivated,
        Route::Delete(_) => UserChange::Deleted,
        _ => UserChange::Updated,
    };
    Ok((commit.response, commit.status, Some(Publish::Users(change, commit.users))))
}

/// The body as the operation reads it: parsed, `/api/v2`'s shapes brought in, and the
/// preconditions of an upsert or partial update checked (with no await before the commit: two
/// writers expecting one version cannot both pass) and taken out. With whether it is the body as
/// sent: not blank, neither reshaped nor holding a precondition.
fn request_body(db: &Db, cmd: &Command, raw: &[u8]) -> Result<(Value, bool), ApiError> {
    let mut body = parse_body(raw)?;
    let as_sent = !cmd.v2 && !body.is_null() && body.get(precondition::BODY_KEY).is_none();
    if cmd.v2 {
        body = v2::body_in(&body);
        body = match cmd.route {
            Route::Upsert => v2::upsert_in(&body)?,
            Route::Partial => v2::partial_in(&body)?,
            _ => body,
        };
    } else if let (Route::Upsert | Route::Partial, Some(name)) = (&cmd.route, v2::v1_names_shadowed(&body)) {
        return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
    }
    if matches!(cmd.route, Route::Upsert | Route::Partial) {
        let ids = batch_ids(&body);
        let expected = precondition::take(&mut body, cmd.if_match.as_deref(), &ids)?;
        if !expected.is_empty() {
            let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
            precondition::check(&expected, &store::versions(db, &ids)?)?;
        }
    }
    Ok((body, as_sent))
}

/// The commands that do not run a core operation through the driver: reads, settings, tasks,
/// custom events. `None` for the ones that do.
fn answer_without_driver(ctx: &Ctx<'_>, snap: &Snapshot, presence: &dyn Presence) -> Result<Option<Answer>, ApiError> {
    let (db, caller) = (ctx.db, &ctx.cmd.claims.caller);
    let answer = match &ctx.cmd.route {
        Route::GetApp => (ops::get_app(ctx.settings), 200, None),
        Route::Query => (query_users(ctx, snap, presence)?, 200, None),
        Route::UpdateApp => (update_app(ctx)?, 200, None),
        Route::DeleteUsers | Route::DeactivateUsers | Route::ReactivateUsers | Route::ExportUsers => start_task(ctx)?,
        Route::Changes => {
            ops::require_server(caller, "GetUserChanges")?;
            let params = json::parse(ctx.cmd.payload.as_deref().unwrap_or("{}")).unwrap_or(Value::Null);
            let param = |name: &str| params.get(name).and_then(Value::as_str);
            let req = feed::request(param("since"), param("limit"), store::current_seq(db)?)?;
            (feed::page(&req, &store::changes(db, &req.since, req.limit)?), 200, None)
        }
        Route::GetTask(id) => {
            ops::require_server(caller, "GetTask")?;
            let task = store::load_task(db, id)?.ok_or_else(|| tasks::unknown_task(id))?;
            (task.state().view(), 200, None)
        }
        Route::ExportUser(id) => {
            tasks::check_export(caller)?;
            user::validate_id(id)?;
            (export(db, id)?, 200, None)
        }
        Route::SendEvent(id) => send_event(ctx, id)?,
        Route::Connect | Route::Guest | Route::RateLimits | Route::Stats | Route::Test(_) | Route::NotFound => {
            return Err(ApiError::route_not_found())
        }
        Route::Upsert
        | Route::Partial
        | Route::Deactivate(_)
        | Route::Reactivate(_)
        | Route::Delete(_)
        | Route::Restore => return Ok(None),
    };
    Ok(Some(answer))
}

/// The core operation a write runs through the driver (a batch is parsed once here, not in
/// every round of the load loop: the first round would fail alike).
fn driven_operation<'a>(ctx: &Ctx<'a>) -> Result<Box<OpFn<'a>>, ApiError> {
    let (body, caller, at) = (ctx.body, &ctx.cmd.claims.caller, ctx.at);
    Ok(match &ctx.cmd.route {
        Route::Deactivate(id) => Box::new(move |s| ops::deactivate_user(id, body, caller, at, s)),
        Route::Reactivate(id) => Box::new(move |s| ops::reactivate_user(id, body, caller, at, s)),
        Route::Delete(id) => {
            let hard = ctx.cmd.hard;
            Box::new(move |s| ops::delete_user(id, hard, caller, at, s))
        }
        Route::Restore => Box::new(move |s| ops::restore_users(body, caller, at, s)),
        _ => return Err(ApiError::route_not_found()),
    })
}

/// `GET /users`: one page (keyset cursors when the sort allows), `presence: true` subscribing
/// the caller's connection to the users found, each shown as the caller may see it.
fn query_users(ctx: &Ctx<'_>, snap: &Snapshot, presence: &dyn Presence) -> Result<Value, ApiError> {
    let (cmd, caller, settings) = (ctx.cmd, &ctx.cmd.claims.caller, ctx.settings);
    let payload = cmd.payload.as_deref().unwrap_or("{}");
    let q = match (cmd.v2, json::parse(payload)) {
        (true, Ok(p)) => payload::parse_value(&v2::query_in(&p)),
        _ => payload::parse(payload),
    }?;
    let me = match caller {
        Caller::User(id) => snap.stored(id),
        Caller::Server => None,
    };
    let (q, walk) = answers::for_caller(q, caller, me, settings)?;
    let page = store::query_page(ctx.db, &q, walk.as_ref())?;
    if let (true, Some(conn)) = (q.presence, &cmd.connection_id) {
        watch(ctx.db, presence, caller, conn, &page.users)?;
    }
    Ok(answers::users_answer(page, caller, settings, |id| presence.connected(id)))
}

/// `PATCH /app`: written only when it changes a setting.
fn update_app(ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let patch = if ctx.body.is_null() { object([]) } else { ctx.body.clone() };
    let updated = ops::update_app(ctx.settings, &patch, &ctx.cmd.claims.caller)?;
    if updated != *ctx.settings {
        let (text, now) = (updated.to_json(), ctx.at.0 / 1000);
        ctx.db.transaction(move |db| store::save_settings(db, &text, now))?;
    }
    Ok(object([]))
}

/// A batch task (delete, deactivate, reactivate, export): stored, then run as far as this
/// command's budget goes; the alarm runs the rest.
fn start_task(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    let (body, caller) = (ctx.body, &ctx.cmd.claims.caller);
    let request = match &ctx.cmd.route {
        Route::DeleteUsers => tasks::delete_users(body, caller),
        Route::DeactivateUsers => tasks::batch_lifecycle(TaskKind::Deactivate, body, caller),
        Route::ReactivateUsers => tasks::batch_lifecycle(TaskKind::Reactivate, body, caller),
        _ => tasks::export_users(body, caller),
    }?;
    let id = super::super::connect::uuid_v4()?;
    let (task_id, stamp) = (id.clone(), ctx.at.to_string());
    ctx.db.transaction(move |db| store::insert_task(db, &task_id, &request, &stamp))?;
    let publish = run_task_now(ctx.db, &id, ctx.at)?;
    Ok((object([("task_id", Value::from(id))]), 201, publish))
}

/// `POST /users/{id}/event`: a custom event for an active user's connections.
fn send_event(ctx: &Ctx<'_>, id: &str) -> Result<Answer, ApiError> {
    ops::require_server(&ctx.cmd.claims.caller, "SendUserCustomEvent")?;
    user::validate_id(id)?;
    let event = events::custom_event(ctx.body, ctx.at)?;
    events::check_target(id, store::load_user(ctx.db, id)?.as_ref())?;
    let publish = Publish::Custom(id.to_string(), event.clone());
    Ok((object([("event", event)]), 201, Some(publish)))
}

/// The user ids a body names: `users` as an object keyed by id (an upsert, its answer) or a
/// list of objects with `id` (a partial update, a query's answer).
pub(super) fn batch_ids(body: &Value) -> Vec<String> {
    match body.get("users") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|u| u.get("id")?.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Adds `versions: {id: version}` for the users an answer returns (`users` as an object or a
/// list, or one `user`), and the version when there is exactly one, for an `ETag` header.
pub(super) fn attach_versions(db: &Db, value: &mut Value) -> Result<Option<i64>, ApiError> {
    let ids: Vec<String> = match (value.get("users"), value.get("user")) {
        (Some(Value::Object(_) | Value::Array(_)), _) => batch_ids(value),
        (None, Some(u)) => u.get("id").and_then(Value::as_str).map(str::to_string).into_iter().collect(),
        _ => return Ok(None),
    };
    let versions = store::versions(db, &ids)?;
    let single = match ids.as_slice() {
        [id] => precondition::version_of(&versions, id),
        _ => None,
    };
    if let Value::Object(m) = value {
        // Inserted one by one: a map collected from an iterator links a stable sort.
        let mut shown = serde_json::Map::new();
        for (id, v) in versions {
            shown.insert(id, Value::from(v));
        }
        m.insert("versions".into(), Value::Object(shown));
    }
    Ok(single)
}
