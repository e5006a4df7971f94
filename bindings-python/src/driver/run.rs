//! The `Run` class Python drives (`Flow.run_async`, `Orchestrator.run_async`) and a flow's
//! `Bodies`.

use super::*;

/// One run (internal; `Flow.run_async` / `Orchestrator.run_async` drive it).
#[pyclass(module = "legato._legato", frozen)]
pub struct Run {
    pub(super) shared: Arc<Shared>,
}

/// What a run needs a task, at most, beyond its definition: the graph, the scheduler's
/// state, the driver's slots and the report (measured: a run of 200,000 sync steps takes
/// about 100 MB more address space than their definition, threads' stacks included).
const RUN_BYTES_PER_TASK: usize = 1024;

pub(super) fn hook_mask(hooks: &Bound<'_, PyDict>) -> PyResult<HookMask> {
    let mut m = HookMask::NONE;
    for k in EventKind::ALL {
        if let Some(l) = hooks.get_item(k.as_str())? {
            if l.len()? > 0 {
                m = m.with(k);
            }
        }
    }
    Ok(m)
}

/// A body from Python's description: `(func, is_async, params, retry_if, when)` where params
/// are `(parameter name, None for ctx | upstream task name)` and `when` the step's condition.
pub(super) fn body_from(py: Python<'_>, g: &Graph, d: &Bound<'_, PyAny>) -> PyResult<Body> {
    type Described = (
        Py<PyAny>,
        bool,
        Vec<(String, Option<String>)>,
        Option<Py<PyAny>>,
        Option<Py<PyAny>>,
    );
    let (func, is_async, params, retry_if, when): Described = d.extract()?;
    let mut ps = Vec::with_capacity(params.len());
    for (p, src) in params {
        let param = match src {
            None => Param::Ctx,
            Some(n) => Param::Result(g.get(&n).map(|t| t.as_u32()).unwrap_or(u32::MAX)),
        };
        ps.push((PyString::intern(py, &p).unbind(), param));
    }
    Ok(Body {
        func,
        is_async,
        params: ps,
        args: None,
        retry_if,
        when,
    })
}

/// Resumes the run `report` tells of (DESIGN "Resume"): each task of the flow that succeeded
/// there is restored with its result (the Python object of a report in memory or a pickled
/// one, the JSON value of one read back with `RunReport.from_json`): it will not run again.
/// The calls of that run (tasks with a parent) are not resumed.
///
/// # Errors
///
/// `UnknownTaskError` (DESIGN's text) for a task of the report that the flow does not have:
/// nothing has run yet.
fn restore(
    py: Python<'_>,
    sched: &mut Scheduler<Py<PyAny>>,
    graph: &Graph,
    report: &RunReport,
) -> PyResult<()> {
    let restored = report
        .core()
        .restorable(graph)
        .map_err(|e| crate::errors::graph_error(&e))?;
    for (id, i) in restored {
        let value = report.value(i).map(|v| v.clone_ref(py));
        sched
            .restore(id, value)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    }
    Ok(())
}

/// A flow's bodies as the driver calls them, made once per flow definition and shared by its
/// runs (internal; `Flow` makes it again after a step is added).
#[pyclass(module = "legato._legato", frozen)]
pub struct Bodies {
    pub(super) items: Vec<Arc<Body>>,
}

#[pymethods]
impl Bodies {
    /// `bodies`: per step of `flow`, in order, `(func, is_async, params, retry_if, when)`.
    #[new]
    fn new(
        py: Python<'_>,
        flow: &Bound<'_, crate::flowdef::FlowCore>,
        bodies: &Bound<'_, PyAny>,
    ) -> PyResult<Bodies> {
        let _entry = pool::enter();
        let graph = flow.borrow_mut().graph()?;
        let mut items = Vec::with_capacity(graph.len());
        for d in bodies.try_iter()? {
            items.push(Arc::new(body_from(py, &graph, &d?)?));
        }
        Ok(Bodies { items })
    }

    fn __len__(&self) -> usize {
        self.items.len()
    }
}

impl Run {
    /// The calling task and its attempt, from the running code's context (`None`: main).
    fn parent(&self, parent: Option<&Bound<'_, TaskContext>>) -> Option<(u32, u32)> {
        parent.and_then(|p| {
            let p = p.get();
            if !Arc::ptr_eq(&p.run, &self.shared) {
                return None;
            }
            p.task.map(|t| (t, p.attempt))
        })
    }

    /// Feeds the core one input made on the loop thread, routes its commands, then pumps the
    /// loop's side and hands the sync jobs to the pool.
    fn input_and_pump(&self, py: Python<'_>, input: impl FnOnce(&mut State, Duration)) {
        let run = &self.shared;
        let mut jobs = Vec::new();
        {
            let now = run.now(py);
            let mut st = lock_py(py, run);
            input(&mut st, now);
            run.route(py, &mut st, &mut jobs);
        }
        run.pump(py);
        run.submit(jobs, false);
    }
}

#[pymethods]
impl Run {
    /// Starts a run of `flow` (a FlowCore, or None for an Orchestrator's empty graph) on the
    /// running loop. `bodies`: a [`Bodies`], or per step its description (see there). `done` is
    /// an asyncio future set when the run is finished; without it the run is blocking: no loop,
    /// and the caller drives it with [`Run::drive`]. `main`: an Orchestrator's, a callable
    /// that starts main and returns its asyncio future; the core says when to call it.
    /// `resume`: a report of a run of `flow` to resume (see [`restore`]).
    #[new]
    #[pyo3(signature = (flow, bodies, targets, hooks, context, done, max_parallel=None, fail_fast=false, timeout=None, executor=None, main=None, title=String::new(), max_depth=legato::scheduler::DEFAULT_MAX_DEPTH, rules=None, resume=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        flow: Option<&Bound<'_, crate::flowdef::FlowCore>>,
        bodies: &Bound<'_, PyAny>,
        targets: Vec<String>,
        hooks: &Bound<'_, PyDict>,
        context: Py<PyAny>,
        done: Option<Py<PyAny>>,
        max_parallel: Option<usize>,
        fail_fast: bool,
        timeout: Option<f64>,
        executor: Option<Py<PyAny>>,
        main: Option<Py<PyAny>>,
        title: String,
        max_depth: u32,
        rules: Option<PyRef<'_, crate::convert::Rules>>,
        resume: Option<PyRef<'_, RunReport>>,
    ) -> PyResult<Run> {
        let _entry = pool::enter();
        // A run's memory grows with its tasks (graph, scheduler, report): when it cannot be
        // had, the run is `MemoryError` before it starts, not the abort of a failed Rust
        // allocation halfway (issue 19 #6). Memory that runs out later, during the run, can
        // still abort the process: Rust's allocator aborts on failure, and stable Rust has no
        // way to make that an exception.
        if let Some(f) = flow {
            let tasks = f.borrow().def.len();
            crate::mem::room("run", tasks.saturating_mul(RUN_BYTES_PER_TASK))?;
        }
        let lp = match done {
            Some(_) => Some(py.import("asyncio")?.call_method0("get_running_loop")?),
            None => None,
        };
        let (graph, sel): (Arc<Graph>, Selection) = match flow {
            Some(f) => {
                let g = f.borrow_mut().graph()?;
                let sel = if targets.is_empty() {
                    g.all()
                } else {
                    g.select(&targets)
                        .map_err(|e| crate::errors::graph_error(&e))?
                };
                (g, sel)
            }
            None => {
                let g = Arc::new(
                    legato::graph::GraphBuilder::new()
                        .build()
                        .map_err(|e| crate::errors::graph_error(&e))?,
                );
                let sel = g.all();
                (g, sel)
            }
        };
        let mut slots = TaskSlots::with_capacity(graph.len());
        let mut bs: Vec<Arc<Body>> = Vec::with_capacity(graph.len());
        if let Ok(made) = bodies.cast::<Bodies>() {
            let items = &made.get().items;
            if items.len() != graph.len() {
                return Err(PyRuntimeError::new_err(
                    "the flow changed since its bodies were made",
                ));
            }
            bs.extend(items.iter().cloned());
        } else {
            for d in bodies.try_iter()? {
                bs.push(Arc::new(body_from(py, &graph, &d?)?));
            }
        }
        for (id, b) in graph.ids().zip(bs) {
            slots.slot_mut(id).body = Some(b);
        }
        let mask = hook_mask(hooks)?;
        let mut opts = RunOptions::default()
            .fail_fast(fail_fast)
            .hooks(mask)
            .max_depth(max_depth);
        if let Some(n) = max_parallel {
            opts = opts.max_parallel(n);
        }
        if let Some(t) = timeout {
            opts = opts.timeout(Duration::from_secs_f64(t));
        }
        if let Some(r) = rules {
            // limits, priority and costs (checked when the Flow / Orchestrator was made).
            opts = r.apply(opts);
        }
        let mut sched = Scheduler::new(graph.clone(), &sel, opts)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        if let Some(report) = resume {
            restore(py, &mut sched, &graph, &report)?;
        }
        let (clock, loop_t0) = match &lp {
            None => (Clock::Mono { t0: Instant::now() }, 0.0),
            Some(lp) => {
                let time = lp.getattr("time")?;
                let stock = py
                    .import("asyncio")?
                    .getattr("BaseEventLoop")?
                    .getattr("time")?;
                let is_stock = time
                    .getattr("__func__")
                    .map(|f| f.is(&stock))
                    .unwrap_or(false);
                let loop_t0: f64 = time.call0()?.extract()?;
                let clock = if is_stock {
                    Clock::Mono { t0: Instant::now() }
                } else {
                    Clock::Loop {
                        time: time.unbind(),
                        t0: loop_t0,
                    }
                };
                (clock, loop_t0)
            }
        };
        let shared = Arc::new(Shared {
            st: Mutex::new(State {
                sched,
                slots,
                joins: Vec::new(),
                running: HashMap::new(),
                loop_q: VecDeque::new(),
                wake_pending: false,
                armed: None,
                batch: None,
                batch_floor: Duration::ZERO,
                blocked: HashMap::new(),
                next_slot: 0,
                finished: false,
                report: None,
                cache: HashMap::new(),
                interrupt: None,
                main,
                main_fut: None,
                hook_out: None,
                hook_call: None,
                drive_err: None,
                starts: Vec::new(),
                evals: VecDeque::new(),
                hook_sched: None,
                live_jobs: 0,
                live_waits: 0,
                inline_clock: None,
            }),
            cv: Condvar::new(),
            lp: lp.map(Bound::unbind),
            host_cv: Condvar::new(),
            loop_thread: std::thread::current().id(),
            clock,
            loop_t0,
            started_at: SystemTime::now(),
            executor: executor.map(|e| e.bind(py).clone().unbind()),
            hooks: hooks.clone().into_any().unbind(),
            context,
            done,
            cap: max_parallel.unwrap_or(usize::MAX),
            title,
            inline: AtomicU32::new(0),
        });
        Ok(Run { shared })
    }

    /// Starts the run (emits `process_begin`, then the first tasks; an Orchestrator's main
    /// once the core says so).
    fn start(&self, py: Python<'_>) {
        let _entry = pool::enter();
        self.input_and_pump(py, |st, now| {
            if st.main.is_some() {
                st.sched.start_main(now);
            } else {
                st.sched.start(now);
            }
        });
    }

    /// The error a run that stopped early raises in its caller (the core's
    /// [`Scheduler::stop_error`] as a Python object), but for a hook's failure (the caller
    /// makes a `FlowError` with the report and [`Run::hook_error`] as its cause): the failing
    /// task's own exception (fail-fast), `TaskTimeoutError` (the run's timeout),
    /// `CancelledError` (a cancel). `None` when the run did not stop early, or stopped because
    /// main raised (main's own exception is the run's).
    fn stop_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let _entry = pool::enter();
        let st = lock_py(py, &self.shared);
        if let Some(StopReason::HookFailed { .. }) = st.sched.stop_reason() {
            return None;
        }
        let e = st.sched.stop_error()?;
        let task = match st.sched.stop_reason() {
            Some(StopReason::FailFast { task }) => task.to_string(),
            _ => String::new(),
        };
        Some(crate::errors::task_error(py, &e, &task))
    }

    /// The exception of the hook whose failure stopped the run, if one did (the core keeps
    /// it as the source of the run's error).
    fn hook_error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let _entry = pool::enter();
        let st = lock_py(py, &self.shared);
        if let Some(StopReason::HookFailed { .. }) = st.sched.stop_reason() {
            let e = st.sched.stop_error()?;
            return e.source_ref::<Py<PyAny>>().map(|o| o.clone_ref(py));
        }
        None
    }

    /// The KeyboardInterrupt or SystemExit a body raised, which stopped the run: the caller
    /// raises it (taken: once).
    fn take_interrupt(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let _entry = pool::enter();
        lock_py(py, &self.shared)
            .interrupt
            .take()
            .map(|e| e.into_value(py).into_any())
    }

    /// An Orchestrator's main, once the core started it: its asyncio future.
    fn main_future(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let _entry = pool::enter();
        lock_py(py, &self.shared)
            .main_fut
            .as_ref()
            .map(|f| f.clone_ref(py))
    }

    /// A blocking run (no event loop; `_runtime.drive` is its driving loop): does the loop
    /// work that runs no user code, waiting without the GIL for work, the next deadline or a
    /// signal to check; returns the next hook call, `(kind, payload)`, a step's condition to call, `(None, (task, when, ctx))`, or `None` once the run
    /// is finished. A signal handler's exception (Ctrl-C's KeyboardInterrupt) cancels the run;
    /// [`Run::_drive_end`] raises it, so hooks still see `process_completion`.
    fn _drive_next(&self, py: Python<'_>) -> PyResult<Option<(Py<PyAny>, Py<PyAny>)>> {
        let _entry = pool::enter();
        if self.shared.lp.is_some() {
            return Err(PyRuntimeError::new_err(
                "_drive_next() is for a run without an event loop",
            ));
        }
        Ok(self.drive_next(py))
    }

    /// The end of a blocking run: raises the KeyboardInterrupt (or SystemExit) that cancelled
    /// it, if one did.
    fn _drive_end(&self, py: Python<'_>) -> PyResult<()> {
        let _entry = pool::enter();
        let mut st = lock_py(py, &self.shared);
        match st.drive_err.take().or_else(|| st.interrupt.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A blocking run's driving loop was interrupted between its steps by `e` (Ctrl-C): the
    /// hooks in flight count as done, the run is cancelled, and `e` is raised at its end.
    fn _interrupt(&self, py: Python<'_>, e: Bound<'_, PyAny>) {
        let _entry = pool::enter();
        self.drive_interrupt(py, PyErr::from_value(e));
    }

    /// What the first step of an async body gave (`_runtime.start_bodies`): see
    /// [`Shared::started`].
    #[pyo3(signature = (task, attempt, coro, first, failed))]
    fn _started(
        &self,
        py: Python<'_>,
        task: u32,
        attempt: u32,
        coro: Option<Bound<'_, PyAny>>,
        first: Bound<'_, PyAny>,
        failed: Option<Bound<'_, PyAny>>,
    ) {
        let _entry = pool::enter();
        self.shared.started(py, task, attempt, coro, first, failed);
    }

    /// A step's condition was called (`_runtime.evaluate`): its truth `value`, or `failed`, the
    /// exception it raised (see [`Shared::evaluated`]).
    #[pyo3(signature = (task, value, failed))]
    fn _evaluated(&self, py: Python<'_>, task: u32, value: bool, failed: Option<Bound<'_, PyAny>>) {
        let _entry = pool::enter();
        self.shared.evaluated(py, task, value, failed);
    }

    /// Does the loop work queued meanwhile (after `_runtime.start_bodies`).
    fn _pump(&self, py: Python<'_>) {
        let _entry = pool::enter();
        self.shared.pump(py);
    }

    /// The hooks of the event in flight are done (called from Python, see [`Shared::emit`]):
    /// `failed`, the exception one of them raised; `coro`, what they returned to be awaited
    /// when one is async.
    #[pyo3(signature = (failed, coro))]
    fn _hook_result(
        &self,
        py: Python<'_>,
        failed: Option<Bound<'_, PyAny>>,
        coro: Option<Bound<'_, PyAny>>,
    ) {
        let _entry = pool::enter();
        self.shared.hooks_called(py, failed, coro);
    }

    /// Cancels the whole run: running attempts are cancelled, the rest skipped. On the run's
    /// loop the cancel joins this instant's batch (attempts that finished at this instant
    /// count as finished: the core decides).
    pub(super) fn cancel(&self, py: Python<'_>) {
        let _entry = pool::enter();
        let run = &self.shared;
        let mut jobs = Vec::new();
        {
            let mut st = lock_py(py, run);
            if run.lp.is_some() && run.on_loop_thread() && !st.finished {
                run.batched(py, &mut st, Input::Cancel);
                return;
            }
            let now = run.now(py);
            let batch = st.batch.take();
            let mut inputs = batch.unwrap_or_default();
            inputs.push(Input::Cancel);
            let _ = st.sched.handle(now, inputs);
            run.route(py, &mut st, &mut jobs);
            // Blocked sync callers of a finished run must not wait forever.
            if st.finished {
                st.blocked.clear();
                run.cv.notify_all();
            }
            run.kick(py, &mut st);
        }
        run.submit(jobs, false);
    }

    /// Whether the run is over.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        let _entry = pool::enter();
        lock_py(py, &self.shared).finished
    }

    /// The run's report (final once the run is finished).
    fn report(&self, py: Python<'_>) -> PyResult<Py<RunReport>> {
        let _entry = pool::enter();
        let run = &self.shared;
        let mut st = lock_py(py, run);
        if let Some(r) = &st.report {
            return Ok(r.clone_ref(py));
        }
        let r = run.report(py, &mut st)?;
        if st.finished {
            st.report = Some(r.clone_ref(py));
        }
        Ok(r)
    }

    /// The reason the run stopped early, if it did.
    fn stop_reason(&self, py: Python<'_>) -> Option<String> {
        let _entry = pool::enter();
        lock_py(py, &self.shared)
            .sched
            .stop_reason()
            .map(|s| s.to_string())
    }

    /// The task context for the Orchestrator's main (no task).
    fn main_context(&self, py: Python<'_>) -> PyResult<Py<TaskContext>> {
        let _entry = pool::enter();
        Py::new(
            py,
            TaskContext {
                run: self.shared.clone(),
                task: None,
                name: "main".into(),
                attempt: 0,
                flag: Arc::new(AtomicBool::new(false)),
            },
        )
    }

    /// Calls an action inside this run: spawns a dynamic task. Returns an asyncio future when
    /// `future`, else blocks (without the GIL) and returns the value or raises the error.
    #[pyo3(signature = (func, is_async, args, kwargs, name, options, retry_if, cache_key, future, parent))]
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        py: Python<'_>,
        func: Py<PyAny>,
        is_async: bool,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
        name: String,
        options: Option<PyRef<'_, crate::convert::Options>>,
        retry_if: Option<Py<PyAny>>,
        cache_key: Option<Py<PyAny>>,
        future: bool,
        parent: Option<&Bound<'_, TaskContext>>,
    ) -> PyResult<(u32, Py<PyAny>)> {
        let _entry = pool::enter();
        let opts = options.map(|o| o.inner.clone()).unwrap_or_default();
        let body = Body::call(func, is_async, args, kwargs, retry_if);
        let key = match cache_key {
            Some(k) => Some((k.bind(py).hash()?, k)),
            None => None,
        };
        let parent = self.parent(parent);
        self.shared.call(py, body, name, opts, key, parent, future)
    }

    /// Makes several action calls at once (`parallel`): each `(func, is_async, args, kwargs,
    /// name, options, retry_if, cache_key)` as [`Run::call`], all handed to the core together;
    /// with `fail_fast` they are a fail-fast group of the core's. Returns each call's
    /// `(task, handle)` and the group's number (for [`Run::group_failure`] / [`Run::wait`]).
    #[pyo3(signature = (calls, future, parent, fail_fast))]
    #[allow(clippy::type_complexity)]
    fn calls(
        &self,
        py: Python<'_>,
        calls: Vec<(
            Py<PyAny>,
            bool,
            Py<PyTuple>,
            Option<Py<PyDict>>,
            String,
            Option<Py<crate::convert::Options>>,
            Option<Py<PyAny>>,
            Option<Py<PyAny>>,
        )>,
        future: bool,
        parent: Option<&Bound<'_, TaskContext>>,
        fail_fast: bool,
    ) -> PyResult<super::calls::Made> {
        let _entry = pool::enter();
        let mut made = Vec::with_capacity(calls.len());
        for (func, is_async, args, kwargs, name, options, retry_if, cache_key) in calls {
            let opts = options
                .map(|o| o.borrow(py).inner.clone())
                .unwrap_or_default();
            let key = match cache_key {
                Some(k) => Some((k.bind(py).hash()?, k)),
                None => None,
            };
            made.push(super::calls::NewCall {
                body: Body::call(func, is_async, args, kwargs, retry_if),
                name,
                opts,
                cache_key: key,
            });
        }
        let parent = self.parent(parent);
        self.shared.calls(py, made, parent, future, fail_fast)
    }

    /// Makes the calls `tasks`, made by the code running now (`parent`: a task's context,
    /// else main), a fail-fast group of the core's: the first that fails cancels the others
    /// the caller made. Returns the group's number for [`Run::group_failure`] / [`Run::wait`].
    #[pyo3(signature = (tasks, parent))]
    fn group(
        &self,
        py: Python<'_>,
        tasks: Vec<u32>,
        parent: Option<&Bound<'_, TaskContext>>,
    ) -> PyResult<u32> {
        let _entry = pool::enter();
        let parent = self.parent(parent);
        self.shared.group(py, &tasks, parent)
    }

    /// The member of group `group` (from [`Run::group`]) that failed first, if one did.
    fn group_failure(&self, py: Python<'_>, group: u32) -> Option<u32> {
        let _entry = pool::enter();
        let st = lock_py(py, &self.shared);
        let g = st.sched.group_id(group)?;
        st.sched.group_failure(g).map(|t| t.as_u32())
    }

    /// Blocks until the calls behind `slots` are done: their values, errors in place; for a
    /// fail-fast `group` (from [`Run::group`]), until the member the core says failed first
    /// is done, whose error is raised.
    #[pyo3(signature = (slots, tasks, group = None))]
    fn wait(
        &self,
        py: Python<'_>,
        slots: Vec<u64>,
        tasks: Vec<u32>,
        group: Option<u32>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let _entry = pool::enter();
        let g = group.and_then(|g| lock_py(py, &self.shared).sched.group_id(g));
        let got = self.shared.wait(py, &slots, &tasks, g)?;
        Ok(got
            .into_iter()
            .map(|d| match d {
                Delivery::Ok(v) | Delivery::Err(v) => v,
            })
            .collect())
    }

    /// A sync action's call made on the loop thread (see [`super::inline`]): does the run's
    /// loop work until the calls behind `slots` are done. Gives `(True, outcome, None, None)`
    /// then — with `one`, the call's value (its error is raised); else every call's outcome,
    /// errors in place (a fail-fast `group`'s first failure is raised) — or `(False, hooks,
    /// kind, payload)`: a hook call to make first, or `(False, None, None, None)` after a wait.
    /// Raises `RuntimeError` when the calls could only end once the loop runs again.
    #[pyo3(signature = (slots, tasks, group, one))]
    fn _inline_next(
        &self,
        py: Python<'_>,
        slots: Vec<u64>,
        tasks: Vec<u32>,
        group: Option<u32>,
        one: bool,
    ) -> PyResult<super::inline::InlineStep> {
        let _entry = pool::enter();
        let g = group.and_then(|g| lock_py(py, &self.shared).sched.group_id(g));
        let calls = super::inline::Awaited {
            slots: &slots,
            tasks: &tasks,
            group: g,
            one,
        };
        self.inline_next(py, &calls)
    }

    /// The run's identity: the same for every `Run` object of one run (a context's
    /// `_run()` makes a new one).
    #[getter]
    fn key(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The caller of [`Run::_inline_next`] is cancelled: the calls behind `slots` are
    /// cancelled and their outcomes dropped.
    fn _inline_cancel(&self, py: Python<'_>, slots: Vec<u64>, tasks: Vec<u32>) {
        let _entry = pool::enter();
        self.inline_cancel(py, &slots, &tasks);
    }

    /// Blocks until one call is done: its value, or raises its error.
    fn wait_one(&self, py: Python<'_>, slot: u64, task: u32) -> PyResult<Py<PyAny>> {
        let _entry = pool::enter();
        let got = self.shared.wait(py, &[slot], &[task], None)?;
        match got.into_iter().next() {
            Some(Delivery::Ok(v)) => Ok(v),
            Some(Delivery::Err(e)) => Err(PyErr::from_value(e.into_bound(py))),
            None => Ok(py.None()),
        }
    }

    /// Whether a cached call with this key was made in this run already: a call with it joins
    /// that task (an action's `uses` function is then not asked for its keys).
    fn is_cached(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let _entry = pool::enter();
        let h = key.hash()?;
        let st = lock_py(py, &self.shared);
        Ok(st.cache.get(&h).is_some_and(|entries| {
            entries
                .iter()
                .any(|(k, _)| k.bind(py).eq(key).unwrap_or(false))
        }))
    }

    /// Whether the caller is on the run's loop thread.
    fn on_loop_thread(&self) -> bool {
        self.shared.on_loop_thread()
    }

    /// Whether `ctx` belongs to this run.
    fn owns(&self, ctx: &Bound<'_, TaskContext>) -> bool {
        Arc::ptr_eq(&ctx.get().run, &self.shared)
    }
}
