//! One task's state in a run, kept small (a run holds one per task).

use crate::event::{ErrorKind, SkipReason, Status, TaskError};
use crate::graph::TaskId;
use std::sync::Arc;
use std::time::Duration;

/// One attempt of a task, in run time (from the run's start): a record of a task's attempt
/// log, kept by the scheduler and read in reports (also as `legato::report::AttemptRecord`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// When the attempt started.
    pub start: Duration,
    /// When it ended (`None` while it runs).
    pub end: Option<Duration>,
    /// Its error, if it did not succeed.
    pub error: Option<TaskError>,
}

impl AttemptRecord {
    /// How the attempt ended, as a task status: `succeeded`, `failed` (also for a panic),
    /// `timed_out`, `cancelled`, or `running` while it has no end.
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::{Status, TaskError};
    /// use legato::scheduler::AttemptRecord;
    /// use std::time::Duration;
    ///
    /// let a = AttemptRecord { start: Duration::ZERO, end: Some(Duration::from_millis(5)), error: None };
    /// assert_eq!(a.status(), Status::Succeeded);
    /// let b = AttemptRecord { error: Some(TaskError::failed("boom")), ..a.clone() };
    /// assert_eq!(b.status(), Status::Failed);
    /// let c = AttemptRecord { end: None, error: None, ..a };
    /// assert_eq!(c.status(), Status::Running);
    /// ```
    pub fn status(&self) -> Status {
        match (&self.error, self.end) {
            (Some(e), _) => match e.kind {
                ErrorKind::TimedOut => Status::TimedOut,
                ErrorKind::Cancelled => Status::Cancelled,
                ErrorKind::Failed | ErrorKind::Panicked | ErrorKind::Depth => Status::Failed,
            },
            (None, Some(_)) => Status::Succeeded,
            (None, None) => Status::Running,
        }
    }

    /// From its start to its end; zero while it runs.
    pub fn duration(&self) -> Duration {
        self.end
            .map_or(Duration::ZERO, |e| e.saturating_sub(self.start))
    }
}

/// [`Task::dep_ends`]: a dependency succeeded.
pub(super) const DEP_SUCCEEDED: u8 = 1;
/// [`Task::dep_ends`]: a dependency failed, timed out, was cancelled or was skipped because
/// something upstream failed or the run stopped.
pub(super) const DEP_FAILED: u8 = 2;
/// [`Task::dep_ends`]: a dependency was skipped by a condition or a trigger rule.
pub(super) const DEP_NOT_TAKEN: u8 = 4;

/// "No task" in a `u32` task index field.
pub(super) const NONE: u32 = u32::MAX;

/// Where a task is in its lifecycle. Stages ending in `Hook` wait for a hook acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Not part of this run (not selected).
    Excluded,
    /// Waiting for dependencies.
    Pending,
    ReadyHook,
    /// Ready, its condition being evaluated by the driver ([`Command::Evaluate`](super::Command::Evaluate)).
    Condition,
    /// In the ready queue.
    Queued,
    /// Dequeued, but a sequence key is held by another task.
    KeyWait,
    BeginHook,
    Running,
    RetryHook,
    /// Waiting out the backoff delay.
    Backoff,
    OutcomeHook,
    CompletionHook,
    SkipHook,
    Done,
}

/// One task's state.
///
/// Kept small, because a run holds one per task (a million in the `wide-1m` benchmark): what
/// most tasks never need lives in [`Rare`], allocated the first time it is needed, times are
/// stored as [`OptTime`], and the attempt log of a task whose only attempt did not fail is
/// implied rather than stored (see [`Rare::log`]). A task with default options that succeeds
/// at its first attempt allocates nothing here.
#[derive(Debug)]
pub(super) struct Task<V> {
    pub(super) parent: u32,
    pub(super) stage: Stage,
    pub(super) status: Status,
    /// Dependencies not yet succeeded.
    pub(super) pending: u32,
    /// Attempts started so far (as many as records in the attempt log).
    pub(super) attempt: u32,
    /// Outstanding awaits on children; the task holds no slot while > 0.
    pub(super) waits: u32,
    /// Bumped whenever an emitted event's continuation must be dropped.
    pub(super) hook_seq: u32,
    pub(super) holds_slot: bool,
    /// For a task whose trigger rule waits for every dependency: what the dependencies that
    /// ended so far did ([`DEP_SUCCEEDED`], [`DEP_FAILED`], [`DEP_NOT_TAKEN`] bits).
    pub(super) dep_ends: u8,
    /// When the first attempt started.
    pub(super) first_start: OptTime,
    /// When the task finished.
    pub(super) end: OptTime,
    pub(super) value: Option<V>,
    /// What few tasks need; `None` until one of its fields is first set.
    pub(super) rare: Option<Box<Rare>>,
}

/// The part of a [`Task`] that most tasks never need: sequence keys, errors, skips, dynamic
/// children, deferred cancels, retries.
#[derive(Debug, Default)]
pub(super) struct Rare {
    /// The task's sequence keys (interned).
    pub(super) keys: Box<[u32]>,
    pub(super) error: Option<TaskError>,
    pub(super) skip: Option<SkipReason>,
    /// For skips caused by a failure: the task that failed first.
    pub(super) root_cause: Option<Arc<str>>,
    pub(super) children: Vec<TaskId>,
    /// For a dynamic task: how deep its call is nested (1 for a call of `main`).
    pub(super) depth: u32,
    /// The joins waiting for this task (see `Scheduler::join`), by join id.
    pub(super) joins: Vec<u32>,
    /// The fail-fast group this task belongs to, if any (see `Scheduler::group`).
    pub(super) group: Option<u32>,
    /// For a dynamic task called by a running task: the caller's attempt at the call (the
    /// outcome wakes the caller only while that attempt is current).
    pub(super) caller_attempt: u32,
    /// The task that held a sequence key this task last waited for.
    pub(super) waited_for: Option<TaskId>,
    /// A cancel or skip that arrived while one of the task's hooks was running: applied when
    /// that hook is done, so a task's hooks never overlap (rule 9).
    pub(super) deferred: Option<Deferred>,
    /// When the next attempt may start (after a failed attempt and its backoff delay).
    pub(super) next_at: Duration,
    /// The attempt log, once it is explicit; empty while it is implied.
    ///
    /// The log is implied while no attempt has ended with an error: then the task has made
    /// at most one attempt, and that attempt's record is `{ start: first_start, end: end,
    /// error: None }` (a successful attempt is the task's last, so it ends when the task
    /// does). The log is made explicit, with that record, before an attempt ends with an
    /// error; from then on every attempt has its record here.
    pub(super) log: thin_vec::ThinVec<AttemptRecord>,
}

impl<V> Task<V> {
    pub(super) fn new(keys: Box<[u32]>, parent: u32, stage: Stage, pending: u32) -> Self {
        Task {
            parent,
            stage,
            status: Status::Pending,
            pending,
            attempt: 0,
            waits: 0,
            hook_seq: 0,
            holds_slot: false,
            dep_ends: 0,
            first_start: OptTime::NONE,
            end: OptTime::NONE,
            value: None,
            rare: (!keys.is_empty()).then(|| {
                Box::new(Rare {
                    keys,
                    ..Rare::default()
                })
            }),
        }
    }

    /// The rare part, allocated if it was not yet.
    pub(super) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The task's sequence keys.
    pub(super) fn keys(&self) -> &[u32] {
        self.rare.as_ref().map_or(&[], |r| &r.keys)
    }

    /// The task's last error.
    pub(super) fn error(&self) -> Option<&TaskError> {
        self.rare.as_ref().and_then(|r| r.error.as_ref())
    }

    /// When the next attempt may start.
    pub(super) fn next_at(&self) -> Duration {
        self.rare.as_ref().map_or(Duration::ZERO, |r| r.next_at)
    }

    /// Whether the attempt log is implied (see [`Rare::log`]).
    pub(super) fn log_is_implied(&self) -> bool {
        self.rare.as_ref().is_none_or(|r| r.log.is_empty())
    }

    /// The one record of an implied attempt log, if the first attempt started.
    fn implied_record(&self) -> Option<AttemptRecord> {
        debug_assert!(self.attempt <= 1, "an implied log has at most one attempt");
        match self.first_start.get() {
            Some(start) if self.attempt > 0 => Some(AttemptRecord {
                start,
                end: self.end.get(),
                error: None,
            }),
            _ => None,
        }
    }

    /// The explicit attempt log, made so first if it is implied (with room for every attempt
    /// the task's `retries` allow, up to 8, so that retrying does not grow it record by record).
    pub(super) fn explicit_log(&mut self, retries: u32) -> &mut thin_vec::ThinVec<AttemptRecord> {
        if self.log_is_implied() {
            let room = (retries as usize).saturating_add(1).min(8);
            let mut log = thin_vec::ThinVec::with_capacity(room.max(1));
            log.extend(self.implied_record());
            self.rare().log = log;
        }
        &mut self.rare().log
    }
}

/// An `Option<Duration>` in 12 bytes aligned to 4 (an `Option<Duration>` takes 16 aligned to
/// 8), so that it packs beside a task's `u32` fields. Lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OptTime {
    pub(super) secs_hi: u32,
    pub(super) secs_lo: u32,
    /// The nanoseconds, or [`OptTime::NONE_NANOS`] for `None` (a `Duration`'s nanoseconds are
    /// below 10⁹).
    pub(super) nanos: u32,
}

impl OptTime {
    pub(super) const NONE_NANOS: u32 = u32::MAX;
    pub(super) const NONE: OptTime = OptTime {
        secs_hi: 0,
        secs_lo: 0,
        nanos: Self::NONE_NANOS,
    };

    pub(super) fn new(d: Duration) -> Self {
        let secs = d.as_secs();
        OptTime {
            secs_hi: (secs >> 32) as u32,
            secs_lo: secs as u32,
            nanos: d.subsec_nanos(),
        }
    }

    pub(super) fn get(self) -> Option<Duration> {
        (self.nanos != Self::NONE_NANOS).then(|| {
            let secs = (u64::from(self.secs_hi) << 32) | u64::from(self.secs_lo);
            Duration::new(secs, self.nanos)
        })
    }

    pub(super) fn is_none(self) -> bool {
        self.nanos == Self::NONE_NANOS
    }
}

/// See `Rare::deferred`.
#[derive(Debug)]
pub(super) enum Deferred {
    Cancel(TaskError),
    Skip(SkipReason),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run holds one `Task` per task (a million in `wide-1m`), so it must stay small. It took
    /// 272 bytes before the rare fields moved to `Rare` and times to `OptTime`, 96 before the
    /// name and the options moved out (a static task's are the graph's, a dynamic task's
    /// beside the states).
    #[test]
    fn a_task_is_small() {
        let size = std::mem::size_of::<Task<Arc<dyn std::any::Any + Send + Sync>>>();
        assert!(size <= 72, "a Task<Arc<dyn Any>> takes {size} bytes");
    }

    #[test]
    fn opt_time_holds_any_duration() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::new(1, 999_999_999),
            Duration::new(u64::from(u32::MAX) + 7, 5),
            Duration::MAX,
        ] {
            assert_eq!(OptTime::new(d).get(), Some(d));
            assert!(!OptTime::new(d).is_none());
        }
        assert_eq!(OptTime::NONE.get(), None);
        assert!(OptTime::NONE.is_none());
    }
}
