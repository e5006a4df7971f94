//! The scheduler: a deterministic, sans-IO state machine.
//!
//! It does no I/O and owns no threads, timers or futures. Every decision — readiness, order,
//! `max_parallel`, key limits (sequences are keys of capacity 1), conditions and trigger rules,
//! the priority order, retries and backoff, timeouts, skips, fail-fast, dynamic calls
//! (whom a finished child wakes, and when), hook order, and how inputs at one instant are
//! ordered — is made here, once, for every front door. A driver (the tokio driver in this
//! crate, the asyncio and worker-pool driver in the Python package, the event-loop driver in
//! the Node package) only forwards: it performs the [`Command`]s it is handed and reports what
//! happened. It is modelled on quinn-proto's `Connection`.
//!
//! # The protocol
//!
//! [`Scheduler`]'s public methods come in four groups; each method is in exactly one. Times
//! are [`Duration`]s since the run started, read from the host's clock (a real one in
//! production, a virtual one in tests), and never go back: an input with an earlier time is
//! taken at the run's current time.
//!
//! **Inputs** — what happened, and when:
//! [`new`](Scheduler::new) makes the run (it refuses invalid [`RunOptions`]);
//! [`with_spare`](Scheduler::with_spare) makes it in the memory an earlier run left ([`Spare`]),
//! [`restore`](Scheduler::restore) marks a task that succeeded in the run being resumed,
//! [`start`](Scheduler::start) starts it (emits `process_begin`, then the first tasks),
//! [`attempt_finished`](Scheduler::attempt_finished) reports an attempt's [`Outcome`],
//! [`hook_done`](Scheduler::hook_done), [`hook_failed`](Scheduler::hook_failed) and
//! [`hook_raised`](Scheduler::hook_raised) say the hooks of an emitted event returned or
//! raised, [`evaluated`](Scheduler::evaluated) gives a task's condition
//! ([`Command::Evaluate`]), [`advance`](Scheduler::advance) says the clock reached the deadline the run asked
//! for, [`cancel`](Scheduler::cancel) cancels the whole run and
//! [`cancel_task`](Scheduler::cancel_task) one task, [`hold`](Scheduler::hold) /
//! [`release`](Scheduler::release) keep the run open while the host may still spawn, and
//! [`handle`](Scheduler::handle) takes several inputs of one instant as [`Input`]s — the form
//! a driver that batches its crossings uses, and the one that orders them.
//!
//! **Inputs of one instant may be given in any order in one [`handle`](Scheduler::handle)
//! batch, with the same result**: the scheduler takes attempts that finished and hooks that are
//! done first, then resumes, releases and single-task cancels, then an outside cancel, and the
//! clock's advance ([`Input::Advance`]) last. So an attempt that finished at the instant of its
//! deadline succeeded, and a cancel that comes as the last task finished changes nothing. A
//! driver orders nothing: it gives what happened by now, timer included, as one batch.
//!
//! **Outputs** — what the driver must do:
//! [`next_command`](Scheduler::next_command) (until `None`) or
//! [`drain_commands`](Scheduler::drain_commands) hand out the [`Command`]s to perform, in
//! order; [`next_deadline`](Scheduler::next_deadline) is the one instant to arm a timer for.
//! `next_command` and `next_deadline` are `#[must_use]`, as is every [`Command`].
//!
//! **Calls, joins, groups and main** — routing between callers (see [`Scheduler::spawn`]):
//! [`spawn`](Scheduler::spawn) adds a dynamic task called by a running task, by `main` or by
//! the driver, [`join`](Scheduler::join) makes a caller wait for a task that exists (a cached
//! call), [`group`](Scheduler::group) makes calls a fail-fast group,
//! [`suspend`](Scheduler::suspend) / [`resume`](Scheduler::resume) bracket a running task's
//! wait for something outside the core, and [`start_main`](Scheduler::start_main) (instead of
//! `start`) / [`main_finished`](Scheduler::main_finished) run an Orchestrator's `main`. The
//! core says when each waiter gets its outcome ([`Command::Deliver`], [`Command::Joined`],
//! [`Command::Resume`]) and when `main` starts or is cancelled ([`Command::StartMain`],
//! [`Command::CancelMain`]).
//!
//! **Queries** — what the driver may read, never changing the run:
//! of a task, [`name`](Scheduler::name), [`name_arc`](Scheduler::name_arc),
//! [`status`](Scheduler::status), [`attempt`](Scheduler::attempt),
//! [`is_current_attempt`](Scheduler::is_current_attempt), [`options`](Scheduler::options),
//! [`value`](Scheduler::value), [`error`](Scheduler::error),
//! [`skip_reason`](Scheduler::skip_reason), [`parent`](Scheduler::parent),
//! [`outcome`](Scheduler::outcome) and [`call_outcome`](Scheduler::call_outcome); of the run,
//! [`task_id`](Scheduler::task_id), [`group_id`](Scheduler::group_id), [`task_count`](Scheduler::task_count),
//! [`graph`](Scheduler::graph), [`now`](Scheduler::now), [`running`](Scheduler::running),
//! [`is_finished`](Scheduler::is_finished), [`stop_reason`](Scheduler::stop_reason),
//! [`stop_error`](Scheduler::stop_error), [`first_failure`](Scheduler::first_failure),
//! [`group_failure`](Scheduler::group_failure),
//! [`main_started`](Scheduler::main_started) and [`report`](Scheduler::report); and those
//! that move results out instead of copying them:
//! [`take_outcome`](Scheduler::take_outcome),
//! [`take_call_outcome`](Scheduler::take_call_outcome), [`take_value`](Scheduler::take_value),
//! and, at the end, [`into_report`](Scheduler::into_report),
//! [`into_report_and_spare`](Scheduler::into_report_and_spare) (the report, and the run's
//! memory for a later run) and [`into_parts`](Scheduler::into_parts).
//!
//! The order to call them, as for quinn-proto's `Connection`:
//! 1. `new`, then `start(now)` (or `start_main(now)` for a run with a `main`);
//! 2. after every input — including a call, a join or a group — take every command with
//!    `next_command` until `None` (or `drain_commands`) and perform them in order, then
//!    (re)arm the one host timer for `next_deadline` (none if `None`);
//! 3. as things happen — an attempt ends, a hook returns, the timer fires, the host cancels,
//!    a running task calls another — give the input (one at a time, or as one `handle` batch
//!    per instant), then go to 2;
//! 4. after [`Command::Finished`] the run is over: read the report (`report`, or
//!    `into_report` / `into_parts` to move it and the values out).
//!
//! Queries may be called at any time between inputs.
//!
//! Every id is one the core handed out: a [`TaskId`] from the graph, a [`Command`],
//! [`spawn`](Scheduler::spawn) or [`task_id`](Scheduler::task_id) (how a number that crossed
//! to a host comes back), a [`HookToken`] from [`Command::Emit`], a [`JoinId`] or [`GroupId`].
//! An input naming one the run does not know (from another run, [`TaskId::NONE`], a number
//! that came back wrong from a host) is refused with a [`ProtocolError`], never a panic; a
//! query reads it as a task that never ran (an empty name, [`Status::Pending`](crate::event::Status::Pending),
//! attempt 0, the default options, `None` for the rest).
//!
//! # Examples
//!
//! Driving a two-task chain by hand, as a driver would:
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//! use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("build"))?;
//! b.add(TaskSpec::new("test").after(["build"]))?;
//! let graph = Arc::new(b.build()?);
//!
//! let mut s: Scheduler<&str> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default())?;
//! s.start(Duration::ZERO);
//! let mut started = Vec::new();
//! while let Some(command) = s.next_command() {
//!     if let Command::Start { task, attempt } = command {
//!         started.push(graph.name(task).to_owned());
//!         s.attempt_finished(task, attempt, Outcome::Ok("done"), Duration::from_millis(5))?;
//!     }
//! }
//! assert_eq!(started, ["build", "test"]);
//! assert!(s.is_finished());
//! assert!(s.report().ok());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A task calling another (Pynenc's tasks calling tasks): the caller gives its slot back while
//! it waits, and the core says when to hand it the child's outcome.
//!
//! ```
//! use legato::graph::GraphBuilder;
//! use legato::policy::TaskOptions;
//! use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let graph = Arc::new(GraphBuilder::new().build()?);
//! let mut s: Scheduler<u64> =
//!     Scheduler::new(graph.clone(), &graph.all(), RunOptions::default().max_parallel(1))?;
//! let t0 = Duration::ZERO;
//! s.hold(); // the host's `main` may spawn
//! s.start(t0);
//! let opts = Arc::new(TaskOptions::default());
//! let parent = s.spawn(None, "fib(2)".into(), opts.clone(), t0)?;
//! let Some(Command::Start { task, attempt: 1 }) = s.next_command() else { panic!() };
//! assert_eq!(task, parent);
//! // Attempt 1 of the parent calls a child; with max_parallel(1) it must give its slot to it.
//! let child = s.spawn(Some((parent, 1)), "fib(1)".into(), opts, t0)?;
//! let Some(Command::Start { task, .. }) = s.next_command() else { panic!() };
//! assert_eq!(task, child);
//! s.attempt_finished(child, 1, Outcome::Ok(1), t0)?;
//! // The child's outcome goes to its caller once the caller holds a slot again.
//! let Some(Command::Deliver { task }) = s.next_command() else { panic!() };
//! assert_eq!(task, child);
//! assert_eq!(s.take_outcome(child)?.unwrap(), 1);
//! s.attempt_finished(parent, 1, Outcome::Ok(1), t0)?;
//! let Some(Command::Deliver { task }) = s.next_command() else { panic!() };
//! assert_eq!(task, parent);
//! s.release(t0);
//! assert!(matches!(s.next_command(), Some(Command::Finished)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod facts;
mod keys;
#[cfg(test)]
mod protocol_docs;
mod state;
mod task;
mod timers;

pub use state::{GroupId, JoinId, Scheduler, Spare, DEFAULT_MAX_DEPTH};
pub use task::AttemptRecord;

use crate::event::{Event, EventKind, HookMask, TaskError};
use crate::graph::TaskId;
use crate::policy::{OptionError, Priority};
use std::collections::HashMap;
use std::sync::Arc;
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
    max_depth: Option<u32>,
    /// Key capacities (`limits`); a key not listed has capacity 1.
    limits: Arc<Vec<(String, u32)>>,
    priority: Priority,
    /// Known costs by task name (a previous report's durations), for `critical_path`.
    costs: Arc<HashMap<Arc<str>, Duration>>,
}

impl RunOptions {
    /// At most `n` attempts run at once (`n` ≥ 1: [`Scheduler::new`] refuses 0). Default:
    /// unlimited.
    #[must_use]
    pub fn max_parallel(mut self, n: usize) -> Self {
        self.max_parallel = Some(n);
        self
    }

    /// Stop everything at the first failure: running tasks are cancelled, the rest skipped.
    #[must_use]
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// A limit on the whole run; when it expires everything is cancelled. A limit too long for
    /// the clock to count means none.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The events that have hooks (only those are emitted, and each is awaited).
    #[must_use]
    pub fn hooks(mut self, mask: HookMask) -> Self {
        self.hooks = mask;
        self
    }

    /// The seed of the random source used for backoff jitter.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// At most `capacity` tasks that use `key` ([`TaskOptions::uses`](crate::policy::TaskOptions::uses))
    /// run at once (a key not given has capacity 1; `capacity` ≥ 1: [`Scheduler::new`] refuses
    /// 0). Setting a key again replaces its capacity.
    #[must_use]
    pub fn limit(mut self, key: impl Into<String>, capacity: u32) -> Self {
        let key = key.into();
        let limits = Arc::make_mut(&mut self.limits);
        match limits.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = capacity,
            None => limits.push((key, capacity)),
        }
        self
    }

    /// The order ready tasks start in when slots are short. Default: [`Priority::Fifo`].
    #[must_use]
    pub fn priority(mut self, p: Priority) -> Self {
        self.priority = p;
        self
    }

    /// Known task costs by name, for [`Priority::CriticalPath`]: a task without a `cost`
    /// option costs what it took here (a previous run's durations,
    /// [`RunReport::costs`](crate::report::RunReport::costs)).
    #[must_use]
    pub fn costs(mut self, costs: HashMap<Arc<str>, Duration>) -> Self {
        self.costs = Arc::new(costs);
        self
    }

    /// The key capacities given with [`RunOptions::limit`].
    pub fn get_limits(&self) -> &[(String, u32)] {
        &self.limits
    }

    /// The priority order.
    pub fn get_priority(&self) -> Priority {
        self.priority
    }

    /// The known costs given with [`RunOptions::costs`].
    pub fn get_costs(&self) -> &HashMap<Arc<str>, Duration> {
        &self.costs
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

    /// Checks the options: `max_parallel`, `max_depth` and every key's capacity at least 1, a
    /// run timeout greater than zero.
    ///
    /// # Errors
    ///
    /// [`OptionError`] naming the option.
    pub fn validate(&self) -> Result<(), OptionError> {
        if self.max_parallel == Some(0) {
            return Err(OptionError::value(
                "max_parallel",
                "must be a whole number >= 1, got 0",
            ));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(OptionError::value("timeout", "must be greater than zero"));
        }
        if self.max_depth == Some(0) {
            return Err(OptionError::value(
                "max_depth",
                "must be a whole number >= 1, got 0",
            ));
        }
        if let Some((key, _)) = self.limits.iter().find(|(_, c)| *c == 0) {
            return Err(OptionError::value(
                format!("limits[{key:?}]"),
                "must be a whole number >= 1, got 0",
            ));
        }
        Ok(())
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
    #[must_use]
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

/// What the scheduler asks its driver to do. Perform each in the order given.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "a driver must perform every command"]
pub enum Command {
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
    /// A task that [`suspend`](Scheduler::suspend)ed may go on (it holds a slot again).
    Resume {
        /// The task.
        task: TaskId,
    },
    /// Call the hooks of `event`, then [`Scheduler::hook_done`] (or
    /// [`Scheduler::hook_failed`]) with `token`. Events are only emitted for kinds in the run's
    /// [`HookMask`].
    Emit {
        /// The event (boxed, so that a command takes 16 bytes: a wide graph queues a million
        /// `Start`s at once, and events are only emitted for hooks the run has).
        event: Box<Event>,
        /// Pass back when the hooks are done.
        token: HookToken,
    },
    /// A dynamic task (see [`Scheduler::spawn`]) is finished, whatever its status, and whoever
    /// called it gets its outcome now: take it with [`Scheduler::take_outcome`] and hand it
    /// to the call's waiter. The core has decided the moment: a caller that is a running task
    /// gets the last outcome it awaits only once it holds a slot again.
    Deliver {
        /// The dynamic task.
        task: TaskId,
    },
    /// A [`Scheduler::join`] is over: hand `task`'s outcome ([`Scheduler::outcome`]) to the
    /// waiter of `join`. The core has decided the moment, as for [`Command::Deliver`].
    Joined {
        /// The join whose waiter gets the outcome.
        join: JoinId,
        /// The task it waited for.
        task: TaskId,
    },
    /// Start the run's `main` (see [`Scheduler::start_main`]): every `process_begin` hook is
    /// done. Report its end with [`Scheduler::main_finished`].
    StartMain,
    /// The run stopped while `main` runs: cancel `main` (cancel its asyncio task, fire its
    /// AbortSignal, drop its future) and do not wait for it; the run's error is the stop's
    /// ([`Scheduler::stop_reason`]).
    CancelMain,
    /// `task` is ready and has a condition ([`TaskOptions::conditional`](crate::policy::TaskOptions::conditional)):
    /// evaluate its `when` predicate once (with the task's context: the results so far, the
    /// state), then report it with [`Scheduler::evaluated`]. The task holds no slot meanwhile.
    Evaluate {
        /// The task.
        task: TaskId,
    },
    /// The run is over: every task is finished and `process_completion` was handled.
    Finished,
}

/// One input of a batch given to [`Scheduler::handle`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Input<V> {
    /// As [`Scheduler::attempt_finished`].
    Finished {
        /// The task.
        task: TaskId,
        /// The attempt.
        attempt: u32,
        /// Its outcome.
        outcome: Outcome<V>,
    },
    /// As [`Scheduler::hook_done`].
    HookDone(HookToken),
    /// As [`Scheduler::hook_failed`].
    HookFailed(HookToken, std::sync::Arc<str>),
    /// As [`Scheduler::hook_raised`]: the error keeps the hook's own object as its source.
    HookRaised(HookToken, TaskError),
    /// As [`Scheduler::resume`].
    Resume(TaskId),
    /// As [`Scheduler::cancel_task`].
    CancelTask(TaskId),
    /// As [`Scheduler::release`].
    Release,
    /// As [`Scheduler::cancel`].
    Cancel,
    /// As [`Scheduler::advance`]: the clock reached `now`; handled after every other input of
    /// the batch.
    Advance,
    /// As [`Scheduler::evaluated`].
    Evaluated(TaskId, Result<bool, TaskError>),
}

/// An input the run cannot take: it names a task or an event the run does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// No task of the run has this id.
    #[error("no task with id {0} in this run")]
    UnknownTask(u32),
    /// The hook token was not handed out by this run.
    #[error("hook token for task {0} was not handed out by this run")]
    UnknownToken(u32),
}

impl ProtocolError {
    /// A stable name of the error's kind: `"unknown_task"`, `"unknown_token"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::UnknownTask(_) => "unknown_task",
            ProtocolError::UnknownToken(_) => "unknown_token",
        }
    }
}
