//! Queries: what a driver may read of the run, and the outcomes it moves out.
//!
//! A query never panics. A query of one task takes a [`TaskId`] the core handed out (from the
//! graph, a [`Command`](crate::scheduler::Command), [`Scheduler::spawn`] or
//! [`Scheduler::task_id`]); given one the run does not know (from another run, or
//! [`TaskId::NONE`]) it answers as for a task that never ran: an empty name,
//! [`Status::Pending`], attempt 0, the default options, and `None` for the value, the error,
//! the parent and the skip reason. The queries that move something out
//! ([`take_outcome`](Scheduler::take_outcome), [`outcome`](Scheduler::outcome)) refuse it with
//! a [`ProtocolError`] instead.

use super::super::ProtocolError;
use super::Scheduler;
use crate::event::{SkipReason, Status, StopReason, TaskError};
use crate::graph::{Graph, TaskId};
use crate::policy::TaskOptions;
use crate::scheduler::task::NONE;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The name of a task the run does not know.
fn no_name() -> &'static Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from(""))
}

impl<V> Scheduler<V> {
    /// The id of task number `raw` of this run (static or dynamic), if there is one: how an
    /// id that crossed to a host as [`TaskId::as_u32`] comes back. A driver that must have an
    /// id anyway falls back to [`TaskId::NONE`], which every input refuses and every query
    /// reads as unknown.
    #[must_use]
    pub fn task_id(&self, raw: u32) -> Option<TaskId> {
        ((raw as usize) < self.tasks.len()).then_some(TaskId(raw))
    }

    /// Checks that `task` belongs to this run.
    pub(super) fn check(&self, task: TaskId) -> Result<usize, ProtocolError> {
        let i = task.index();
        if i < self.tasks.len() {
            Ok(i)
        } else {
            Err(ProtocolError::UnknownTask(task.0))
        }
    }

    /// Whether the run is over ([`Command::Finished`](crate::scheduler::Command::Finished) was emitted).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The graph this run schedules.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// The name of a task (static or dynamic); empty for an id the run does not know.
    pub fn name(&self, task: TaskId) -> &str {
        let i = task.index();
        let n = self.graph.len();
        if i < n {
            self.graph.name(task)
        } else {
            self.dyn_names.get(i - n).map_or("", |s| s)
        }
    }

    /// The name of a task as a shared string (no copy: a static task's is made by the graph,
    /// for every task at once, the first time one is asked for); empty for an id the run does
    /// not know.
    pub fn name_arc(&self, task: TaskId) -> &Arc<str> {
        let i = task.index();
        let n = self.graph.len();
        if i < n {
            self.graph.name_arc_ref(task)
        } else {
            self.dyn_names.get(i - n).unwrap_or(no_name())
        }
    }

    /// The current status of a task; [`Status::Pending`] for an id the run does not know.
    pub fn status(&self, task: TaskId) -> Status {
        self.tasks
            .get(task.index())
            .map_or(Status::Pending, |t| t.status)
    }

    /// The attempt currently running or last run (0 before the first, and for an id the run
    /// does not know).
    pub fn attempt(&self, task: TaskId) -> u32 {
        self.tasks.get(task.index()).map_or(0, |t| t.attempt)
    }

    /// The options of a task; the default options for an id the run does not know.
    pub fn options(&self, task: TaskId) -> &TaskOptions {
        self.task_opts(task.0)
    }

    /// The value a succeeded task produced (`None` too for an id the run does not know).
    pub fn value(&self, task: TaskId) -> Option<&V> {
        self.tasks.get(task.index())?.value.as_ref()
    }

    /// The task's error, if it failed, timed out or was cancelled (a task that succeeded after
    /// failed attempts has none: its attempts' errors are in the report's attempt log; `None`
    /// too for an id the run does not know).
    pub fn error(&self, task: TaskId) -> Option<&TaskError> {
        let tk = self.tasks.get(task.index())?;
        if tk.status == Status::Succeeded {
            return None;
        }
        tk.error()
    }

    /// The task that spawned a dynamic task (`None` too for an id the run does not know).
    pub fn parent(&self, task: TaskId) -> Option<TaskId> {
        let p = self.tasks.get(task.index())?.parent;
        (p != NONE).then_some(TaskId(p))
    }

    /// Why the run stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// The task whose failure (failed or timed out, not cancelled) came first in the run, if
    /// any: on fail-fast, the task [`Scheduler::stop_error`] gives the error of, so a door can
    /// hand its caller the host's own object for it.
    pub fn first_failure(&self) -> Option<TaskId> {
        self.first_failure
    }

    /// The error a run that stopped early gives its caller (what an Orchestrator's `run()`
    /// raises when the run stopped `main`), decided here once for every door: on the run
    /// timeout a timeout error `run timed out after 100ms`; on an outside cancel a
    /// cancellation `run cancelled`; on fail-fast the failed task's own error; on a hook that
    /// raised an error naming the hook's event. `None` if the run did not stop early, or
    /// stopped because `main` raised (main's own error is the run's).
    #[must_use]
    pub fn stop_error(&self) -> Option<TaskError> {
        let reason = self.stop.as_ref()?;
        match reason {
            StopReason::TimedOut(_) => Some(TaskError::timed_out(reason.to_string())),
            StopReason::Cancelled => Some(TaskError::cancelled(reason.to_string())),
            StopReason::FailFast { .. } => self
                .first_failure
                .and_then(|t| self.tasks[t.index()].error().cloned()),
            StopReason::HookFailed { .. } => {
                let e = TaskError::failed(reason.to_string());
                match self.hook_error.as_ref().and_then(|h| h.source_obj()) {
                    Some(source) => Some(e.with_source(source.clone())),
                    None => Some(e),
                }
            }
            _ => None,
        }
    }

    /// The run's time: that of the latest input (since the run started).
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Why a task was skipped, if it was (`None` too for an id the run does not know).
    pub fn skip_reason(&self, task: TaskId) -> Option<&SkipReason> {
        self.tasks.get(task.index())?.rare.as_ref()?.skip.as_ref()
    }

    /// The number of tasks known to the run (static and dynamic, selected or not).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// How many attempts are running now (holding a slot).
    pub fn running(&self) -> usize {
        self.running
    }

    /// Takes the outcome of a finished task for its caller: its value if it succeeded, else its
    /// error — for a task that never ran (skipped, or cancelled before it started), a
    /// cancellation error saying so. The value is moved out (a second call finds none and
    /// gives the error); the report keeps the error.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    #[must_use = "the outcome is moved out: dropping it loses the value"]
    pub fn take_outcome(&mut self, task: TaskId) -> Result<Result<V, TaskError>, ProtocolError> {
        let i = self.check(task)?;
        let tk = &mut self.tasks[i];
        if tk.status == Status::Succeeded {
            if let Some(v) = tk.value.take() {
                return Ok(Ok(v));
            }
        }
        Ok(Err(self.outcome_error(i)))
    }

    /// The outcome of a finished task, as [`Scheduler::take_outcome`] gives it, without moving
    /// the value out: what each waiter of a [`Command::Joined`](crate::scheduler::Command::Joined) gets.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    #[must_use = "a query has no effect"]
    pub fn outcome(&self, task: TaskId) -> Result<Result<&V, TaskError>, ProtocolError> {
        let i = self.check(task)?;
        let tk = &self.tasks[i];
        match (&tk.value, tk.status) {
            (Some(v), Status::Succeeded) => Ok(Ok(v)),
            _ => Ok(Err(self.outcome_error(i))),
        }
    }

    /// The error a caller gets from task `i`: its own, or why it never ran.
    pub(super) fn outcome_error(&self, i: usize) -> TaskError {
        let tk = &self.tasks[i];
        if let Some(e) = tk.error() {
            return e.clone();
        }
        let why = match tk.rare.as_ref().and_then(|r| r.skip.as_ref()) {
            Some(reason) => format!(
                "task \"{}\" was skipped: {reason}",
                self.name(TaskId(i as u32))
            ),
            None => format!("task \"{}\" did not run", self.name(TaskId(i as u32))),
        };
        TaskError::cancelled(why)
    }

    /// Moves a task's value out (the report does not hold values), e.g. to hand the results of
    /// a finished run to the host without cloning host objects.
    #[must_use]
    pub fn take_value(&mut self, task: TaskId) -> Option<V> {
        self.tasks.get_mut(task.index())?.value.take()
    }
}
