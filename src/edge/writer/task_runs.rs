//! Batch tasks (delete, export, …): one user per step, each step committed with its outcome, run
//! by the alarm within a budget, so a task resumes where it stopped.

use super::*;

/// Task steps (one user each) per alarm run.
pub(super) const TASK_STEPS: usize = 200;

/// Runs the next user's step of `task` and commits it with the task's progress (and, with the
/// test hook's budget, one less step to go). Returns the change to publish.
pub(super) fn run_step(
    db: &Db,
    task: &mut store::TaskRow,
    budget: Option<i64>,
    at: Timestamp,
) -> Result<Option<(UserChange, User)>, ApiError> {
    let Some(id) = task.user_ids.get(task.outcomes.len()).cloned() else { return Ok(None) };
    let (outcome, prepared, changed) = match task_step(db, task, &id, at) {
        Ok((value, prepared, changed)) => (Ok(value), prepared, changed),
        Err(e) => (Err(e), None, None),
    };
    task.outcomes.push((id, outcome));
    task.updated_at = at.to_string();
    let now = at.0 / 1000;
    let progress = task.clone();
    db.transaction(move |db| {
        if let Some(p) = &prepared {
            store::apply(db, p, now)?;
        }
        if let Some(b) = budget {
            store::set_meta(db, "task_budget", &(b - 1).to_string())?;
        }
        store::save_task_progress(db, &progress)
    })?;
    Ok(changed)
}

/// A batch delete, deactivate or reactivate (at most 100 users) runs to its end in its own
/// command: Stream's suites query the users right after the call and expect them changed.
/// Each user's step commits with the task's progress, with no await between the steps, so the
/// task reports every user at once. An export task runs later, from the alarm.
pub(super) fn run_task_now(db: &Db, id: &str, at: Timestamp) -> Result<Option<Publish>, ApiError> {
    let Some(mut task) = store::load_task(db, id)? else { return Ok(None) };
    if task.kind == TaskKind::Export {
        return Ok(None);
    }
    let (mut change, mut users) = (None, Vec::new());
    while task.outcomes.len() < task.user_ids.len() {
        if let Some((c, user)) = run_step(db, &mut task, None, at)? {
            change = Some(c);
            users.push(user);
        }
    }
    Ok(change.map(|c| Publish::Users(c, users)))
}

/// One user's step of a task: the user after it (or its export), the writes to commit, and
/// the change to publish.
pub(super) type TaskStep = (Value, Option<store::Prepared>, Option<(UserChange, User)>);

/// Runs one user's step of a task.
pub(super) fn task_step(db: &Db, task: &store::TaskRow, id: &str, at: Timestamp) -> Result<TaskStep, String> {
    let settings = store::load_settings(db).map_err(|e| e.reason)?;
    let mut loader = SqlLoader { db, before: Vec::new() };
    let Some((op, step)) = tasks::step_operation(task.kind, id, &task.options, at) else {
        return export(db, id).map(|e| (e, None, None)).map_err(|e| e.reason);
    };
    let commit = drive::drive(&mut loader, &mut Snapshot::new(settings), op, &*step).map_err(|e| e.error.reason)?;
    let shown = commit.response.get("user").cloned().unwrap_or(Value::Null);
    let change = match task.kind {
        TaskKind::Deactivate => UserChange::Deactivated,
        TaskKind::Reactivate => UserChange::Reactivated,
        _ => UserChange::Deleted,
    };
    let changed = commit.users.first().cloned().map(|u| (change, u));
    Ok((shown, Some(store::prepare(&commit, &loader.before, &[])), changed))
}

impl Writer {
    /// Test hook `task-budget`: how many more task steps may run (`None`: no limit). At 0 the
    /// Writer behaves as if it had been evicted mid-task, until the budget is lifted.
    pub(super) fn task_budget(&self, db: &Db) -> Option<i64> {
        if !super::super::test_hooks(&self.env) {
            return None;
        }
        store::meta(db, "task_budget").ok().flatten().and_then(|v| v.parse::<i64>().ok())
    }

    pub(super) fn tasks_runnable(&self, db: &Db) -> bool {
        self.task_budget(db) != Some(0) && store::next_task(db).ok().flatten().is_some()
    }

    /// Runs batch tasks, user by user, oldest first: each user's change commits in the same
    /// transaction as the task's progress, so a task resumes exactly where it stopped.
    pub(super) fn run_tasks(&self, db: &Db) -> Result<(), ApiError> {
        for _ in 0..TASK_STEPS {
            let budget = self.task_budget(db);
            if budget == Some(0) {
                return Ok(());
            }
            let Some(mut task) = store::next_task(db)? else { return Ok(()) };
            let at = now();
            let changed = run_step(db, &mut task, budget, at)?;
            if let Some((change, user)) = changed {
                self.publish(db, Publish::Users(change, vec![user]), at);
            }
        }
        Ok(())
    }
}
