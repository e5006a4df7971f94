//! A sync action called on the run's loop thread (from an async `main`, action or step)
//! returns its value, as any sync function called from async code does: the call blocks the
//! loop until the action is done (as a sync task called from an async Prefect flow does).
//!
//! The action is still a task of the core's: a child of its caller (which gives its slot back
//! meanwhile, rule 8), with its hooks, retries, timeout and report entry; its body runs on the
//! worker pool like any sync body. While the loop thread waits, it does the run's loop work
//! itself ([`Run::inline_next`], driven by `_runtime.wait_inline`): it calls the hooks (an async
//! hook to its end on a loop of its own), fires the timers, and hands the starts of async
//! bodies on to the loop, where they run once it is free. So the call's own hooks, retries,
//! backoff and timeout work as for a sync caller, and `await`-free code reads as it should:
//! `step_a() + await step_b()`.
//!
//! What needs the loop itself cannot happen while the loop is blocked: an async body the call
//! waits for (an async action its body calls, an async call holding the slot or key it waits
//! for), an async hook already running as a task, or a delay on a clock only the loop advances
//! (a virtual clock). When nothing off the loop can make progress any more — no sync body or
//! executor job of the run running (a worker waiting for a call does not count), no caller
//! about to wake, no deadline that a real clock will reach — the call can never end: it is
//! cancelled and raises `RuntimeError`, naming the action and saying to call it with
//! `await asyncio.to_thread(...)`, instead of hanging the process.

use super::calls::take_done;
use super::*;

/// What one [`Run::inline_next`] step gives `_runtime.wait_inline`: `(True, outcome, None,
/// None)` once the calls are done, `(False, hooks, kind, payload)`, a hook call to make, or
/// `(False, None, None, None)` after a wait (Python looks whether its task is being
/// cancelled: Ctrl-C under `asyncio.run`, whose handler cancels the main task).
pub(super) type InlineStep = (bool, Py<PyAny>, Py<PyAny>, Py<PyAny>);

/// The calls a sync caller on the loop thread waits for: their slots and tasks, their
/// fail-fast group, and whether it is one call (its value, or its error raised).
#[derive(Clone, Copy)]
pub(super) struct Awaited<'a> {
    pub(super) slots: &'a [u64],
    pub(super) tasks: &'a [u32],
    pub(super) group: Option<GroupId>,
    pub(super) one: bool,
}

/// How long one wait lasts at most before the loop thread looks at signals (Ctrl-C) again.
const SLICE: Duration = Duration::from_millis(50);

impl Run {
    /// The loop work of a sync action's call made on the loop thread, until the calls are done
    /// (see the top). One call: its value is given or its error raised; else every call's
    /// outcome, errors in place, or for a fail-fast group the error of the member the core
    /// says failed first, raised.
    pub(super) fn inline_next(&self, py: Python<'_>, calls: &Awaited<'_>) -> PyResult<InlineStep> {
        let run = &self.shared;
        run.inline.fetch_add(1, Ordering::SeqCst);
        let r = self.inline_step(py, calls);
        run.inline.fetch_sub(1, Ordering::SeqCst);
        if r.as_ref().is_ok_and(|(done, ..)| !done) {
            return r;
        }
        let mut st = lock_py(py, run);
        st.inline_clock = None;
        if r.is_err() {
            // The caller raises: the calls' late outcomes are dropped.
            for n in calls.slots {
                st.blocked.remove(n);
            }
        }
        drop(st);
        r
    }

    fn inline_step(&self, py: Python<'_>, calls: &Awaited<'_>) -> PyResult<InlineStep> {
        let run = &self.shared;
        let Awaited {
            slots,
            tasks,
            group,
            one,
        } = *calls;
        loop {
            run.pump(py);
            let mut jobs = Vec::new();
            let wait = {
                let mut st = lock_py(py, run);
                if let Some(done) = take_done(&mut st, slots, tasks, group) {
                    drop(st);
                    return outcome(py, done, one);
                }
                if st.hook_out.is_some() {
                    if let Some(item) = st.hook_sched.take() {
                        drop(st);
                        let item = item.into_bound(py);
                        let kind = item.get_item(0)?.unbind();
                        let payload = item.get_item(1)?.unbind();
                        item.call_method0(intern!(py, "clear"))?;
                        return Ok((false, run.hooks.clone_ref(py), kind, payload));
                    }
                }
                if st.batch.is_some() {
                    // Nothing else joins this instant while the loop is blocked.
                    run.flush(py, &mut st);
                    run.route(py, &mut st, &mut jobs);
                }
                let now = run.now(py);
                let deadline = (!st.finished).then(|| st.sched.next_deadline()).flatten();
                if deadline.is_some_and(|d| d <= now) {
                    st.sched.advance(now);
                    run.route(py, &mut st, &mut jobs);
                }
                let loop_work = !st.loop_q.is_empty() && st.hook_out.is_none();
                if !jobs.is_empty() || loop_work {
                    None
                } else {
                    // A blocked caller that is about to wake makes progress too.
                    let progress = st.live_jobs > st.live_waits
                        || st
                            .blocked
                            .iter()
                            .any(|(n, d)| d.is_some() && !slots.contains(n));
                    let next = (!st.finished).then(|| st.sched.next_deadline()).flatten();
                    let clock_moves = match run.clock {
                        Clock::Mono { .. } => true,
                        Clock::Loop { .. } => st.inline_clock.is_none_or(|l| now > l),
                    };
                    // A deadline a moving clock will reach is progress too.
                    let timer = next.is_some() && clock_moves;
                    if !(progress || timer) {
                        let name = tasks
                            .first()
                            .map(|&t| st.name(t).to_owned())
                            .unwrap_or_default();
                        for &t in tasks {
                            if let Some(id) = st.id(t) {
                                let _ = st.sched.cancel_task(id, now);
                            }
                        }
                        run.route(py, &mut st, &mut jobs);
                        drop(st);
                        run.submit(jobs, false);
                        return Err(PyRuntimeError::new_err(format!(
                            "{name}: a sync action called on the run's event loop blocks the \
                             loop until it is done, and it cannot be done while the loop is \
                             blocked (it waits for an async call, an async hook, a slot or key \
                             an async call holds, or a delay on the loop's clock); call it with \
                             `await asyncio.to_thread({name}, ...)` instead"
                        )));
                    }
                    st.inline_clock = Some(now);
                    Some(next.map_or(SLICE, |d| d.saturating_sub(now).min(SLICE)))
                }
            };
            run.submit(jobs, false);
            if let Some(wait) = wait {
                pool::detached(py, || {
                    let st = lock(run);
                    let ready = slots
                        .iter()
                        .any(|n| !matches!(st.blocked.get(n), Some(None)))
                        || (!st.loop_q.is_empty() && st.hook_out.is_none())
                        || (st.hook_out.is_some() && st.hook_sched.is_some());
                    if !ready {
                        let _ = run.cv.wait_timeout(st, wait);
                    }
                    // (`detached` parks for good instead of taking the GIL back at exit.)
                });
                py.check_signals()?;
                return Ok((false, py.None(), py.None(), py.None()));
            }
        }
    }

    /// The caller is cancelled while it waits (its asyncio task is): the calls are cancelled
    /// and their outcomes dropped.
    pub(super) fn inline_cancel(&self, py: Python<'_>, slots: &[u64], tasks: &[u32]) {
        let run = &self.shared;
        let now = run.now(py);
        let mut jobs = Vec::new();
        {
            let mut st = lock_py(py, run);
            st.inline_clock = None;
            for &t in tasks {
                if let Some(id) = st.id(t) {
                    let _ = st.sched.cancel_task(id, now);
                }
            }
            run.route(py, &mut st, &mut jobs);
            for n in slots {
                st.blocked.remove(n);
            }
        }
        run.pump(py);
        run.submit(jobs, false);
    }
}

/// What the caller gets: see [`Run::inline_next`]. A slot the run dropped (it is over) is a
/// `CancelledError`.
fn outcome(
    py: Python<'_>,
    (failed, got): (Option<usize>, Vec<Option<Delivery>>),
    one: bool,
) -> PyResult<InlineStep> {
    let over = || CancelledError::new_err("the run is over");
    if let Some(i) = failed {
        return Err(match got.into_iter().nth(i).flatten() {
            Some(Delivery::Err(e)) => PyErr::from_value(e.into_bound(py)),
            _ => CancelledError::new_err("cancelled"),
        });
    }
    let value = if one {
        match got.into_iter().next().flatten() {
            Some(Delivery::Ok(v)) => v,
            Some(Delivery::Err(e)) => return Err(PyErr::from_value(e.into_bound(py))),
            None => return Err(over()),
        }
    } else {
        let mut values = Vec::with_capacity(got.len());
        for d in got {
            match d {
                Some(Delivery::Ok(v) | Delivery::Err(v)) => values.push(v),
                None => return Err(over()),
            }
        }
        PyList::new(py, values)?.into_any().unbind()
    };
    Ok((true, value, py.None(), py.None()))
}
