//! Batch operations that answer with a task id and run afterwards, user by user: delete,
//! deactivate and reactivate many users (`POST /users/delete|deactivate|reactivate`), and export
//! many (`POST /export/users`). This module validates the requests and says what each step
//! does and how a task reads back (`GET /tasks/{id}`); the shell stores tasks, runs them and
//! commits each user's change together with the task's progress.

use super::drive::OpFn;
use crate::core::access::auth::Caller;
use crate::core::model::user::{self, MAX_BATCH};
use crate::core::ops::{self, body_object, require_server};
use crate::core::wire::error::{ApiError, Operation, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// What a task does to each of its users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// Soft-delete (restorable).
    SoftDelete,
    /// Hard-delete (`hard` and `pruning`: the id is kept as a tombstone and never reused).
    HardDelete,
    Deactivate,
    Reactivate,
    Export,
}

/// The core operation one step of a task runs for one user, with the operation Stream's errors
/// name (`None` for an export, which reads and writes nothing).
pub fn step_operation<'a>(
    kind: TaskKind,
    id: &'a str,
    options: &'a Value,
    at: Timestamp,
) -> Option<(Operation, Box<OpFn<'a>>)> {
    let server = &Caller::Server;
    Some(match kind {
        TaskKind::SoftDelete => (Operation::DeleteUser, Box::new(move |s| ops::delete_user(id, false, server, at, s))),
        TaskKind::HardDelete => (Operation::DeleteUser, Box::new(move |s| ops::delete_user(id, true, server, at, s))),
        TaskKind::Deactivate => {
            (Operation::DeactivateUser, Box::new(move |s| ops::deactivate_user(id, options, server, at, s)))
        }
        TaskKind::Reactivate => {
            (Operation::ReactivateUser, Box::new(move |s| ops::reactivate_user(id, options, server, at, s)))
        }
        TaskKind::Export => return None,
    })
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::SoftDelete => "delete_soft",
            TaskKind::HardDelete => "delete_hard",
            TaskKind::Deactivate => "deactivate",
            TaskKind::Reactivate => "reactivate",
            TaskKind::Export => "export",
        }
    }
    pub fn parse(name: &str) -> Option<TaskKind> {
        [TaskKind::SoftDelete, TaskKind::HardDelete, TaskKind::Deactivate, TaskKind::Reactivate, TaskKind::Export]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// A validated batch request: the kind, the users (each once, in order) and the options each
/// user's operation takes (the single-user route's body).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRequest {
    pub kind: TaskKind,
    pub user_ids: Vec<String>,
    pub options: Value,
}

fn user_ids(body: &Map<String, Value>) -> Result<Vec<String>> {
    let bad = || ApiError::field("user_ids", "user_ids must be an array of user ids");
    let items = match body.get("user_ids") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(ApiError::field("user_ids", "user_ids is a required field")),
        Some(_) => return Err(bad()),
    };
    if items.is_empty() {
        return Err(ApiError::field("user_ids", "user_ids is a required field and cannot be empty"));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::field(
            "user_ids",
            format!("user_ids contains {} entries, the maximum per request is {MAX_BATCH}", items.len()),
        ));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let id = item.as_str().ok_or_else(bad)?;
        user::validate_id(id)?;
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

fn mode(body: &Map<String, Value>, key: &str, allowed: &[&str]) -> Result<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::field(key.to_string(), format!("{key} must be one of [{}]", allowed.join(" ")))),
    }
}

/// `POST /users/delete` `{user_ids, user, messages, conversations, …}`: `user` is `soft`
/// (the default), `pruning` or `hard`. Messages and conversations are not Roster's: their
/// modes are validated and otherwise ignored.
pub fn delete_users(body: &Value, caller: &Caller) -> Result<TaskRequest> {
    require_server(caller, "DeleteUsers")?;
    let b = body_object(body)?;
    let ids = user_ids(b)?;
    let user_mode = mode(b, "user", &["soft", "pruning", "hard"])?;
    mode(b, "messages", &["soft", "pruning", "hard"])?;
    mode(b, "conversations", &["soft", "hard"])?;
    let kind = match user_mode.as_deref() {
        Some("hard" | "pruning") => TaskKind::HardDelete,
        _ => TaskKind::SoftDelete,
    };
    Ok(TaskRequest { kind, user_ids: ids, options: Value::Null })
}

/// `POST /users/deactivate` and `/users/reactivate` `{user_ids, …options}`: each user gets the
/// single-user route's options (`created_by_id`, `mark_messages_deleted`, `restore_messages`, …).
pub fn batch_lifecycle(kind: TaskKind, body: &Value, caller: &Caller) -> Result<TaskRequest> {
    let action = if kind == TaskKind::Deactivate { "DeactivateUsers" } else { "ReactivateUsers" };
    require_server(caller, action)?;
    let b = body_object(body)?;
    let ids = user_ids(b)?;
    let mut options = b.clone();
    options.remove("user_ids");
    // Renaming is per user: a batch cannot give them all one name.
    options.remove("name");
    Ok(TaskRequest { kind, user_ids: ids, options: Value::Object(options) })
}

/// `POST /export/users` `{user_ids}`.
pub fn export_users(body: &Value, caller: &Caller) -> Result<TaskRequest> {
    require_server(caller, "ExportUsers")?;
    let ids = user_ids(body_object(body)?)?;
    Ok(TaskRequest { kind: TaskKind::Export, user_ids: ids, options: Value::Null })
}

/// `GET /users/{id}/export`: server-side only.
pub fn check_export(caller: &Caller) -> Result<()> {
    match caller {
        Caller::Server => Ok(()),
        Caller::User(_) => Err(ApiError::not_allowed("users can only be exported server side")),
    }
}

/// The export of one user: its record, and the messages and reactions Roster does not hold.
pub fn export_of(u: &user::User) -> Value {
    object([
        ("user", Value::Object(user::public_view(u))),
        ("messages", Value::Array(Vec::new())),
        ("reactions", Value::Array(Vec::new())),
    ])
}

/// A stored task as `GET /tasks/{id}` shows it. `outcomes` holds each finished user's result:
/// `Ok(user)` (the user after the step, or its export) or `Err(message)`.
pub struct TaskState<'a> {
    pub id: &'a str,
    pub kind: TaskKind,
    pub total: usize,
    pub outcomes: &'a [(String, std::result::Result<Value, String>)],
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

impl TaskState<'_> {
    pub fn status(&self) -> &'static str {
        let failed = self.outcomes.iter().any(|(_, o)| o.is_err());
        match (self.outcomes.len(), failed) {
            (0, _) => "pending",
            (n, _) if n < self.total => "running",
            (_, true) => "failed",
            (_, false) => "completed",
        }
    }

    /// `{task_id, status, created_at, updated_at, result, error?}`. A delete's result has, per
    /// user id, `{status: "ok"}` or `{status: "error", error}`; the others' have `users`, the
    /// users done (as their single-user routes return them, or their exports), and `errors`,
    /// user id → message for the ones that failed.
    pub fn view(&self) -> Value {
        let deletes = matches!(self.kind, TaskKind::SoftDelete | TaskKind::HardDelete);
        let mut result = Map::new();
        let mut users = Vec::new();
        let mut errors = Map::new();
        for (id, outcome) in self.outcomes {
            match (outcome, deletes) {
                (Ok(_), true) => {
                    result.insert(id.clone(), object([("status", Value::from("ok"))]));
                }
                (Err(e), true) => {
                    let entry = object([("status", Value::from("error")), ("error", Value::from(e.as_str()))]);
                    result.insert(id.clone(), entry);
                }
                (Ok(u), false) => users.push(u.clone()),
                (Err(e), false) => {
                    errors.insert(id.clone(), Value::from(e.as_str()));
                }
            }
        }
        if !deletes {
            result.insert("users".into(), Value::Array(users));
            result.insert("errors".into(), Value::Object(errors));
        }
        let status = self.status();
        let mut out = object([
            ("task_id", Value::from(self.id)),
            ("status", Value::from(status)),
            ("created_at", Value::from(self.created_at)),
            ("updated_at", Value::from(self.updated_at)),
            ("result", Value::Object(result)),
        ]);
        if status == "failed" {
            let failed = self.outcomes.iter().filter(|(_, o)| o.is_err()).count();
            if let Value::Object(m) = &mut out {
                let error = object([
                    ("type", Value::from("task_failed")),
                    ("description", Value::from(format!("{failed} of {} users failed", self.total))),
                ]);
                m.insert("error".into(), error);
            }
        }
        out
    }
}

/// `GET /tasks/{id}` for an id no task has.
pub fn unknown_task(id: &str) -> ApiError {
    ApiError::not_found(format!("Can't find task with id {id}"))
}
