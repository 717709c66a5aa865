//! Batch tasks' rows: stored with their outcomes, so a task resumes where it stopped.

use super::*;

/// A stored task.
#[derive(Clone)]
pub struct TaskRow {
    pub id: String,
    pub kind: crate::core::engine::tasks::TaskKind,
    pub user_ids: Vec<String>,
    pub options: Value,
    pub outcomes: Vec<(String, Result<Value, String>)>,
    pub created_at: String,
    pub updated_at: String,
}

impl TaskRow {
    pub fn state(&self) -> crate::core::engine::tasks::TaskState<'_> {
        crate::core::engine::tasks::TaskState {
            id: &self.id,
            kind: self.kind,
            total: self.user_ids.len(),
            outcomes: &self.outcomes,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
        }
    }
}

pub(super) fn outcomes_text(outcomes: &[(String, Result<Value, String>)]) -> String {
    let items = outcomes
        .iter()
        .map(|(id, o)| {
            let (k, v) = match o {
                Ok(v) => ("ok", v.clone()),
                Err(e) => ("error", Value::from(e.as_str())),
            };
            Value::Array(vec![Value::from(id.as_str()), crate::core::wire::json::object([(k, v)])])
        })
        .collect();
    json::text(&Value::Array(items))
}

pub(super) fn outcomes_of(text: &str) -> Vec<(String, Result<Value, String>)> {
    let Ok(Value::Array(items)) = json::parse(text) else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else { return None };
            let id = pair.first()?.as_str()?.to_string();
            let o = pair.get(1)?;
            Some(match (o.get("ok"), o.get("error")) {
                (Some(v), _) => (id, Ok(v.clone())),
                (_, e) => (id, Err(e.and_then(Value::as_str).unwrap_or("failed").to_string())),
            })
        })
        .collect()
}

pub fn insert_task(
    db: &Db,
    id: &str,
    req: &crate::core::engine::tasks::TaskRequest,
    now: &str,
) -> Result<(), ApiError> {
    db.run(
        "INSERT INTO tasks (id, kind, user_ids, options, outcomes, done, total, created_at, updated_at) \
         VALUES (?, ?, ?, ?, '[]', 0, ?, ?, ?)",
        &[
            id.into(),
            req.kind.name().into(),
            json_list(&req.user_ids).as_str().into(),
            json::text(&req.options).as_str().into(),
            i64::try_from(req.user_ids.len()).unwrap_or(0).into(),
            now.into(),
            now.into(),
        ],
    )
    .map(|_| ())
}

pub(super) fn task_of(row: &super::super::sql::Row) -> Option<TaskRow> {
    let ids = match json::parse(&row.text(2)?) {
        Ok(Value::Array(a)) => a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    Some(TaskRow {
        id: row.text(0)?,
        kind: crate::core::engine::tasks::TaskKind::parse(&row.text(1)?)?,
        user_ids: ids,
        options: json::parse(&row.text(3)?).unwrap_or(Value::Null),
        outcomes: outcomes_of(&row.text(4)?),
        created_at: row.text(5)?,
        updated_at: row.text(6)?,
    })
}

pub(super) const TASK_COLUMNS: &str = "id, kind, user_ids, options, outcomes, created_at, updated_at";

pub fn load_task(db: &Db, id: &str) -> Result<Option<TaskRow>, ApiError> {
    let row = db.first(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?"), &[id.into()])?;
    Ok(row.as_ref().and_then(task_of))
}

/// The oldest task not finished yet.
pub fn next_task(db: &Db) -> Result<Option<TaskRow>, ApiError> {
    let row =
        db.first(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE done < total ORDER BY created_at, id LIMIT 1"), &[])?;
    Ok(row.as_ref().and_then(task_of))
}

/// Records a task's progress (call in the transaction that commits the user's step).
pub fn save_task_progress(db: &Db, t: &TaskRow) -> Result<(), ApiError> {
    db.run(
        "UPDATE tasks SET outcomes = ?, done = ?, updated_at = ? WHERE id = ?",
        &[
            outcomes_text(&t.outcomes).as_str().into(),
            i64::try_from(t.outcomes.len()).unwrap_or(0).into(),
            t.updated_at.as_str().into(),
            t.id.as_str().into(),
        ],
    )
    .map(|_| ())
}
