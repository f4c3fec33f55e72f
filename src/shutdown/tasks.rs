//! Tracked tasks: a record per task, finished however its future ends.
//!
//! # Invariants
//!
//! - A task's record is finished by a guard inside the task's future, so
//!   finishing, panicking (the guard drops while unwinding) and aborting (the
//!   future is dropped) are all seen; the first outcome wins.
//! - Lock order: the task map (`Shared::tasks`) before a record's `outcome`
//!   slot; a record's `abort` slot is never held with another lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::report::{TaskOutcome, TaskReport};
use super::{lock, Shared};

/// The state of one tracked task.
pub(crate) struct TaskRecord {
    pub(crate) name: String,
    outcome: Mutex<Option<(TaskOutcome, Instant)>>,
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

impl TaskRecord {
    pub(crate) fn new(name: &str) -> Arc<TaskRecord> {
        Arc::new(TaskRecord {
            name: name.to_string(),
            outcome: Mutex::new(None),
            abort: Mutex::new(None),
        })
    }

    /// Records how the task ended, unless it already did.
    pub(crate) fn finish(&self, outcome: TaskOutcome) {
        let mut slot = lock(&self.outcome);
        if slot.is_none() {
            *slot = Some((outcome, Instant::now()));
        }
    }

    pub(crate) fn set_abort(&self, handle: tokio::task::AbortHandle) {
        *lock(&self.abort) = Some(handle);
    }

    /// How it ended, if it did.
    pub(crate) fn outcome(&self) -> Option<TaskOutcome> {
        lock(&self.outcome).as_ref().map(|(o, _)| o.clone())
    }

    pub(crate) fn is_running(&self) -> bool {
        lock(&self.outcome).is_none()
    }

    /// Aborts the task if it has not ended.
    pub(crate) fn abort(&self) {
        if self.is_running() {
            tracing::warn!(task = %self.name, "tempreg aborting task at the grace period");
            if let Some(abort) = &*lock(&self.abort) {
                abort.abort();
            }
        }
    }

    fn report(&self, began: Instant) -> TaskReport {
        let (outcome, at) = lock(&self.outcome)
            .clone()
            .unwrap_or((TaskOutcome::StillRunning, Instant::now()));
        TaskReport {
            name: self.name.clone(),
            outcome,
            elapsed: at.saturating_duration_since(began),
        }
    }
}

/// Finishes a task's record however its future ends.
pub(crate) struct TaskGuard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) record: Arc<TaskRecord>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let outcome = if std::thread::panicking() {
            TaskOutcome::Panicked
        } else {
            TaskOutcome::Aborted
        };
        // A no-op if the task already recorded how it ended.
        self.record.finish(outcome);
        self.shared.task_ended(self.id, &self.record);
    }
}

/// The report of every task in `tasks`, which is emptied.
pub(crate) fn take_reports(
    tasks: &Mutex<BTreeMap<u64, Arc<TaskRecord>>>,
    began: Instant,
) -> Vec<TaskReport> {
    let mut table = lock(tasks);
    let reports = table.values().map(|r| r.report(began)).collect();
    table.clear();
    reports
}

/// The names of the tasks in `tasks` that have not ended.
pub(crate) fn still_running(tasks: &Mutex<BTreeMap<u64, Arc<TaskRecord>>>) -> Vec<String> {
    let records: Vec<Arc<TaskRecord>> = lock(tasks).values().cloned().collect();
    records
        .iter()
        .filter(|r| r.is_running())
        .map(|r| r.name.clone())
        .collect()
}
