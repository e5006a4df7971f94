//! The ambient call scope: which task's attempt (if any) is being polled on this thread, and
//! where the run's dynamic calls go. An action called while a task's future is polled is a
//! child of that task ([`crate::Action::call`] reads [`current`]).
//!
//! It is a thread-local pointer set for the duration of each poll of a task's future (or of
//! `main`), and put back after it, on unwind too: what tokio's `task_local!` does, without
//! moving a scope value in and out of a `RefCell` on every poll, and without cloning the run's
//! shared part for an attempt that finishes in its first poll (most do). Like a task-local, it
//! is not seen by a task the body spawns on the runtime, and it is seen by what the body polls
//! inline (a nested run, a `block_on`).

use super::{CallScope, RunScope};
use crate::graph::TaskId;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The scope while a future is polled: the calling task's attempt, and a pointer to the run's
/// shared part, borrowed for that poll.
#[derive(Clone, Copy)]
struct Current {
    parent: Option<(TaskId, u32)>,
    run: *const Arc<RunScope>,
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

/// Runs `f` with the attempt `parent` of the run `run` as the current scope; the previous one
/// is put back after it, also when it unwinds.
pub(crate) fn with_scope<R>(
    parent: Option<(TaskId, u32)>,
    run: &Arc<RunScope>,
    f: impl FnOnce() -> R,
) -> R {
    /// Puts the previous scope back when dropped.
    struct Restore(Option<Current>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.set(self.0);
        }
    }
    let _restore = Restore(CURRENT.replace(Some(Current { parent, run })));
    f()
}

/// The current scope (see the top), if a task's future or `main` is being polled on this
/// thread.
pub(crate) fn current() -> Option<CallScope> {
    let c = CURRENT.get()?;
    // SAFETY: `c.run` was set by `with_scope` from a reference that outlives its call, and it
    // is put back before that call returns or unwinds; while it is set, this thread is inside
    // that call, so the reference is alive.
    let run = unsafe { &*c.run }.clone();
    Some(CallScope {
        parent: c.parent,
        run,
    })
}

/// A future polled with its scope current: an attempt that did not finish in its first poll,
/// or `main`.
pub(crate) struct Scoped<F> {
    scope: CallScope,
    fut: F,
}

impl<F> Scoped<F> {
    pub(crate) fn new(scope: CallScope, fut: F) -> Self {
        Scoped { scope, fut }
    }
}

impl<F: Future + Unpin> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let fut = &mut this.fut;
        with_scope(this.scope.parent, &this.scope.run, || {
            Pin::new(fut).poll(cx)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_scope() -> Arc<RunScope> {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(RunScope {
            tx,
            memos: Default::default(),
        })
    }

    fn parent() -> Option<(TaskId, u32)> {
        current().and_then(|s| s.parent)
    }

    #[test]
    fn a_scope_nests_and_the_outer_one_comes_back_also_after_a_panic() {
        let run = run_scope();
        assert!(current().is_none());
        with_scope(Some((TaskId(1), 1)), &run, || {
            assert_eq!(parent(), Some((TaskId(1), 1)));
            with_scope(Some((TaskId(2), 3)), &run, || {
                assert_eq!(parent(), Some((TaskId(2), 3)));
            });
            assert_eq!(parent(), Some((TaskId(1), 1)));
            let unwound = std::panic::catch_unwind(|| {
                with_scope(None, &run, || panic!("a body panics in its first poll"))
            });
            assert!(unwound.is_err());
            assert_eq!(parent(), Some((TaskId(1), 1)));
            let scope = current().expect("inside a scope");
            assert!(Arc::ptr_eq(&scope.run, &run));
        });
        assert!(current().is_none());
    }
}
