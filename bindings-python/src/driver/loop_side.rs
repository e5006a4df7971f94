//! The asyncio side of a run: the pump of loop work (handing control back to the loop
//! between batches), the one timer and the batch of an instant, starting async bodies and
//! hooks, done-callbacks that feed the core, and an Orchestrator's main.

use super::*;

/// How many loop commands one pump performs before it hands control back to the loop.
pub(super) const PUMP_BUDGET: usize = 1024;

impl Shared {
    /// An input whose order against the completions of the same instant matters (the clock's
    /// advance, an outside cancel): it joins this instant's batch, given to the core once the
    /// loop has run what was ready at this instant ([`Flush`]). The core orders the batch.
    pub(super) fn batched(
        self: &Arc<Self>,
        py: Python<'_>,
        st: &mut State,
        input: Input<Py<PyAny>>,
    ) {
        if let Some(batch) = &mut st.batch {
            batch.push(input);
            return;
        }
        st.batch = Some(vec![input]);
        let ok = self.lp().and_then(|lp| {
            let flush = Py::new(py, Flush { run: self.clone() })?;
            helpers(py)?.when_quiet.call1(py, (lp, flush))
        });
        if ok.is_err() {
            self.flush(py, st);
        }
    }

    /// Gives the core this instant's batch.
    pub(super) fn flush(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
        if let Some(batch) = st.batch.take() {
            let now = self.now(py).max(st.batch_floor);
            let _ = st.sched.handle(now, batch);
        }
    }

    /// The loop side: runs queued loop commands until none is left, then arms the timer.
    ///
    /// On an asyncio loop it hands control back to the loop after [`PUMP_BUDGET`] commands
    /// (and goes on in a later callback), so that timers, signals and other tasks still run
    /// while calls keep coming (a runaway recursion).
    pub(super) fn pump(self: &Arc<Self>, py: Python<'_>) {
        let mut jobs = Vec::new();
        let mut done = 0usize;
        loop {
            let cmd = {
                let mut st = lock_py(py, self);
                if st.hook_out.is_some() {
                    // Hooks are being called: what follows waits for them (`hooks_called`
                    // pumps again).
                    st.wake_pending = false;
                    break;
                }
                if done >= PUMP_BUDGET && !st.loop_q.is_empty() {
                    if let Some(lp) = &self.lp {
                        self.arm(py, &mut st);
                        st.wake_pending = true;
                        if let Ok(pump) = Py::new(py, Pump { run: self.clone() }) {
                            if lp
                                .call_method1(py, intern!(py, "call_soon"), (pump,))
                                .is_ok()
                            {
                                break;
                            }
                        }
                    }
                }
                match st.loop_q.pop_front() {
                    Some(c) => c,
                    None => {
                        st.wake_pending = false;
                        self.arm(py, &mut st);
                        break;
                    }
                }
            };
            done += 1;
            match cmd {
                LoopCmd::Start(t, a) => self.start_on_loop(py, t, a, &mut jobs),
                LoopCmd::Cancel(task) => {
                    let _ = task.call_method0(py, intern!(py, "cancel"));
                }
                LoopCmd::Emit(kind, payload, token) => {
                    self.emit(py, kind, payload, token, &mut jobs)
                }
                LoopCmd::Resolve(fut, d) => resolve(py, &fut, d),
                LoopCmd::Evaluate(t) => self.evaluate(py, t, &mut jobs),
                LoopCmd::StartMain => self.start_main(py),
                LoopCmd::CancelMain => {
                    let fut = lock_py(py, self).main_fut.as_ref().map(|f| f.clone_ref(py));
                    if let Some(f) = fut {
                        let _ = f.call_method0(py, intern!(py, "cancel"));
                    }
                }
                // A blocking run (no `done` future): its driver sees `finished` itself.
                LoopCmd::Finished => {
                    if let Some(done) = &self.done {
                        let done = done.bind(py);
                        if !done
                            .call_method0("done")
                            .and_then(|d| d.is_truthy())
                            .unwrap_or(true)
                        {
                            let _ = done.call_method1("set_result", (py.None(),));
                        }
                    }
                }
            }
            if !jobs.is_empty() {
                self.submit(std::mem::take(&mut jobs), false);
            }
        }
        self.flush_starts(py);
    }

    pub(super) fn arm(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
        // A blocking run's driver waits for the deadline itself.
        let Some(lp) = &self.lp else { return };
        // An open batch is the core's next input: the flush arms the timer after it.
        if st.finished || st.batch.is_some() {
            return;
        }
        let Some(d) = st.sched.next_deadline() else {
            return;
        };
        if st.armed.is_some_and(|a| a <= d) {
            return;
        }
        st.armed = Some(d);
        let when = self.loop_t0 + d.as_secs_f64();
        if let Ok(cb) = Py::new(
            py,
            Timer {
                run: self.clone(),
                at: d,
            },
        ) {
            let _ = lp.call_method1(py, intern!(py, "call_at"), (when, cb));
        }
    }

    /// `Emit`: the hooks of one event are called from Python, never under this driver's Rust
    /// frames: a hook that releases the GIL (a sleep, logging) on a daemon thread while the
    /// interpreter exits is ended by CPython when it takes the GIL back, and that unwind must
    /// not cross a Rust frame (it aborts the process). On an asyncio run the loop calls
    /// `_runtime.call_hooks` next; a blocking run's driving loop (`_runtime.drive`) takes the
    /// call from [`Run::_drive_next`]. The pump waits until they are done (hooks run in order,
    /// before what follows them), then [`Run::_hook_result`] reports them.
    pub(super) fn emit(
        self: &Arc<Self>,
        py: Python<'_>,
        kind: Py<PyAny>,
        payload: Py<PyAny>,
        token: HookToken,
        jobs: &mut Vec<Job>,
    ) {
        let Some(lp) = &self.lp else {
            let mut st = lock_py(py, self);
            st.hook_out = Some(token);
            st.hook_call = Some((kind, payload));
            return;
        };
        let r = helpers(py).and_then(|h| {
            let run = Py::new(
                py,
                Run {
                    shared: self.clone(),
                },
            )?;
            // Whoever calls the hooks empties the item: the loop, or a sync action's call
            // that blocks the loop meanwhile ([`super::inline`]).
            let item = PyList::new(py, [kind, payload])?;
            let mut st = lock_py(py, self);
            st.hook_out = Some(token);
            st.hook_sched = Some(item.clone().unbind());
            drop(st);
            lp.call_method1(
                py,
                intern!(py, "call_soon"),
                (&h.call_hooks, run, &self.hooks, item),
            )
        });
        if let Err(e) = r {
            // The loop cannot call them (it is closed): the run fails with that error.
            let mut st = lock_py(py, self);
            st.hook_out = None;
            st.hook_sched = None;
            drop(st);
            let failed = self.hook_error(py, e);
            self.hook_result(py, token, failed, jobs);
        }
    }

    /// The hooks of the event in flight ([`Shared::emit`]) are done: `failed`, the exception
    /// one raised; `coro`, what `dispatch` returned when one of them is async (it goes on as
    /// an asyncio task). The pump goes on.
    pub(super) fn hooks_called(
        self: &Arc<Self>,
        py: Python<'_>,
        failed: Option<Bound<'_, PyAny>>,
        coro: Option<Bound<'_, PyAny>>,
    ) {
        let token = {
            let mut st = lock_py(py, self);
            st.hook_sched = None;
            st.hook_out.take()
        };
        let Some(token) = token else {
            return;
        };
        let mut jobs = Vec::new();
        match (failed, coro) {
            (Some(e), _) => {
                let failed = self.hook_error(py, PyErr::from_value(e));
                self.hook_result(py, token, failed, &mut jobs);
            }
            (None, None) => self.hook_result(py, token, None, &mut jobs),
            (None, Some(coro)) if self.lp.is_none() => {
                // A blocking run's driving loop awaits it itself; here only as a fallback.
                let r = helpers(py).and_then(|h| h.run_awaitable.call1(py, (coro,)));
                let failed = r.err().and_then(|e| self.hook_error(py, e));
                self.hook_result(py, token, failed, &mut jobs)
            }
            (None, Some(coro)) => {
                let r = self
                    .lp()
                    .and_then(|lp| lp.call_method1(py, intern!(py, "create_task"), (coro,)))
                    .and_then(|task| {
                        let cb = Py::new(
                            py,
                            HookDone {
                                run: self.clone(),
                                token,
                            },
                        )?;
                        task.call_method1(py, intern!(py, "add_done_callback"), (cb,))
                    });
                if let Err(e) = r {
                    let failed = self.hook_error(py, e);
                    self.hook_result(py, token, failed, &mut jobs);
                }
            }
        }
        if self.lp.is_some() {
            self.pump(py);
        }
        self.submit(jobs, false);
    }

    /// What a hook's exception makes of it: the hook's failure (the exception object); or, for
    /// Ctrl-C's KeyboardInterrupt in a blocking run (signal handlers run on its driving thread,
    /// which runs the hooks), nothing: the driver cancels the run and raises it at the end.
    pub(super) fn hook_error(&self, py: Python<'_>, e: PyErr) -> Option<Py<PyAny>> {
        if self.lp.is_none() && e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
            lock_py(py, self).interrupt.get_or_insert(e);
            return None;
        }
        Some(e.into_value(py).into_any())
    }

    /// The hooks of `token` are done; `failed`: one raised this exception, which the core
    /// keeps as the source of the run's error (its `__cause__`).
    pub(super) fn hook_result(
        self: &Arc<Self>,
        py: Python<'_>,
        token: HookToken,
        failed: Option<Py<PyAny>>,
        jobs: &mut Vec<Job>,
    ) {
        let error = failed.map(|e| {
            let message = e.bind(py).str().map(|s| s.to_string()).unwrap_or_default();
            let source: legato::event::ErrorSource = Arc::new(e);
            TaskError::failed(message).with_source(source)
        });
        let now = self.now(py);
        let mut st = lock_py(py, self);
        // The token came from the core's own command.
        let _ = match error {
            None => st.sched.hook_done(token, now),
            Some(e) => st.sched.hook_raised(token, e, now),
        };
        self.route(py, &mut st, jobs);
    }

    /// `StartMain`: main starts (through the Python helper the run was given), and its end is
    /// reported to the core by its done-callback.
    pub(super) fn start_main(self: &Arc<Self>, py: Python<'_>) {
        let Some(start) = lock_py(py, self).main.take() else {
            return;
        };
        let r = (|| -> PyResult<Py<PyAny>> {
            let fut = start.call0(py)?;
            let cb = Py::new(py, MainDone { run: self.clone() })?;
            fut.call_method1(py, intern!(py, "add_done_callback"), (cb,))?;
            Ok(fut)
        })();
        match r {
            Ok(fut) => lock_py(py, self).main_fut = Some(fut),
            Err(e) => {
                // main could not even start: it failed with this exception.
                let fut = self.lp().and_then(|lp| {
                    let f = lp.call_method0(py, intern!(py, "create_future"))?;
                    f.call_method1(py, intern!(py, "set_exception"), (e.into_value(py),))?;
                    Ok(f)
                });
                let now = self.now(py);
                let mut st = lock_py(py, self);
                st.main_fut = fut.ok();
                st.sched.main_finished(false, now);
                let mut jobs = Vec::new();
                self.route(py, &mut st, &mut jobs);
                drop(st);
                self.submit(jobs, false);
            }
        }
    }

    /// Starts an async body (or submits a sync one to the executor) on the loop thread.
    pub(super) fn start_on_loop(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        attempt: u32,
        jobs: &mut Vec<Job>,
    ) {
        let flag = Arc::new(AtomicBool::new(false));
        let prep = {
            let mut st = lock_py(py, self);
            if !st.is_current(task, attempt) {
                return;
            }
            let Some(body) = st.body(task).cloned() else {
                return;
            };
            st.running.insert(task, Running::Flag(flag.clone()));
            let args = self
                .call_args(py, &st, &body, task, attempt, &flag)
                .map(|(a, k)| (a.map(|a| a.unbind()), k.map(|k| k.unbind())));
            let ctx = self.context_obj(py, &st, task, attempt, &flag);
            (body, args, ctx)
        };
        let (body, args, ctx) = prep;
        let r = (|| -> PyResult<Option<Py<PyAny>>> {
            let (a, k) = args?;
            let ctx = ctx?;
            if !body.is_async {
                // executor=: submit, and let the future's callback report.
                // Sync bodies reach the loop only with an executor.
                let ex = self.executor.as_ref().ok_or_else(|| {
                    PyRuntimeError::new_err("legato: a sync body on the loop without an executor")
                })?;
                let a = a
                    .map(|a| a.bind(py).clone())
                    .unwrap_or_else(|| PyTuple::empty(py));
                let mut all = vec![body.func.clone_ref(py).into_bound(py)];
                all.extend(a.iter());
                let fut = ex.bind(py).call_method(
                    "submit",
                    PyTuple::new(py, all)?,
                    k.as_ref().map(|k| k.bind(py)),
                )?;
                let cb = Done::new(py, self, task, attempt, true)?;
                let mut st = lock_py(py, self);
                st.running.insert(task, Running::Flag(flag.clone()));
                st.live_jobs += 1;
                drop(st);
                fut.call_method1(intern!(py, "add_done_callback"), (cb,))?;
                return Ok(None);
            }
            // An async body needs the run's loop (a blocking run has none: it has no async steps).
            // It is called from Python (`_runtime.start_bodies`, the loop calls it next with
            // every body this pump starts), never under the driver's Rust frames (see
            // [`Shared::emit`]); what its first step gave comes back in [`Shared::started`].
            self.lp()?;
            let a = a.unwrap_or_else(|| PyTuple::empty(py).unbind());
            let item = PyTuple::new(
                py,
                [
                    task.into_pyobject(py)?.into_any(),
                    attempt.into_pyobject(py)?.into_any(),
                    body.func.clone_ref(py).into_bound(py),
                    a.into_bound(py).into_any(),
                    k.map(|k| k.into_bound(py).into_any())
                        .unwrap_or_else(|| py.None().into_bound(py)),
                    ctx.into_bound(py).into_any(),
                ],
            )?;
            lock_py(py, self).starts.push(item.unbind());
            Ok(None)
        })();
        match r {
            Ok(None) => {}
            Ok(Some(v)) => self.finish(py, task, attempt, Ok(v), false, jobs),
            Err(e) => self.finish(py, task, attempt, Err(e), false, jobs),
        }
    }

    /// Hands the async bodies this pump starts to `_runtime.start_bodies`, which the loop
    /// calls next.
    fn flush_starts(self: &Arc<Self>, py: Python<'_>) {
        let starts = std::mem::take(&mut lock_py(py, self).starts);
        if starts.is_empty() {
            return;
        }
        let r = (|| -> PyResult<()> {
            let h = helpers(py)?;
            let run = Py::new(
                py,
                Run {
                    shared: self.clone(),
                },
            )?;
            self.lp()?.call_method1(
                py,
                intern!(py, "call_soon"),
                (&h.start_bodies, run, starts),
            )?;
            Ok(())
        })();
        if let Err(e) = r {
            e.write_unraisable(py, None);
        }
    }

    /// What the first step of an async body gave (`_runtime.start_bodies`): its exception
    /// (`failed`), its value (`coro` is None: it finished without suspending), or what it
    /// yielded (`first`) when it suspended; then it goes on as an asyncio Task. Called with the
    /// body's context current.
    pub(super) fn started(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        attempt: u32,
        coro: Option<Bound<'_, PyAny>>,
        first: Bound<'_, PyAny>,
        failed: Option<Bound<'_, PyAny>>,
    ) {
        let mut jobs = Vec::new();
        let r = (|| -> PyResult<Option<Py<PyAny>>> {
            if let Some(e) = failed {
                return Err(PyErr::from_value(e));
            }
            let Some(coro) = coro else {
                return Ok(Some(first.unbind()));
            };
            let h = helpers(py)?;
            let yielded = first;
            match () {
                _ if yielded.is_none()
                    || yielded.hasattr(intern!(py, "_asyncio_future_blocking"))? =>
                {
                    // It suspended on a future (or a bare yield): once that future is done, the
                    // coroutine goes on as an asyncio Task whose first step resumes it, exactly
                    // as a Task would have (Python 3.12's eager tasks do the same in C). The
                    // callback is registered now, so it runs in a copy of this context.
                    let starter = Py::new(
                        py,
                        Starter {
                            run: self.clone(),
                            task,
                            attempt,
                            coro: coro.clone().unbind(),
                        },
                    )?;
                    if yielded.is_none() {
                        self.lp()?.call_method1(
                            py,
                            intern!(py, "call_soon"),
                            (starter, py.None()),
                        )?;
                    } else {
                        yielded.setattr(intern!(py, "_asyncio_future_blocking"), false)?;
                        yielded.call_method1(intern!(py, "add_done_callback"), (starter,))?;
                        let mut st = lock_py(py, self);
                        if st.is_current(task, attempt) {
                            st.running
                                .insert(task, Running::Task(yielded.clone().unbind()));
                        }
                    }
                    Ok(None)
                }
                _ => {
                    // Something else was yielded: let a wrapper hand it to a Task as it is.
                    let cx = h.copy_context.call0(py)?;
                    let wrapped = h.resume.call1(py, (&coro, yielded))?;
                    let kw = PyDict::new(py);
                    kw.set_item("context", cx)?;
                    let t =
                        self.lp()?
                            .bind(py)
                            .call_method("create_task", (wrapped,), Some(&kw))?;
                    let cb = Done::new(py, self, task, attempt, false)?;
                    let mut st = lock_py(py, self);
                    let current = st.is_current(task, attempt);
                    if current {
                        st.running.insert(task, Running::Task(t.clone().unbind()));
                    }
                    drop(st);
                    if !current {
                        t.call_method0("cancel")?;
                    }
                    t.call_method1(intern!(py, "add_done_callback"), (cb,))?;
                    Ok(None)
                }
            }
        })();
        match r {
            Ok(None) => {}
            Ok(Some(v)) => self.finish(py, task, attempt, Ok(v), false, &mut jobs),
            Err(e) => self.finish(py, task, attempt, Err(e), false, &mut jobs),
        }
        self.submit(jobs, false);
    }
}

pub(super) fn resolve(py: Python<'_>, fut: &Py<PyAny>, d: Delivery) {
    let f = fut.bind(py);
    if f.call_method0("done")
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
    {
        return;
    }
    let _ = match d {
        Delivery::Ok(v) => f.call_method1("set_result", (v,)),
        Delivery::Err(e) => f.call_method1("set_exception", (e,)),
    };
}

/// The loop-side callback that drains loop commands (scheduled by other threads).
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct Pump {
    pub(super) run: Arc<Shared>,
}

#[pymethods]
impl Pump {
    fn __call__(&self, py: Python<'_>) {
        let _entry = pool::enter();
        self.run.pump(py);
    }
}

/// A timer armed with `loop.call_at`: the clock's advance joins this instant's batch.
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct Timer {
    pub(super) run: Arc<Shared>,
    pub(super) at: Duration,
}

#[pymethods]
impl Timer {
    fn __call__(&self, py: Python<'_>) {
        let _entry = pool::enter();
        let run = &self.run;
        let mut st = lock_py(py, run);
        if st.armed == Some(self.at) {
            st.armed = None;
        }
        // The loop's timer may fire a little early (its clock resolution).
        st.batch_floor = st.batch_floor.max(self.at);
        run.batched(py, &mut st, Input::Advance);
    }
}

/// Gives the core the batch of one instant, once the loop has run what was ready then.
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct Flush {
    pub(super) run: Arc<Shared>,
}

#[pymethods]
impl Flush {
    fn __call__(&self, py: Python<'_>) {
        let _entry = pool::enter();
        let run = &self.run;
        let mut jobs = Vec::new();
        {
            let mut st = lock_py(py, run);
            run.flush(py, &mut st);
            run.route(py, &mut st, &mut jobs);
        }
        run.pump(py);
        run.submit(jobs, false);
    }
}

/// Starts the asyncio Task of a coroutine that suspended during its eager first step, once
/// the future it waits for is done.
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct Starter {
    pub(super) run: Arc<Shared>,
    pub(super) task: u32,
    pub(super) attempt: u32,
    pub(super) coro: Py<PyAny>,
}

#[pymethods]
impl Starter {
    fn __call__(&self, py: Python<'_>, _fut: &Bound<'_, PyAny>) -> PyResult<()> {
        let _entry = pool::enter();
        let run = &self.run;
        let t = run
            .lp()?
            .bind(py)
            .call_method1(intern!(py, "create_task"), (&self.coro,))?;
        let current = {
            let mut st = lock_py(py, run);
            let current = st.is_current(self.task, self.attempt);
            if current {
                st.running
                    .insert(self.task, Running::Task(t.clone().unbind()));
            }
            current
        };
        if !current {
            // Cancelled while it waited: it still gets its CancelledError (from the future).
            t.call_method0(intern!(py, "cancel"))?;
        }
        let cb = Done::new(py, run, self.task, self.attempt, false)?;
        t.call_method1(intern!(py, "add_done_callback"), (cb,))?;
        Ok(())
    }
}

/// Done-callback of an attempt's asyncio Task or executor future.
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct Done {
    pub(super) run: Arc<Shared>,
    pub(super) task: u32,
    pub(super) attempt: u32,
    /// An executor future (counted in `live_jobs`), not an asyncio Task.
    pub(super) off_loop: bool,
}

impl Done {
    /// The callback that reports `attempt` of `task` when its Task or future is done.
    fn new(
        py: Python<'_>,
        run: &Arc<Shared>,
        task: u32,
        attempt: u32,
        off_loop: bool,
    ) -> PyResult<Py<Done>> {
        Py::new(
            py,
            Done {
                run: run.clone(),
                task,
                attempt,
                off_loop,
            },
        )
    }
}

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        let _entry = pool::enter();
        // result() gives the value, or raises the body's exception (or CancelledError).
        let r = fut.call_method0(intern!(py, "result")).map(Bound::unbind);
        let mut jobs = Vec::new();
        self.run
            .finish(py, self.task, self.attempt, r, self.off_loop, &mut jobs);
        if self.run.on_loop_thread() {
            self.run.pump(py);
        }
        self.run.submit(jobs, false);
    }
}

/// Done-callback of an async hook chain.
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct HookDone {
    pub(super) run: Arc<Shared>,
    pub(super) token: HookToken,
}

#[pymethods]
impl HookDone {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        let _entry = pool::enter();
        let failed = if fut
            .call_method0("cancelled")
            .and_then(|c| c.is_truthy())
            .unwrap_or(false)
        {
            let e = CancelledError::new_err("hook cancelled");
            Some(e.into_value(py).into_any())
        } else {
            match fut.call_method0("exception") {
                Ok(e) if !e.is_none() => Some(e.unbind()),
                _ => None,
            }
        };
        let mut jobs = Vec::new();
        self.run.hook_result(py, self.token, failed, &mut jobs);
        self.run.pump(py);
        self.run.submit(jobs, false);
    }
}

/// Done-callback of an Orchestrator's main: its end goes to the core (`main_finished`).
#[pyclass(module = "legato._legato", frozen)]
pub(super) struct MainDone {
    pub(super) run: Arc<Shared>,
}

#[pymethods]
impl MainDone {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        let _entry = pool::enter();
        let ok = !fut
            .call_method0(intern!(py, "cancelled"))
            .and_then(|c| c.is_truthy())
            .unwrap_or(true)
            && fut
                .call_method0(intern!(py, "exception"))
                .is_ok_and(|e| e.is_none());
        let run = &self.run;
        let mut jobs = Vec::new();
        {
            let now = run.now(py);
            let mut st = lock_py(py, run);
            st.sched.main_finished(ok, now);
            run.route(py, &mut st, &mut jobs);
        }
        run.pump(py);
        run.submit(jobs, false);
    }
}
