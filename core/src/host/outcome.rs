//! What a caller of a task gets, as one enum.

use crate::event::{ErrorKind, SkipReason, TaskError};
use crate::graph::TaskId;
use crate::scheduler::{ProtocolError, Scheduler};

/// The outcome of a finished task as its caller gets it (an action call, a `parallel`
/// member, a cached call): one enum every door turns into its host's objects the same way —
/// the value; the host's own error ([`TaskError::source_ref`]); the timeout error
/// (`TaskTimeoutError` / `TimeoutError`); a cancellation (`CancelledError`); a skip (a
/// cancellation naming the reason); a call too deep (`RecursionError` / `RangeError`).
#[derive(Debug, Clone)]
pub enum CallOutcome<V> {
    /// It succeeded with this value.
    Ok(V),
    /// Its body failed (raised, threw, panicked): the error keeps the host's own object.
    Failed(TaskError),
    /// Its last attempt timed out.
    TimedOut(TaskError),
    /// It was cancelled (its caller ended, fail-fast, the run stopped, a group failed).
    Cancelled(TaskError),
    /// It never ran; the error is the cancellation a caller sees (`task "x" was skipped: …`).
    Skipped {
        /// Why it did not run.
        reason: SkipReason,
        /// What a caller awaiting it gets.
        error: TaskError,
    },
    /// It was nested deeper than the run's `max_depth` and failed at once.
    Depth(TaskError),
}

impl<V> CallOutcome<V> {
    /// The error, for every outcome but `Ok`.
    pub fn error(&self) -> Option<&TaskError> {
        match self {
            CallOutcome::Ok(_) => None,
            CallOutcome::Failed(e)
            | CallOutcome::TimedOut(e)
            | CallOutcome::Cancelled(e)
            | CallOutcome::Depth(e)
            | CallOutcome::Skipped { error: e, .. } => Some(e),
        }
    }

    /// Whether it succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, CallOutcome::Ok(_))
    }

    /// Maps the value.
    pub fn map<W>(self, f: impl FnOnce(V) -> W) -> CallOutcome<W> {
        match self {
            CallOutcome::Ok(v) => CallOutcome::Ok(f(v)),
            CallOutcome::Failed(e) => CallOutcome::Failed(e),
            CallOutcome::TimedOut(e) => CallOutcome::TimedOut(e),
            CallOutcome::Cancelled(e) => CallOutcome::Cancelled(e),
            CallOutcome::Skipped { reason, error } => CallOutcome::Skipped { reason, error },
            CallOutcome::Depth(e) => CallOutcome::Depth(e),
        }
    }

    /// From a task's result as [`Scheduler::outcome`] gives it, and its skip reason.
    fn from_result(r: Result<V, TaskError>, skip: Option<&SkipReason>) -> Self {
        match r {
            Ok(v) => CallOutcome::Ok(v),
            Err(e) => match (skip, e.kind) {
                (Some(reason), _) => CallOutcome::Skipped {
                    reason: reason.clone(),
                    error: e,
                },
                (None, ErrorKind::TimedOut) => CallOutcome::TimedOut(e),
                (None, ErrorKind::Cancelled) => CallOutcome::Cancelled(e),
                (None, ErrorKind::Depth) => CallOutcome::Depth(e),
                (None, _) => CallOutcome::Failed(e),
            },
        }
    }
}

impl<V> Scheduler<V> {
    /// The outcome of finished task `task` for a caller, without moving its value out (every
    /// waiter of a cached call gets it).
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn call_outcome(&self, task: TaskId) -> Result<CallOutcome<&V>, ProtocolError> {
        let r = self.outcome(task)?;
        Ok(CallOutcome::from_result(r, self.skip_reason(task)))
    }

    /// As [`Scheduler::call_outcome`], moving the value out (for the one caller of a call).
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn take_call_outcome(&mut self, task: TaskId) -> Result<CallOutcome<V>, ProtocolError> {
        let r = self.take_outcome(task)?;
        Ok(CallOutcome::from_result(r, self.skip_reason(task)))
    }
}
