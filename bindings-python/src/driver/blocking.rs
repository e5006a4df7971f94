//! A blocking run: a sync `Flow.run()` without an event loop, driven on the caller's thread.

use super::*;

impl Run {
    /// The loop of [`Run::drive`].
    pub(super) fn drive_loop(&self, py: Python<'_>) -> PyResult<()> {
        let run = &self.shared;
        // How often the wait looks at signals (Ctrl-C) and at interpreter exit.
        const SLICE: Duration = Duration::from_millis(50);
        let mut interrupted: Option<PyErr> = None;
        loop {
            run.pump(py);
            let mut jobs = Vec::new();
            {
                let mut st = lock_py(py, run);
                if let Some(e) = st.interrupt.take() {
                    if interrupted.is_none() {
                        drop(st);
                        self.cancel(py);
                        interrupted = Some(e);
                        continue;
                    }
                }
                if st.finished && st.loop_q.is_empty() {
                    break;
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
            py.detach(|| {
                let mut st = lock(run);
                if !st.loop_q.is_empty() || st.finished {
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
                drop(st);
                if pool().is_shut_down() {
                    // The interpreter is exiting: never take the GIL back.
                    pool::park_forever();
                }
            });
            if let Err(e) = py.check_signals() {
                if interrupted.is_none() {
                    self.cancel(py);
                    interrupted = Some(e);
                }
            }
        }
        match interrupted {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
