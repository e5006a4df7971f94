//! One neutral hook payload built from each event.

use crate::event::{Event, EventKind, SkipReason, Status, TaskError};
use crate::graph::TaskId;
use crate::scheduler::Scheduler;
use std::time::Duration;

/// What the hooks of one event receive, before a door turns it into host objects (a Python
/// event object, a JS object, a Rust [`HookEvent`](crate::HookEvent)). Built once, here, so
/// that every door shows the same fields with the same values; a door adds only what it
/// alone holds — the shared `context`, the `result` as a host object, the report, wall-clock
/// times — where [`Payload::FIELDS`] lists them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Payload<'a, V> {
    /// The event's kind.
    pub kind: EventKind,
    /// The task, for task events.
    pub task: Option<TaskId>,
    /// The task's name (empty for process events).
    pub name: &'a str,
    /// `task_begin`: the attempt starting; `task_retry`: the attempt that failed; else 0.
    pub attempt: u32,
    /// When it happened, since the run started (`process_begin`'s time, `task_begin`'s
    /// start time).
    pub at: Duration,
    /// `task_success` / `task_failure` / `task_completion`: the task's duration;
    /// `process_completion`: the run's total.
    pub duration: Option<Duration>,
    /// `task_retry`: the wait before the next attempt.
    pub delay: Option<Duration>,
    /// `task_completion`: the final status.
    pub status: Option<Status>,
    /// `task_retry`: that attempt's error; `task_failure`: the task's; `task_completion`: the
    /// last attempt's — none for a task that succeeded, after retries too (rule 12), or was
    /// skipped. The host's own error object is its [`TaskError::source_ref`].
    pub error: Option<&'a TaskError>,
    /// `task_skip`: why it does not run.
    pub reason: Option<&'a SkipReason>,
    /// `task_success`: the value (a door hands its host object).
    pub result: Option<&'a V>,
}

impl<'a, V> Payload<'a, V> {
    /// The payload's field names per event kind, indexed by [`code::kind`](super::code::kind)
    /// (DESIGN's event table; Node spells them in camelCase).
    pub const FIELDS: [&'static [&'static str]; 9] = [
        &["time", "context"],
        &["name"],
        &["name", "start_time", "attempt", "context"],
        &["name", "attempt", "error", "delay"],
        &["name", "duration", "result", "context"],
        &["name", "duration", "error", "context"],
        &["name", "reason"],
        &["name", "duration", "status", "error", "context"],
        &["total_duration", "report", "context"],
    ];

    /// The payload of `event`, emitted by `sched` (the scheduler's time is the event's).
    pub fn new(sched: &'a Scheduler<V>, event: &'a Event) -> Self {
        let task = event.task();
        let mut p = Payload {
            kind: event.kind(),
            task,
            name: task.map_or("", |t| sched.name(t)),
            attempt: 0,
            at: sched.now(),
            duration: None,
            delay: None,
            status: None,
            error: None,
            reason: None,
            result: None,
        };
        match event {
            Event::ProcessBegin => p.at = Duration::ZERO,
            Event::TaskBegin { attempt, .. } => p.attempt = *attempt,
            Event::TaskRetry {
                attempt,
                error,
                delay,
                ..
            } => {
                p.attempt = *attempt;
                p.error = Some(error);
                p.delay = Some(*delay);
            }
            Event::TaskSuccess { task, duration } => {
                p.duration = Some(*duration);
                p.result = sched.value(*task);
            }
            Event::TaskFailure {
                duration, error, ..
            } => {
                p.duration = Some(*duration);
                p.error = Some(error);
            }
            Event::TaskSkip { reason, .. } => p.reason = Some(reason),
            Event::TaskCompletion {
                duration,
                status,
                error,
                ..
            } => {
                p.duration = Some(*duration);
                p.status = Some(*status);
                p.error = error.as_ref().filter(|_| status.is_failure());
            }
            Event::ProcessCompletion { total } => p.duration = Some(*total),
            Event::TaskReady { .. } => {}
        }
        p
    }
}
