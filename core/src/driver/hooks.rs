//! Hooks of the Rust front door: closures called on lifecycle events.

use crate::event::{EventKind, HookMask, SkipReason, Status, TaskError};
use crate::report::RunReport;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What a hook receives. Fields that do not apply to an event are `None` or zero.
///
/// | event | fields set |
/// |---|---|
/// | `process_begin` | `time`, `state` |
/// | `task_ready` | `name` |
/// | `task_begin` | `name`, `time` (start), `attempt`, `state` |
/// | `task_retry` | `name`, `attempt` (the failed one), `error`, `delay` |
/// | `task_success` | `name`, `duration`, `result`, `state` |
/// | `task_failure` | `name`, `duration`, `error`, `state` |
/// | `task_skip` | `name`, `reason` |
/// | `task_completion` | `name`, `duration`, `status`, `error`, `state` |
/// | `process_completion` | `duration` (total), `report`, `state` |
#[non_exhaustive]
pub struct HookEvent<'a, S> {
    /// The event.
    pub kind: EventKind,
    /// The task's name (empty for process events).
    pub name: &'a str,
    /// The attempt number (task_begin, task_retry).
    pub attempt: u32,
    /// When the event happened (wall clock).
    pub time: SystemTime,
    /// The task's duration so far, or the run's for `process_completion`.
    pub duration: Duration,
    /// The wait before the next attempt (task_retry).
    pub delay: Duration,
    /// The final status (task_completion).
    pub status: Option<Status>,
    /// The error (task_retry, task_failure, task_completion).
    pub error: Option<&'a TaskError>,
    /// Why the task is skipped (task_skip).
    pub reason: Option<&'a SkipReason>,
    /// The task's result (task_success); downcast it with `downcast_ref`.
    pub result: Option<&'a (dyn Any + Send + Sync)>,
    /// The run's report (process_completion).
    pub report: Option<&'a RunReport>,
    /// The shared state of the flow or orchestrator.
    pub state: &'a S,
}

impl<S> fmt::Debug for HookEvent<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookEvent")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("attempt", &self.attempt)
            .field("status", &self.status)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What a hook may return: `()` or a `Result` whose error fails the run.
pub trait HookOutput {
    /// The hook's verdict: `Err(message)` fails the run.
    fn into_hook_result(self) -> Result<(), String>;
}

impl HookOutput for () {
    fn into_hook_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> HookOutput for Result<(), E> {
    fn into_hook_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

pub(crate) type HookFn<S> = Arc<dyn Fn(&HookEvent<'_, S>) -> Result<(), String> + Send + Sync>;

/// The hooks registered on a flow or orchestrator, by event kind, in registration order.
pub(crate) struct Hooks<S> {
    by_kind: [Vec<HookFn<S>>; 9],
}

impl<S> Default for Hooks<S> {
    fn default() -> Self {
        Hooks {
            by_kind: Default::default(),
        }
    }
}

impl<S> Clone for Hooks<S> {
    fn clone(&self) -> Self {
        Hooks {
            by_kind: self.by_kind.clone(),
        }
    }
}

impl<S> fmt::Debug for Hooks<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<(EventKind, usize)> = EventKind::ALL
            .iter()
            .map(|k| (*k, self.by_kind[*k as usize].len()))
            .filter(|(_, n)| *n > 0)
            .collect();
        f.debug_struct("Hooks")
            .field("registered", &counts)
            .finish()
    }
}

impl<S> Hooks<S> {
    pub(crate) fn add(&mut self, kind: EventKind, f: HookFn<S>) {
        self.by_kind[kind as usize].push(f);
    }

    pub(crate) fn mask(&self) -> HookMask {
        EventKind::ALL
            .iter()
            .filter(|k| !self.by_kind[**k as usize].is_empty())
            .fold(HookMask::NONE, |m, k| m.with(*k))
    }

    /// Calls every hook of the event's kind in order; the first error (or panic) stops the
    /// chain and is returned as the message.
    pub(crate) fn call(&self, e: &HookEvent<'_, S>) -> Result<(), String> {
        for h in &self.by_kind[e.kind as usize] {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(e))) {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => return Err(msg),
                Err(panic) => return Err(panic_message(&*panic)),
            }
        }
        Ok(())
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}
