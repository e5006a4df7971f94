//! Lifecycle events, the hook mask, and what the scheduler says about failed, skipped and
//! cancelled tasks.

use crate::graph::TaskId;
use std::fmt;

mod text;
use std::sync::Arc;
use std::time::Duration;
pub use text::ReasonParseError;

/// The kind of an [`Event`]; also the name of the hook that receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// The run starts.
    ProcessBegin,
    /// A task's dependencies all succeeded.
    TaskReady,
    /// An attempt of a task is about to start.
    TaskBegin,
    /// An attempt failed and the task will be tried again.
    TaskRetry,
    /// The task succeeded.
    TaskSuccess,
    /// The task failed, timed out or was cancelled (after its last attempt).
    TaskFailure,
    /// The task will not run.
    TaskSkip,
    /// The task is finished, whatever its outcome.
    TaskCompletion,
    /// The run is finished.
    ProcessCompletion,
}

impl EventKind {
    /// Every kind, in lifecycle order.
    pub const ALL: [EventKind; 9] = [
        EventKind::ProcessBegin,
        EventKind::TaskReady,
        EventKind::TaskBegin,
        EventKind::TaskRetry,
        EventKind::TaskSuccess,
        EventKind::TaskFailure,
        EventKind::TaskSkip,
        EventKind::TaskCompletion,
        EventKind::ProcessCompletion,
    ];

    /// The snake_case name used by hooks and reports (`"task_begin"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ProcessBegin => "process_begin",
            EventKind::TaskReady => "task_ready",
            EventKind::TaskBegin => "task_begin",
            EventKind::TaskRetry => "task_retry",
            EventKind::TaskSuccess => "task_success",
            EventKind::TaskFailure => "task_failure",
            EventKind::TaskSkip => "task_skip",
            EventKind::TaskCompletion => "task_completion",
            EventKind::ProcessCompletion => "process_completion",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of event kinds that have hooks. The scheduler emits only those, and waits for each
/// to be acknowledged before moving its task on; the others cost nothing.
///
/// # Examples
///
/// ```
/// use legato::event::{EventKind, HookMask};
///
/// let m = HookMask::NONE.with(EventKind::TaskBegin);
/// assert!(m.contains(EventKind::TaskBegin));
/// assert!(!m.contains(EventKind::TaskReady));
/// assert!(HookMask::ALL.contains(EventKind::ProcessCompletion));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookMask(u16);

impl HookMask {
    /// No hooks.
    pub const NONE: HookMask = HookMask(0);
    /// Every event kind.
    pub const ALL: HookMask = HookMask((1 << 9) - 1);

    /// This mask plus `kind`.
    pub const fn with(self, kind: EventKind) -> HookMask {
        HookMask(self.0 | (1 << kind as u16))
    }

    /// Whether `kind` is in the mask.
    pub const fn contains(self, kind: EventKind) -> bool {
        self.0 & (1 << kind as u16) != 0
    }
}

/// What went wrong in one attempt (or why a task ended without succeeding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The task's body returned or raised an error.
    Failed,
    /// The task's body panicked (Rust) — reported like a failure, but distinguishable.
    Panicked,
    /// The attempt ran past its timeout and was cancelled.
    TimedOut,
    /// The attempt was cancelled (fail-fast, run cancel, run timeout, a hook failure).
    Cancelled,
    /// A call nested deeper than the run's `max_depth`: it failed at once, without running.
    Depth,
}

impl ErrorKind {
    /// A stable name: `"failed"`, `"panicked"`, `"timed_out"`, `"cancelled"`, `"depth"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Panicked => "panicked",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Depth => "depth",
        }
    }
}

/// The host's own error object, carried through the core untouched: a Rust error
/// (`Box<dyn Error>`), a Python exception, a handle to a JavaScript `Error`. The core never
/// looks inside; drivers and users downcast it back with [`TaskError::source_ref`].
pub type ErrorSource = Arc<dyn std::any::Any + Send + Sync>;

/// A task's error as the core sees it: a kind, a message, and optionally the host's own error
/// object ([`ErrorSource`]), so that nothing is turned into a string on the way.
///
/// Two errors are equal when their kind and message are; the source is not compared.
///
/// # Examples
///
/// ```
/// use legato::event::TaskError;
/// use std::sync::Arc;
///
/// #[derive(Debug)]
/// struct Disk(u32);
/// let e = TaskError::failed("disk full").with_source(Arc::new(Disk(28)));
/// assert_eq!(e.to_string(), "disk full");
/// assert_eq!(e.source_ref::<Disk>().unwrap().0, 28);
/// assert!(e.source_ref::<String>().is_none());
/// ```
#[derive(Clone)]
pub struct TaskError {
    /// What kind of error.
    pub kind: ErrorKind,
    /// The message shown to users.
    pub message: Arc<str>,
    /// The host's own error object, if the driver kept it.
    source: Option<ErrorSource>,
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("has_source", &self.source.is_some())
            .finish()
    }
}

impl PartialEq for TaskError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for TaskError {}

impl TaskError {
    /// An error of a given kind.
    pub fn new(kind: ErrorKind, message: impl Into<Arc<str>>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of the task's own making.
    pub fn failed(message: impl Into<Arc<str>>) -> Self {
        TaskError::new(ErrorKind::Failed, message)
    }

    /// A panic in the task's body.
    pub fn panicked(message: impl Into<Arc<str>>) -> Self {
        TaskError::new(ErrorKind::Panicked, message)
    }

    /// A cancellation (fail-fast, run cancel, run timeout, a hook failure, a caller gone).
    pub fn cancelled(message: impl Into<Arc<str>>) -> Self {
        TaskError::new(ErrorKind::Cancelled, message)
    }

    /// An attempt that ran past its timeout.
    pub fn timed_out(message: impl Into<Arc<str>>) -> Self {
        TaskError::new(ErrorKind::TimedOut, message)
    }

    /// Keeps the host's own error object beside the message.
    #[must_use]
    pub fn with_source(mut self, source: ErrorSource) -> Self {
        self.source = Some(source);
        self
    }

    /// The host's own error object, if any.
    pub fn source_obj(&self) -> Option<&ErrorSource> {
        self.source.as_ref()
    }

    /// The host's own error object, if there is one of type `T`.
    pub fn source_ref<T: std::any::Any>(&self) -> Option<&T> {
        self.source.as_deref()?.downcast_ref::<T>()
    }

    /// Whether this is a panic.
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panicked
    }

    /// Whether the attempt was cancelled (not a timeout).
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// Whether the attempt timed out.
    pub fn is_timeout(&self) -> bool {
        self.kind == ErrorKind::TimedOut
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A boxed Rust error kept as the source (see [`TaskError::with_source`]) is this error's
/// [`source`](std::error::Error::source), so Rust users get their own error type back by
/// downcasting.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync>;

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let b = self.source_ref::<BoxedSource>()?;
        Some(&**b as &(dyn std::error::Error + 'static))
    }
}

/// Why a run stops early, or why a task was cancelled or skipped because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// `fail_fast` and this task failed.
    FailFast {
        /// The task whose failure stopped the run.
        task: Arc<str>,
    },
    /// Cancelled from outside (a run handle, Ctrl-C, KeyboardInterrupt).
    Cancelled,
    /// The run's own timeout expired.
    TimedOut(Duration),
    /// An Orchestrator's `main` raised: the calls it left running are cancelled.
    MainFailed,
    /// A hook raised.
    HookFailed {
        /// The event whose hook raised.
        event: EventKind,
        /// The hook's error message.
        message: Arc<str>,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::FailFast { task } => write!(f, "fail-fast: task \"{task}\" failed"),
            StopReason::Cancelled => f.write_str("run cancelled"),
            StopReason::MainFailed => f.write_str("main failed"),
            StopReason::TimedOut(d) => write!(f, "run timed out after {}", fmt_duration(*d)),
            StopReason::HookFailed { event, message } => {
                write!(f, "hook for event \"{event}\" failed: {message}")
            }
        }
    }
}

/// Why a task did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A dependency (directly or further up) failed, timed out or was cancelled.
    DependencyFailed {
        /// The task whose failure caused the skip.
        dependency: Arc<str>,
    },
    /// The run stopped before the task could start.
    Stopped(StopReason),
    /// The task's condition (`when`) was false: the branch not taken.
    ConditionFalse,
    /// Its dependencies ended without meeting its trigger rule, none of them by failing (one was
    /// skipped by a condition or trigger rule): the branch not taken.
    NotTriggered {
        /// The task's trigger rule.
        rule: crate::policy::Trigger,
    },
    /// The task succeeded in the run being resumed: it is not run again, its result is
    /// reused, and it ends `succeeded` (with this reason on its `task_skip` event).
    Resumed,
}

impl SkipReason {
    /// Whether the skip is a branch not taken — by a condition or a trigger rule — rather than
    /// a failure upstream or a stop. A run whose tasks all succeeded or were skipped so is ok.
    pub fn is_not_taken(&self) -> bool {
        matches!(
            self,
            SkipReason::ConditionFalse | SkipReason::NotTriggered { .. }
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::DependencyFailed { dependency } => {
                write!(f, "dependency \"{dependency}\" failed")
            }
            SkipReason::Stopped(r) => r.fmt(f),
            SkipReason::ConditionFalse => f.write_str("condition false"),
            SkipReason::NotTriggered { rule } => write!(f, "trigger rule {rule} not met"),
            SkipReason::Resumed => f.write_str("resumed"),
        }
    }
}

/// The final status of a task (and its status while the run goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Waiting for dependencies.
    Pending,
    /// Dependencies done; waiting for a slot, a sequence key, or a retry delay.
    Ready,
    /// An attempt is running.
    Running,
    /// Succeeded.
    Succeeded,
    /// Failed after its last attempt.
    Failed,
    /// Its last attempt timed out.
    TimedOut,
    /// Did not run.
    Skipped,
    /// Cancelled while running (or explicitly cancelled).
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order (its place here is its numeric code, see
    /// [`host::code`](crate::host::code)).
    pub const ALL: [Status; 8] = [
        Status::Pending,
        Status::Ready,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::TimedOut,
        Status::Skipped,
        Status::Cancelled,
    ];

    /// The stable lowercase name (`"succeeded"`, `"timed_out"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Ready => "ready",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }

    /// Whether the task is finished.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Succeeded
                | Status::Failed
                | Status::TimedOut
                | Status::Skipped
                | Status::Cancelled
        )
    }

    /// Whether the task ended without succeeding after it started (failed, timed out, cancelled).
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failed | Status::TimedOut | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle event. Payloads carry what the core knows; drivers add the host's own values
/// (the shared context, results, error objects) when they call hooks.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The run starts.
    ProcessBegin,
    /// A task's dependencies all succeeded.
    TaskReady {
        /// The task.
        task: TaskId,
    },
    /// An attempt is about to start.
    TaskBegin {
        /// The task.
        task: TaskId,
        /// The attempt number, from 1.
        attempt: u32,
    },
    /// An attempt failed; another follows after `delay`.
    TaskRetry {
        /// The task.
        task: TaskId,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Its error.
        error: TaskError,
        /// The wait before the next attempt.
        delay: Duration,
    },
    /// The task succeeded.
    TaskSuccess {
        /// The task.
        task: TaskId,
        /// From the first attempt's start to the end.
        duration: Duration,
    },
    /// The task failed, timed out or was cancelled.
    TaskFailure {
        /// The task.
        task: TaskId,
        /// From the first attempt's start to the end (zero if it never started).
        duration: Duration,
        /// The last error.
        error: TaskError,
    },
    /// The task will not run.
    TaskSkip {
        /// The task.
        task: TaskId,
        /// Why.
        reason: SkipReason,
    },
    /// The task is finished.
    TaskCompletion {
        /// The task.
        task: TaskId,
        /// From the first attempt's start to the end.
        duration: Duration,
        /// Its final status.
        status: Status,
        /// Its last error, if it did not succeed.
        error: Option<TaskError>,
    },
    /// The run is finished.
    ProcessCompletion {
        /// From the run's start to now.
        total: Duration,
    },
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::ProcessBegin => EventKind::ProcessBegin,
            Event::TaskReady { .. } => EventKind::TaskReady,
            Event::TaskBegin { .. } => EventKind::TaskBegin,
            Event::TaskRetry { .. } => EventKind::TaskRetry,
            Event::TaskSuccess { .. } => EventKind::TaskSuccess,
            Event::TaskFailure { .. } => EventKind::TaskFailure,
            Event::TaskSkip { .. } => EventKind::TaskSkip,
            Event::TaskCompletion { .. } => EventKind::TaskCompletion,
            Event::ProcessCompletion { .. } => EventKind::ProcessCompletion,
        }
    }

    /// The task the event is about, if any.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Event::ProcessBegin | Event::ProcessCompletion { .. } => None,
            Event::TaskReady { task }
            | Event::TaskBegin { task, .. }
            | Event::TaskRetry { task, .. }
            | Event::TaskSuccess { task, .. }
            | Event::TaskFailure { task, .. }
            | Event::TaskSkip { task, .. }
            | Event::TaskCompletion { task, .. } => Some(*task),
        }
    }
}

/// Formats a duration the way legato shows durations to people: `850ms`, `1.25s`, `2m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        let t = format!("{s:.2}");
        format!("{}s", t.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(
            SkipReason::DependencyFailed {
                dependency: "step2".into()
            }
            .to_string(),
            "dependency \"step2\" failed"
        );
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(fmt_duration(Duration::from_millis(1250)), "1.25s");
        assert_eq!(fmt_duration(Duration::from_secs(2)), "2s");
        assert_eq!(fmt_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            StopReason::TimedOut(Duration::from_millis(1500)).to_string(),
            "run timed out after 1.5s"
        );
        for k in EventKind::ALL {
            assert!(HookMask::ALL.contains(k));
            assert!(!HookMask::NONE.contains(k));
        }
    }
}
