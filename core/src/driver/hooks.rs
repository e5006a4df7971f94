//! Hooks of the Rust front door: closures called on lifecycle events.

use crate::event::{EventKind, HookMask, SkipReason, Status, TaskError};
use crate::report::RunReport;
use futures_util::FutureExt;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
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

/// What a hook may return: `()` or a `Result` whose error fails the run. The error is kept
/// as the run error's source ([`FlowError`](crate::FlowError)'s `source()`, an Orchestrator
/// run's error), so a hook's own error type comes back by downcasting.
pub trait HookOutput {
    /// The hook's verdict: `Err(error)` fails the run.
    fn into_hook_result(self) -> Result<(), TaskError>;
}

impl HookOutput for () {
    fn into_hook_result(self) -> Result<(), TaskError> {
        Ok(())
    }
}

impl<E: Into<super::BoxError> + 'static> HookOutput for Result<(), E> {
    fn into_hook_result(self) -> Result<(), TaskError> {
        self.map_err(super::into_task_error)
    }
}

/// An owned copy of a [`HookEvent`], for async hooks (it can be moved into a future).
#[non_exhaustive]
pub struct OwnedHookEvent<S> {
    /// The event.
    pub kind: EventKind,
    /// The task's name (empty for process events).
    pub name: Arc<str>,
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
    pub error: Option<TaskError>,
    /// Why the task is skipped (task_skip).
    pub reason: Option<SkipReason>,
    /// The task's result (task_success).
    pub result: Option<Arc<dyn Any + Send + Sync>>,
    /// The run's report (process_completion).
    pub report: Option<Arc<RunReport>>,
    /// The shared state of the flow or orchestrator.
    pub state: Arc<S>,
}

impl<S> Clone for OwnedHookEvent<S> {
    fn clone(&self) -> Self {
        OwnedHookEvent {
            kind: self.kind,
            name: self.name.clone(),
            attempt: self.attempt,
            time: self.time,
            duration: self.duration,
            delay: self.delay,
            status: self.status,
            error: self.error.clone(),
            reason: self.reason.clone(),
            result: self.result.clone(),
            report: self.report.clone(),
            state: self.state.clone(),
        }
    }
}

impl<S> fmt::Debug for OwnedHookEvent<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl<S> OwnedHookEvent<S> {
    /// The borrowed view that sync hooks receive.
    pub fn view(&self) -> HookEvent<'_, S> {
        HookEvent {
            kind: self.kind,
            name: &self.name,
            attempt: self.attempt,
            time: self.time,
            duration: self.duration,
            delay: self.delay,
            status: self.status,
            error: self.error.as_ref(),
            reason: self.reason.as_ref(),
            result: self.result.as_deref(),
            report: self.report.as_deref(),
            state: &self.state,
        }
    }
}

pub(crate) type HookFn<S> = Arc<dyn Fn(&HookEvent<'_, S>) -> Result<(), TaskError> + Send + Sync>;

/// The future of an async hook.
pub(crate) type HookFuture = Pin<Box<dyn Future<Output = Result<(), TaskError>> + Send>>;

pub(crate) type AsyncHookFn<S> = Arc<dyn Fn(OwnedHookEvent<S>) -> HookFuture + Send + Sync>;

/// One registered hook.
pub(crate) enum Hook<S> {
    Sync(HookFn<S>),
    Async(AsyncHookFn<S>),
}

impl<S> Clone for Hook<S> {
    fn clone(&self) -> Self {
        match self {
            Hook::Sync(f) => Hook::Sync(f.clone()),
            Hook::Async(f) => Hook::Async(f.clone()),
        }
    }
}

/// The hooks registered on a flow or orchestrator, by event kind, in registration order.
pub(crate) struct Hooks<S> {
    by_kind: [Vec<Hook<S>>; 9],
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

fn call_sync<S>(h: &HookFn<S>, e: &HookEvent<'_, S>) -> Result<(), TaskError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| h(e))) {
        Ok(r) => r,
        Err(panic) => Err(TaskError::panicked(panic_message(&*panic))),
    }
}

impl<S: Send + Sync + 'static> Hooks<S> {
    pub(crate) fn add(&mut self, kind: EventKind, f: HookFn<S>) {
        self.by_kind[kind as usize].push(Hook::Sync(f));
    }

    pub(crate) fn add_async(&mut self, kind: EventKind, f: AsyncHookFn<S>) {
        self.by_kind[kind as usize].push(Hook::Async(f));
    }

    pub(crate) fn mask(&self) -> HookMask {
        EventKind::ALL
            .iter()
            .filter(|k| !self.by_kind[**k as usize].is_empty())
            .fold(HookMask::NONE, |m, k| m.with(*k))
    }

    /// Whether some hook of this kind is async (then the chain runs as a future).
    pub(crate) fn is_async(&self, kind: EventKind) -> bool {
        self.by_kind[kind as usize]
            .iter()
            .any(|h| matches!(h, Hook::Async(_)))
    }

    /// Calls every (sync) hook of the event's kind in order; the first error (or panic) stops
    /// the chain and is returned as the message.
    pub(crate) fn call(&self, e: &HookEvent<'_, S>) -> Result<(), TaskError> {
        for h in &self.by_kind[e.kind as usize] {
            if let Hook::Sync(f) = h {
                call_sync(f, e)?;
            }
        }
        Ok(())
    }

    /// The whole chain of the event's kind as one future: sync and async hooks in
    /// registration order; the first error (or panic) stops it.
    pub(crate) fn chain(&self, e: OwnedHookEvent<S>) -> HookFuture {
        let hooks = self.by_kind[e.kind as usize].clone();
        Box::pin(async move {
            for h in hooks {
                match h {
                    Hook::Sync(f) => call_sync(&f, &e.view())?,
                    Hook::Async(f) => {
                        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| f(e.clone())))
                        {
                            Ok(fut) => fut,
                            Err(panic) => return Err(TaskError::panicked(panic_message(&*panic))),
                        };
                        match AssertUnwindSafe(fut).catch_unwind().await {
                            Ok(r) => r?,
                            Err(panic) => return Err(TaskError::panicked(panic_message(&*panic))),
                        }
                    }
                }
            }
            Ok(())
        })
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

/// Generates the hook registration methods of a front-door type with a `hooks: Hooks<S>`
/// field: `on`, `on_async`, and one `on_<event>` per event kind.
macro_rules! hook_methods {
    ($ty:ident) => {
        impl<S: Send + Sync + 'static> $ty<S> {
            /// Registers a hook for any event kind. Several hooks of one kind run in
            /// registration order; a hook that returns an error (or panics) fails the run.
            pub fn on<F, R>(&mut self, kind: $crate::EventKind, hook: F) -> &mut Self
            where
                F: Fn(&$crate::HookEvent<'_, S>) -> R + Send + Sync + 'static,
                R: $crate::driver::HookOutput,
            {
                self.hooks
                    .add(kind, ::std::sync::Arc::new(move |e| hook(e).into_hook_result()));
                self
            }

            /// Registers an async hook: its future is awaited before the event's task moves
            /// on, while other tasks keep running. It receives an owned copy of the event.
            ///
            /// # Examples
            ///
            /// ```
            /// use legato::{BoxError, EventKind, Flow, OwnedHookEvent};
            /// use std::sync::atomic::{AtomicU32, Ordering};
            ///
            /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            /// let mut flow = Flow::with_state(AtomicU32::new(0));
            /// flow.task("a", |_| async { Ok::<_, BoxError>(()) })?;
            /// flow.on_async(EventKind::TaskSuccess, |e: OwnedHookEvent<AtomicU32>| async move {
            ///     tokio::task::yield_now().await; // e.g. write to an audit log
            ///     e.state.fetch_add(1, Ordering::SeqCst);
            ///     Ok::<(), String>(())
            /// });
            /// flow.run().await?;
            /// assert_eq!(flow.state().load(Ordering::SeqCst), 1);
            /// # Ok::<(), legato::FlowError>(())
            /// # }).unwrap();
            /// ```
            pub fn on_async<F, Fut, R>(&mut self, kind: $crate::EventKind, hook: F) -> &mut Self
            where
                F: Fn($crate::OwnedHookEvent<S>) -> Fut + Send + Sync + 'static,
                Fut: ::std::future::Future<Output = R> + Send + 'static,
                R: $crate::driver::HookOutput,
            {
                self.hooks.add_async(
                    kind,
                    ::std::sync::Arc::new(move |e| {
                        let fut = hook(e);
                        Box::pin(async move { fut.await.into_hook_result() })
                    }),
                );
                self
            }

            $crate::driver::hooks::hook_methods!(@each
                (on_process_begin, ProcessBegin, "process_begin"),
                (on_task_ready, TaskReady, "task_ready"),
                (on_task_begin, TaskBegin, "task_begin"),
                (on_task_retry, TaskRetry, "task_retry"),
                (on_task_success, TaskSuccess, "task_success"),
                (on_task_failure, TaskFailure, "task_failure"),
                (on_task_skip, TaskSkip, "task_skip"),
                (on_task_completion, TaskCompletion, "task_completion"),
                (on_process_completion, ProcessCompletion, "process_completion"),
            );
        }
    };
    (@each $(($method:ident, $kind:ident, $label:literal)),* $(,)?) => {
        $(
            #[doc = concat!("Registers a `", $label, "` hook (see [`on`](Self::on)).")]
            pub fn $method<F, R>(&mut self, f: F) -> &mut Self
            where
                F: Fn(&$crate::HookEvent<'_, S>) -> R + Send + Sync + 'static,
                R: $crate::driver::HookOutput,
            {
                self.on($crate::EventKind::$kind, f)
            }
        )*
    };
}
pub(crate) use hook_methods;
