//! The scheduler: a deterministic, sans-IO state machine.
//!
//! It does no I/O and owns no threads, timers or futures. A driver feeds it inputs — the run
//! starts, an attempt finished, time advanced, a hook finished, cancel — and performs the
//! [`Action`]s it hands out: start or cancel an attempt, resume a task that awaited children,
//! call the hooks of an event, and, when [`Scheduler::next_deadline`] says so, wake it up later.
//! Every decision (readiness, order, `max_parallel`, sequences, retries and backoff, timeouts,
//! skips, fail-fast, dynamic children, hook order) is made here, once, for every front door.
//!
//! Time is a [`Duration`] since the run started, supplied by the driver: a real clock in
//! production, a virtual one in tests.
//!
//! # Examples
//!
//! Driving a two-task chain by hand, as a driver would:
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//! use legato::scheduler::{Action, Outcome, RunOptions, Scheduler};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("build"))?;
//! b.add(TaskSpec::new("test").after(["build"]))?;
//! let graph = Arc::new(b.build()?);
//!
//! let mut s: Scheduler<&str> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default());
//! s.start(Duration::ZERO);
//! let mut started = Vec::new();
//! while let Some(action) = s.next_action() {
//!     if let Action::Start { task, attempt } = action {
//!         started.push(graph.name(task).to_owned());
//!         s.attempt_finished(task, attempt, Outcome::Ok("done"), Duration::from_millis(5));
//!     }
//! }
//! assert_eq!(started, ["build", "test"]);
//! assert!(s.is_finished());
//! assert!(s.report().ok());
//! # Ok::<(), legato::graph::GraphError>(())
//! ```

mod state;

pub use state::Scheduler;

use crate::event::{Event, EventKind, HookMask, TaskError};
use crate::graph::TaskId;
use std::time::Duration;

/// Options of one run.
///
/// # Examples
///
/// ```
/// use legato::scheduler::RunOptions;
/// use std::time::Duration;
///
/// let o = RunOptions::default().max_parallel(4).fail_fast(true).timeout(Duration::from_secs(60));
/// assert_eq!(o.get_max_parallel(), Some(4));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    max_parallel: Option<usize>,
    fail_fast: bool,
    timeout: Option<Duration>,
    hooks: HookMask,
    seed: u64,
}

impl RunOptions {
    /// At most `n` attempts run at once (`n` ≥ 1; 0 is taken as 1). Default: unlimited.
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = Some(n.max(1));
        self
    }

    /// Stop everything at the first failure: running tasks are cancelled, the rest skipped.
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// A limit on the whole run; when it expires everything is cancelled.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The events that have hooks (only those are emitted, and each is awaited).
    pub fn hooks(mut self, mask: HookMask) -> Self {
        self.hooks = mask;
        self
    }

    /// The seed of the random source used for backoff jitter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The concurrency limit, if any.
    pub fn get_max_parallel(&self) -> Option<usize> {
        self.max_parallel
    }

    /// Whether fail-fast is on.
    pub fn get_fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// The run timeout, if any.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The hook mask.
    pub fn get_hooks(&self) -> HookMask {
        self.hooks
    }
}

/// The result of one attempt, as the driver reports it.
#[derive(Debug)]
pub enum Outcome<V> {
    /// The attempt succeeded with a value (an opaque handle to the core).
    Ok(V),
    /// The attempt failed.
    Err {
        /// What went wrong.
        error: TaskError,
        /// Whether the task's retry predicate allows another attempt (drivers evaluate
        /// `retry_if`; `true` when there is none). The core still enforces `retries`.
        retryable: bool,
    },
}

impl<V> Outcome<V> {
    /// A retryable failure with a message.
    pub fn fail(message: impl Into<std::sync::Arc<str>>) -> Self {
        Outcome::Err {
            error: TaskError::failed(message),
            retryable: true,
        }
    }
}

/// Identifies one emitted event, so the driver can say when its hooks are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookToken {
    pub(crate) task: u32,
    pub(crate) seq: u32,
    pub(crate) kind: EventKind,
}

impl HookToken {
    /// The event kind this token belongs to.
    pub fn kind(&self) -> EventKind {
        self.kind
    }
}

/// What the scheduler asks its driver to do.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Start attempt `attempt` (from 1) of `task`; report it with [`Scheduler::attempt_finished`].
    Start {
        /// The task.
        task: TaskId,
        /// The attempt number.
        attempt: u32,
    },
    /// Stop attempt `attempt` of `task` for real (drop the future, kill the process, fire the
    /// abort signal). Its outcome is already decided; a later report of it is ignored.
    Cancel {
        /// The task.
        task: TaskId,
        /// The attempt number.
        attempt: u32,
        /// `true` for a timeout, `false` for a cancellation.
        timed_out: bool,
    },
    /// A task that awaited its children may go on: it holds a slot again.
    Resume {
        /// The task.
        task: TaskId,
    },
    /// Call the hooks of `event`, then [`Scheduler::hook_done`] (or
    /// [`Scheduler::hook_failed`]) with `token`. Events are only emitted for kinds in the run's
    /// [`HookMask`].
    Emit {
        /// The event.
        event: Event,
        /// Pass back when the hooks are done.
        token: HookToken,
    },
    /// A dynamic task (see [`Scheduler::spawn`]) is finished, whatever its status: its value
    /// or error can be read now, and whoever awaits it can be woken.
    Settled {
        /// The task.
        task: TaskId,
    },
    /// The run is over: every task is finished and `process_completion` was handled.
    Finished,
}
