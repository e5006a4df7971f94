//! A blocking run: a sync `Flow.run()` without an event loop, driven on the caller's thread.
//!
//! The driving loop is Python's (`_runtime.drive`): it calls [`Run::_drive_next`], which does
//! the loop work that runs no user code, waits without the GIL, and hands back the next hook
//! call; the loop calls the hooks from Python and reports them ([`Run::_hook_result`]). So no
//! user code runs under this driver's Rust frames on the driving thread, which may be a daemon
//! thread when the interpreter exits (see [`Shared::emit`]).

use super::*;

impl Run {
    /// The loop work of a blocking run until the next hook call, `(kind, payload)`, or a step's
    /// condition to call, `(None, (task, when, ctx))`; `None` once the run is finished.
    pub(super) fn drive_next(&self, py: Python<'_>) -> Option<(Py<PyAny>, Py<PyAny>)> {
        let run = &self.shared;
        // How often the wait looks at signals (Ctrl-C) and at interpreter exit.
        const SLICE: Duration = Duration::from_millis(50);
        loop {
            run.pump(py);
            let mut jobs = Vec::new();
            {
                let mut st = lock_py(py, run);
                if let Some(call) = st.hook_call.take() {
                    return Some(call);
                }
                if !st.finished {
                    // A step's condition: `(None, (task, when, ctx))` for `_runtime.evaluate`.
                    if let Some(e) = st.evals.pop_front() {
                        return Some((py.None(), e.into_any()));
                    }
                }
                if let Some(e) = st.interrupt.take() {
                    if st.drive_err.is_none() {
                        st.drive_err = Some(e);
                        drop(st);
                        self.cancel(py);
                        continue;
                    }
                }
                if st.finished && st.loop_q.is_empty() && st.hook_out.is_none() {
                    return None;
                }
                if let Some(d) = st.sched.next_deadline() {
                    let now = run.now(py);
                    if d <= now {
                        st.sched.advance(now);
                        run.route(py, &mut st, &mut jobs);
                    }
                }
            }
            if !jobs.is_empty() {
                run.submit(jobs, false);
                continue;
            }
            pool::detached(py, || {
                let mut st = lock(run);
                if !st.loop_q.is_empty()
                    || !st.evals.is_empty()
                    || st.finished
                    || st.interrupt.is_some()
                {
                    return;
                }
                let wait = match st.sched.next_deadline() {
                    Some(d) => {
                        let now = run.now_mono();
                        if d <= now {
                            return;
                        }
                        // A worker that makes an earlier deadline wakes this thread.
                        st.armed = Some(d);
                        (d - now).min(SLICE)
                    }
                    None => SLICE,
                };
                let (mut st, _) = run
                    .host_cv
                    .wait_timeout(st, wait)
                    .unwrap_or_else(|e| e.into_inner());
                st.armed = None;
                // (`detached` parks for good instead of taking the GIL back at exit.)
            });
            if let Err(e) = py.check_signals() {
                let first = {
                    let mut st = lock_py(py, run);
                    st.drive_err.is_none().then(|| st.drive_err = Some(e))
                };
                if first.is_some() {
                    self.cancel(py);
                }
            }
        }
    }

    /// What interrupted the driving loop between its steps (Ctrl-C's KeyboardInterrupt): the
    /// hooks in flight count as done, and the run is cancelled; `e` is raised at the end.
    pub(super) fn drive_interrupt(&self, py: Python<'_>, e: PyErr) {
        let run = &self.shared;
        let token = {
            let mut st = lock_py(py, run);
            st.hook_call = None;
            if st.interrupt.is_none() && st.drive_err.is_none() {
                st.interrupt = Some(e);
            }
            st.hook_out.take()
        };
        if let Some(token) = token {
            let mut jobs = Vec::new();
            run.hook_result(py, token, None, &mut jobs);
            run.submit(jobs, false);
        }
    }
}
