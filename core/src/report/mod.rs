//! Run reports: what happened to every task, run totals, and the critical path.

use crate::event::{SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One attempt of a task, in run time (from the run's start).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// When the attempt started.
    pub start: Duration,
    /// When it ended (`None` while it runs).
    pub end: Option<Duration>,
    /// Its error, if it did not succeed.
    pub error: Option<TaskError>,
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    /// The task's id in its run.
    pub id: TaskId,
    /// Its name.
    pub name: Arc<str>,
    /// Its final (or current) status.
    pub status: Status,
    /// How many attempts started.
    pub attempts: u32,
    /// When its first attempt started.
    pub started: Option<Duration>,
    /// When it finished.
    pub finished: Option<Duration>,
    /// Its last error.
    pub error: Option<TaskError>,
    /// Why it was skipped.
    pub skip_reason: Option<SkipReason>,
    /// Every attempt.
    pub attempt_log: Vec<AttemptRecord>,
    /// Its dependencies (static tasks).
    pub deps: Vec<TaskId>,
    /// The task that spawned it (dynamic tasks).
    pub parent: Option<TaskId>,
}

impl TaskReport {
    /// From the first attempt's start to the end; zero if it never started.
    pub fn duration(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => Duration::ZERO,
        }
    }
}

/// The report of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Every task of the run, static ones in declaration order, then dynamic ones as spawned.
    pub tasks: Vec<TaskReport>,
    /// The run's length.
    pub total: Duration,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopReason>,
    /// The wall-clock time the run started (set by drivers).
    pub started_at: Option<SystemTime>,
}

impl RunReport {
    /// Whether every task succeeded and the run was not stopped.
    pub fn ok(&self) -> bool {
        self.stop.is_none() && self.tasks.iter().all(|t| t.status == Status::Succeeded)
    }

    /// The first task of that name.
    pub fn get(&self, name: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| &*t.name == name)
    }

    /// How many tasks ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.tasks.iter().filter(|t| t.status == status).count()
    }
}
