//! Running one command: authorization that needs state, the core's operation through the one
//! driver, the commit, and the versions attached to answers that return users.

use super::*;

/// The request body as JSON: `null` when empty or blank.
pub(super) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    json::parse_slice(body).map_err(|e| ApiError::input(format!("invalid JSON body: {e}")))
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
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    let mut snap = Snapshot::new(settings.clone());
    if let Caller::User(id) = &cmd.claims.caller {
        let loaded = loader.load(&Need { users: vec![id.clone()], names: Vec::new() })?;
        let cutoff = loaded
            .users
            .first()
            .and_then(|(_, u)| u.as_ref())
            .and_then(|u| u.get("revoke_tokens_issued_before"))
            .and_then(Value::as_str)
            .and_then(Timestamp::parse);
        auth::check_user_revocation(&cmd.claims, cutoff)?;
        snap.load_users(loaded.users);
        snap.names.extend(loaded.names);
    }
    Ok((snap, loader))
}

/// Runs one command: read, decide, commit. Synchronous from start to end.
pub(super) fn execute(
    db: &Db,
    cmd: &Command,
    settings: &AppSettings,
    body: &[u8],
    at: Timestamp,
    presence: &dyn Presence,
) -> Result<(Value, u16, Option<Publish>), OpError> {
    let op = cmd.route.op();
    let fail = |error| OpError { op, error };
    let (snap, mut loader) = authorize(db, cmd, settings).map_err(fail)?;
    let mut body = parse_body(body).map_err(fail)?;
    if cmd.v2 {
        body = v2::body_in(&body);
        body = match cmd.route {
            Route::Upsert => v2::upsert_in(&body),
            Route::Partial => v2::partial_in(&body),
            _ => Ok(body),
        }
        .map_err(fail)?;
    } else if let (Route::Upsert | Route::Partial, Some(name)) = (&cmd.route, v2::v1_names_shadowed(&body)) {
        return Err(fail(ApiError::field(name.clone(), format!("{name} is a reserved field"))));
    }
    if matches!(cmd.route, Route::Upsert | Route::Partial) {
        // Checked here, with no await before the commit: two writers expecting one version
        // cannot both pass.
        let ids = batch_ids(&body);
        let expected = precondition::take(&mut body, cmd.if_match.as_deref(), &ids).map_err(fail)?;
        if !expected.is_empty() {
            let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
            precondition::check(&expected, &store::versions(db, &ids).map_err(fail)?).map_err(fail)?;
        }
    }
    let (body, caller) = (&body, &cmd.claims.caller);
    let operation: Box<OpFn<'_>> = match &cmd.route {
        Route::GetApp => return Ok((ops::get_app(settings), 200, None)),
        Route::Query => {
            let payload = cmd.payload.as_deref().unwrap_or("{}");
            let q = match (cmd.v2, json::parse(payload)) {
                (true, Ok(p)) => query::parse_value(&v2::query_in(&p)),
                _ => query::parse(payload),
            }
            .map_err(fail)?;
            let me = match caller {
                Caller::User(id) => snap.stored_user(id),
                Caller::Server => None,
            };
            let q = tenancy::restrict_query(q, caller, me, settings).map_err(fail)?;
            let walk = cursor::Walk::of(&q).map_err(fail)?;
            let cursor::Page { users: found, next, prev } = store::query_page(db, &q, walk.as_ref()).map_err(fail)?;
            if let (true, Some(conn)) = (q.presence, &cmd.connection_id) {
                watch(db, presence, caller, conn, &found).map_err(fail)?;
            }
            let users = found
                .iter()
                .map(|u| {
                    let mut shown = tenancy::shown(u, caller, settings);
                    let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
                    shown.insert("online".into(), Value::Bool(presence.connected(id) && events::visible(u)));
                    Value::Object(shown)
                })
                .collect();
            return Ok((cursor::with_cursors(object([("users", Value::Array(users))]), next, prev), 200, None));
        }
        Route::UpdateApp => {
            let patch = if body.is_null() { object([]) } else { body.clone() };
            let updated = ops::update_app(settings, &patch, caller).map_err(fail)?;
            if updated != *settings {
                let (text, now) = (updated.to_json(), at.0 / 1000);
                db.transaction(move |db| store::save_settings(db, &text, now)).map_err(fail)?;
            }
            return Ok((object([]), 200, None));
        }
        // Parsed once, not in every round of the load loop (the first round would fail alike).
        Route::Upsert => {
            let batch = ops::UpsertBatch::parse(body, caller).map_err(fail)?;
            Box::new(move |s| ops::upsert_parsed(&batch, caller, at, s))
        }
        Route::Partial => {
            let batch = ops::PartialBatch::parse(body, caller, settings).map_err(fail)?;
            Box::new(move |s| ops::partial_update_parsed(&batch, caller, at, s))
        }
        Route::Deactivate(id) => Box::new(move |s| ops::deactivate_user(id, body, caller, at, s)),
        Route::Reactivate(id) => Box::new(move |s| ops::reactivate_user(id, body, caller, at, s)),
        Route::Delete(id) => {
            let hard = cmd.hard;
            Box::new(move |s| ops::delete_user(id, hard, caller, at, s))
        }
        Route::Restore => Box::new(move |s| ops::restore_users(body, caller, at, s)),
        Route::DeleteUsers | Route::DeactivateUsers | Route::ReactivateUsers | Route::ExportUsers => {
            let request = match &cmd.route {
                Route::DeleteUsers => tasks::delete_users(body, caller),
                Route::DeactivateUsers => tasks::batch_lifecycle(TaskKind::Deactivate, body, caller),
                Route::ReactivateUsers => tasks::batch_lifecycle(TaskKind::Reactivate, body, caller),
                _ => tasks::export_users(body, caller),
            }
            .map_err(fail)?;
            let id = super::super::connect::uuid_v4().map_err(fail)?;
            let (task_id, stamp) = (id.clone(), at.to_string());
            db.transaction(move |db| store::insert_task(db, &task_id, &request, &stamp)).map_err(fail)?;
            let publish = run_task_now(db, &id, at).map_err(fail)?;
            return Ok((object([("task_id", Value::from(id))]), 201, publish));
        }
        Route::Changes => {
            ops::require_server(caller, "GetUserChanges").map_err(fail)?;
            let params = json::parse(cmd.payload.as_deref().unwrap_or("{}")).unwrap_or(Value::Null);
            let param = |name: &str| params.get(name).and_then(Value::as_str);
            let req =
                feed::request(param("since"), param("limit"), store::current_seq(db).map_err(fail)?).map_err(fail)?;
            let rows = store::changes(db, &req.since, req.limit).map_err(fail)?;
            return Ok((feed::page(&req, &rows), 200, None));
        }
        Route::GetTask(id) => {
            ops::require_server(caller, "GetTask").map_err(fail)?;
            let task = store::load_task(db, id).map_err(fail)?.ok_or_else(|| fail(tasks::unknown_task(id)))?;
            return Ok((task.state().view(), 200, None));
        }
        Route::ExportUser(id) => {
            tasks::check_export(caller).map_err(fail)?;
            user::validate_id(id).map_err(fail)?;
            return export(db, id).map(|e| (e, 200, None)).map_err(fail);
        }
        Route::SendEvent(id) => {
            ops::require_server(caller, "SendUserCustomEvent").map_err(fail)?;
            user::validate_id(id).map_err(fail)?;
            let event = events::custom_event(body, at).map_err(fail)?;
            if !store::load_user(db, id).map_err(fail)?.is_some_and(|u| user::is_active(&u)) {
                return Err(fail(ApiError::not_found(format!("user '{id}' does not exist"))));
            }
            let publish = Publish::Custom(id.clone(), event.clone());
            return Ok((object([("event", event)]), 201, Some(publish)));
        }
        Route::Connect | Route::Guest | Route::RateLimits | Route::Stats | Route::Test(_) | Route::NotFound => {
            return Err(fail(ApiError::route_not_found()))
        }
    };
    let commit = drive::drive(&mut loader, snap, op, &*operation)?;
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now)).map_err(fail)?;
    let change = match cmd.route {
        Route::Deactivate(_) => UserChange::Deactivated,
        Route::Reactivate(_) => UserChange::Reactivated,
        Route::Delete(_) => UserChange::Deleted,
        _ => UserChange::Updated,
    };
    Ok((commit.response, commit.status, Some(Publish::Users(change, commit.users))))
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
        let shown = versions.into_iter().map(|(id, v)| (id, Value::from(v))).collect();
        m.insert("versions".into(), Value::Object(shown));
    }
    Ok(single)
}
