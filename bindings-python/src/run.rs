//! The Python driver: one run of the core `Scheduler` on the caller's asyncio loop.
//!
//! The scheduler decides everything; this only forwards:
//! - `Start` of an `async def` body: called on the loop thread and driven once with
//!   `coro.send(None)` (a coroutine that finishes without suspending costs no asyncio Task);
//!   otherwise it goes on as a Task whose done-callback feeds the core.
//! - `Start` of a sync body: a job for the worker pool ([`crate::pool`]); the worker reports
//!   the outcome itself and takes the next ready job, without going through the loop. With
//!   `executor=`, the body is submitted to the executor and its future's callback reports.
//! - `Cancel`: the asyncio task is cancelled (`CancelledError` inside the coroutine); a sync
//!   body cannot be killed: its cancel flag is set and its late outcome is ignored.
//! - `Emit`: the hooks run on the loop thread, in order, awaited when async; then `hook_done`.
//! - Time is the loop's (`loop.time()`), timers are `loop.call_at`, so a virtual clock works.
//!
//! A sync `Flow.run()` of a flow with only sync steps and sync hooks needs no event loop: the
//! run is *blocking* ([`Run::drive`]). The caller's thread then plays the loop's part: it waits
//! without the GIL until there is loop work (hooks, executor submissions, the end), the next
//! deadline, or a signal to check, and does it; time is the monotonic clock.
//!
//! Locking: every access to the scheduler is under [`Shared::st`]. A thread holding it never
//! waits for the GIL and never calls user code, so holding the GIL while taking it is safe.

use crate::errors::CancelledError;
use crate::pool::{pool, Job};
use crate::report::RunReport;
use legato::event::{Event, EventKind, HookMask, Status, StopReason, TaskError};
use legato::graph::{Graph, Selection, TaskId};
use legato::host::{Payload, Slots};
use legato::policy::TaskOptions;
use legato::scheduler::{Command, GroupId, HookToken, Input, Outcome, RunOptions, Scheduler};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Python helpers from `legato._runtime`, set once by `legato/__init__.py`.
pub(crate) struct Helpers {
    resume: Py<PyAny>,
    when_quiet: Py<PyAny>,
    dispatch: Py<PyAny>,
    utc: Py<PyAny>,
    events: Py<PyDict>,
    copy_context: Py<PyAny>,
    current: Py<PyAny>,
    run_awaitable: Py<PyAny>,
    pub(crate) start_worker: Py<PyAny>,
}

static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();

#[pyfunction]
pub(crate) fn _init(py: Python<'_>, runtime: &Bound<'_, PyAny>) -> PyResult<()> {
    let h = Helpers {
        resume: runtime.getattr("resume")?.unbind(),
        when_quiet: runtime.getattr("when_quiet")?.unbind(),
        dispatch: runtime.getattr("dispatch")?.unbind(),
        utc: runtime.getattr("utc")?.unbind(),
        events: runtime.getattr("EVENTS")?.cast_into::<PyDict>()?.unbind(),
        copy_context: py.import("contextvars")?.getattr("copy_context")?.unbind(),
        current: runtime.getattr("CURRENT")?.unbind(),
        run_awaitable: runtime.getattr("run_awaitable")?.unbind(),
        start_worker: runtime.getattr("start_worker")?.unbind(),
    };
    let _ = HELPERS.set(py, h);
    Ok(())
}

pub(crate) fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS
        .get(py)
        .ok_or_else(|| PyRuntimeError::new_err("legato._legato is not initialised"))
}

/// How a body takes its arguments.
pub(crate) enum Param {
    Ctx,
    Result(u32),
}

/// A callable and how to call it.
pub(crate) struct Body {
    pub(crate) func: Py<PyAny>,
    pub(crate) is_async: bool,
    /// Keyword arguments built per call (flows: `ctx` and upstream results).
    pub(crate) params: Vec<(Py<PyString>, Param)>,
    /// Fixed arguments (an action call's own).
    pub(crate) args: Option<(Py<PyTuple>, Option<Py<PyDict>>)>,
    pub(crate) retry_if: Option<Py<PyAny>>,
}

/// A running attempt, for cancellation.
enum Running {
    Task(Py<PyAny>),
    Flag(Arc<AtomicBool>),
}

/// Who waits for a call's outcome (a dynamic task's caller, a join's).
enum Waiter {
    /// An asyncio future on the run's loop.
    Future(Py<PyAny>),
    /// A blocked sync caller.
    Slot(u64),
}

/// A worker's current job: its run, task, attempt and cancel flag.
type CurrentJob = (Arc<Shared>, u32, u32, Arc<AtomicBool>);

/// Positional and keyword arguments of a call.
type CallArgs<'py> = (Option<Bound<'py, PyTuple>>, Option<Bound<'py, PyDict>>);

/// A call's outcome as its caller gets it: the value, or the exception to raise.
enum Delivery {
    Ok(Py<PyAny>),
    Err(Py<PyAny>),
}

/// Work for the loop thread.
enum LoopCmd {
    Start(u32, u32),
    Cancel(Py<PyAny>),
    Emit(Py<PyAny>, Py<PyAny>, HookToken),
    Resolve(Py<PyAny>, Delivery),
    /// The core says `main` may start (every `process_begin` hook is done).
    StartMain,
    /// The core stopped the run while `main` runs: cancel it, do not wait for it.
    CancelMain,
    Finished,
}

/// The run's clock: the loop's time, read from Rust when the loop's clock is the stock
/// monotonic one, else through `loop.time()` (a virtual clock).
enum Clock {
    Mono { t0: Instant },
    Loop { time: Py<PyAny>, t0: f64 },
}

/// Per task: its body, its exception object once made (so every caller, hook and the report
/// get the same object), and the waiter of its call.
type TaskSlots = Slots<Arc<Body>, (), (), Py<PyAny>, Waiter>;

pub(crate) struct State {
    sched: Scheduler<Py<PyAny>>,
    slots: TaskSlots,
    /// The fail-fast groups made by `parallel` calls, by the number Python holds.
    groups: Vec<GroupId>,
    /// The waiters of [`Scheduler::join`]s, by join number.
    joins: Vec<Option<Waiter>>,
    running: HashMap<u32, Running>,
    loop_q: VecDeque<LoopCmd>,
    wake_pending: bool,
    armed: Option<Duration>,
    /// Inputs of the current instant, given to the core as one batch when the loop has run
    /// what was ready at that instant (`Some` once a timer fired or an outside cancel came).
    batch: Option<Vec<Input<Py<PyAny>>>>,
    /// The batch's time is at least this (the deadline of the timer that opened it).
    batch_floor: Duration,
    /// Outcomes for blocked sync callers, by slot number.
    blocked: HashMap<u64, Option<Delivery>>,
    next_slot: u64,
    finished: bool,
    report: Option<Py<RunReport>>,
    cache: HashMap<isize, Vec<(Py<PyAny>, u32)>>,
    /// A blocking run: a KeyboardInterrupt raised in a hook on the driving thread.
    interrupt: Option<PyErr>,
    /// An Orchestrator's main: the callable that starts it (given `StartMain`), then its
    /// asyncio future.
    main: Option<Py<PyAny>>,
    main_fut: Option<Py<PyAny>>,
}

impl State {
    /// The id of task number `t` of this run. Numbers come from the core's own commands, so
    /// they are valid; one that is not falls back to an id the core refuses (an error, not a
    /// panic, at the input that uses it).
    fn id(&self, t: u32) -> TaskId {
        self.sched
            .task_id(t)
            .unwrap_or_else(|| TaskId::from_report_index(u32::MAX))
    }

    /// Whether attempt `attempt` of task `t` is running now.
    fn is_current(&self, t: u32, attempt: u32) -> bool {
        self.sched.is_current_attempt(self.id(t), attempt)
    }

    /// The body of task `t`.
    fn body(&self, t: u32) -> Option<&Arc<Body>> {
        self.slots.slot(self.id(t)).and_then(|s| s.body.as_ref())
    }
}

pub(crate) struct Shared {
    st: Mutex<State>,
    cv: Condvar,
    /// The run's asyncio loop; `None` for a blocking run (see the top).
    lp: Option<Py<PyAny>>,
    /// Wakes a blocking run's driving thread (loop work queued, an earlier deadline).
    host_cv: Condvar,
    loop_thread: std::thread::ThreadId,
    clock: Clock,
    loop_t0: f64,
    started_at: SystemTime,
    executor: Option<Py<PyAny>>,
    hooks: Py<PyAny>,
    context: Py<PyAny>,
    /// The asyncio future set when the run is finished (`None`: a blocking run).
    done: Option<Py<PyAny>>,
    cap: usize,
    title: String,
}

/// Locks the run state from a thread without the GIL (inside `detach`).
fn lock(s: &Shared) -> MutexGuard<'_, State> {
    s.st.lock().unwrap_or_else(|e| e.into_inner())
}

/// Locks the run state from a thread that holds the GIL. When the lock is taken, the GIL is
/// released while waiting: its holder may be waiting for the GIL (Python code run while it
/// holds the lock can switch threads, and so can the garbage collector), so waiting for it with
/// the GIL held could deadlock.
fn lock_py<'a>(_py: Python<'_>, s: &'a Shared) -> MutexGuard<'a, State> {
    match s.st.try_lock() {
        Ok(g) => g,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            // SAFETY: this thread holds the GIL (we have a `Python` token); it is given back
            // before returning, and nothing here touches Python objects meanwhile.
            let ts = unsafe { pyo3::ffi::PyEval_SaveThread() };
            let g = s.st.lock().unwrap_or_else(|e| e.into_inner());
            unsafe { pyo3::ffi::PyEval_RestoreThread(ts) };
            g
        }
    }
}

thread_local! {
    /// The task a pool worker is running (sync bodies); async bodies use the context variable.
    static CURRENT: RefCell<Option<CurrentJob>> = const { RefCell::new(None) };
}

impl Shared {
    fn now(&self, py: Python<'_>) -> Duration {
        let secs = match &self.clock {
            Clock::Mono { t0 } => return round_us(t0.elapsed()),
            Clock::Loop { time, t0 } => {
                time.call0(py)
                    .and_then(|t| t.extract::<f64>(py))
                    .unwrap_or(*t0)
                    - t0
            }
        };
        round_us(Duration::from_secs_f64(secs.max(0.0)))
    }

    /// `now` for a run on the monotonic clock, without the GIL (a blocking run's wait).
    fn now_mono(&self) -> Duration {
        match &self.clock {
            Clock::Mono { t0 } => round_us(t0.elapsed()),
            Clock::Loop { .. } => Duration::MAX,
        }
    }

    fn on_loop_thread(&self) -> bool {
        std::thread::current().id() == self.loop_thread
    }

    /// After an input: moves the scheduler's actions where they go. Returns the sync jobs to
    /// queue (after the lock is released) and whether the loop must be woken.
    fn route(self: &Arc<Self>, py: Python<'_>, st: &mut State, jobs: &mut Vec<Job>) {
        while let Some(command) = st.sched.next_command() {
            match command {
                Command::Start { task, attempt } => {
                    let t = task.as_u32();
                    let sync = st.body(t).is_some_and(|b| !b.is_async);
                    if sync && self.executor.is_none() {
                        jobs.push(Job {
                            run: self.clone(),
                            task: t,
                            attempt,
                        });
                    } else {
                        st.loop_q.push_back(LoopCmd::Start(t, attempt));
                    }
                }
                Command::Cancel { task, .. } => match st.running.remove(&task.as_u32()) {
                    Some(Running::Task(t)) => st.loop_q.push_back(LoopCmd::Cancel(t)),
                    Some(Running::Flag(f)) => f.store(true, Ordering::SeqCst),
                    None => {}
                },
                Command::Emit { event, token } => {
                    let payload = self.payload(py, st, &event);
                    match payload {
                        Ok((kind, p)) => st.loop_q.push_back(LoopCmd::Emit(kind, p, token)),
                        Err(e) => {
                            e.restore(py);
                            let _ = st.sched.hook_done(token, self.now(py));
                        }
                    }
                }
                Command::Deliver { task } => {
                    if let Some(w) = st.slots.take_waiter(task) {
                        let d = self.outcome(py, st, task.as_u32());
                        self.deliver(st, w, d);
                    }
                }
                Command::Joined { join, task } => {
                    let w = st
                        .joins
                        .get_mut(join.as_u32() as usize)
                        .and_then(Option::take);
                    if let Some(w) = w {
                        let d = self.outcome(py, st, task.as_u32());
                        self.deliver(st, w, d);
                    }
                }
                Command::StartMain => st.loop_q.push_back(LoopCmd::StartMain),
                Command::CancelMain => st.loop_q.push_back(LoopCmd::CancelMain),
                Command::Finished => {
                    st.finished = true;
                    st.loop_q.push_back(LoopCmd::Finished);
                }
                // Resume: this driver makes no waits of its own (Scheduler::suspend).
                _ => {}
            }
        }
        if !st.finished {
            if let Some(d) = st.sched.next_deadline() {
                if st.armed.is_none_or(|a| d < a) {
                    // Only the loop thread arms timers: wake it (it re-checks the deadline).
                    if !self.on_loop_thread() && !st.wake_pending {
                        st.wake_pending = true;
                        let _ = self.wake(py);
                    }
                }
            }
        }
        if !st.loop_q.is_empty() && !st.wake_pending && !self.on_loop_thread() {
            st.wake_pending = true;
            let _ = self.wake(py);
        }
    }

    /// From user code on the loop thread (an action call, a cancel): pump soon, not nested.
    fn kick(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
        // A blocking run's driver looks at its queue after every input it makes.
        let Some(lp) = &self.lp else { return };
        if self.on_loop_thread()
            && !st.wake_pending
            && (!st.loop_q.is_empty() || st.sched.next_deadline().is_some())
        {
            st.wake_pending = true;
            if let Ok(pump) = Py::new(py, Pump { run: self.clone() }) {
                let _ = lp.call_method1(py, intern!(py, "call_soon"), (pump,));
            }
        }
    }

    fn wake(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        let Some(lp) = &self.lp else {
            // Called with the state locked: the driver is waiting, or will look before it does.
            self.host_cv.notify_one();
            return Ok(());
        };
        let pump = Py::new(py, Pump { run: self.clone() })?;
        lp.call_method1(py, intern!(py, "call_soon_threadsafe"), (pump,))?;
        Ok(())
    }

    /// The run's loop, for what only an asyncio run does (async bodies and hooks, futures).
    fn lp(&self) -> PyResult<&Py<PyAny>> {
        self.lp
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this run has no event loop (a blocking run)"))
    }

    /// The outcome of a finished task as its callers get it (through the one conversion,
    /// [`crate::errors::call_outcome`]); an exception object is made once per task.
    fn outcome(&self, py: Python<'_>, st: &mut State, t: u32) -> Delivery {
        let id = st.id(t);
        if let Some(e) = st.slots.slot(id).and_then(|s| s.error.as_ref()) {
            return Delivery::Err(e.clone_ref(py));
        }
        let r = match st.sched.call_outcome(id) {
            Ok(o) => crate::errors::call_outcome(py, o, st.sched.name(id)),
            Err(e) => Err(PyRuntimeError::new_err(e.to_string())
                .into_value(py)
                .into_any()),
        };
        match r {
            Ok(v) => Delivery::Ok(v),
            Err(e) => {
                st.slots.slot_mut(id).error = Some(e.clone_ref(py));
                Delivery::Err(e)
            }
        }
    }

    /// The exception object of a finished task that did not succeed (its outcome's).
    fn error_object(&self, py: Python<'_>, st: &mut State, t: u32) -> Py<PyAny> {
        match self.outcome(py, st, t) {
            Delivery::Err(e) => e,
            Delivery::Ok(_) => py.None(),
        }
    }

    fn deliver(&self, st: &mut State, w: Waiter, d: Delivery) {
        match w {
            Waiter::Future(f) => st.loop_q.push_back(LoopCmd::Resolve(f, d)),
            Waiter::Slot(n) => {
                st.blocked.insert(n, Some(d));
                self.cv.notify_all();
            }
        }
    }

    fn utc(&self, py: Python<'_>, at: Duration) -> PyResult<Py<PyAny>> {
        let ts = crate::convert::epoch(self.started_at) + at.as_secs_f64();
        helpers(py)?.utc.call1(py, (ts,))
    }

    /// The hook payload of an event: (kind name, payload object), made from the core's
    /// neutral [`Payload`] with the fields it lists for the event's kind.
    fn payload(
        &self,
        py: Python<'_>,
        st: &mut State,
        ev: &Event,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let kind = ev.kind().as_str();
        // The payload borrows the scheduler: take what the host objects are made of.
        let (p, error, result, reason, fields) = {
            let p = Payload::new(&st.sched, ev);
            let fields = Payload::<Py<PyAny>>::FIELDS
                .get(legato::host::code::kind(p.kind) as usize)
                .copied()
                .unwrap_or(&[]);
            let error = p.error.cloned();
            let result = p.result.map(|v| v.clone_ref(py));
            let reason = p.reason.map(|r| r.to_string());
            let owned = (
                p.task,
                p.name.to_owned(),
                p.attempt,
                p.at,
                p.duration,
                p.delay,
                p.status,
            );
            (owned, error, result, reason, fields)
        };
        let (task, name, attempt, at, duration, delay, status) = p;
        let kw = PyDict::new(py);
        for &field in fields {
            match field {
                "name" => kw.set_item(field, &name)?,
                "time" | "start_time" => kw.set_item(field, self.utc(py, at)?)?,
                "attempt" => kw.set_item(field, attempt)?,
                "context" => kw.set_item(field, &self.context)?,
                "duration" | "total_duration" => {
                    kw.set_item(field, duration.map(|d| d.as_secs_f64()))?
                }
                "delay" => kw.set_item(field, delay.map(|d| d.as_secs_f64()))?,
                "status" => kw.set_item(field, status.map(|s| s.as_str()))?,
                "reason" => kw.set_item(field, &reason)?,
                "result" => kw.set_item(field, result.as_ref().map(|v| v.clone_ref(py)))?,
                "report" => kw.set_item(field, self.report(py, st)?)?,
                "error" => {
                    let e = match (&error, task) {
                        (None, _) => py.None(),
                        // A retry's error is that attempt's; the others are the task's own
                        // (the same object its callers and the report get).
                        (Some(e), _) if ev.kind() == EventKind::TaskRetry => {
                            crate::errors::task_error(py, e, &name)
                        }
                        (Some(_), Some(t)) => self.error_object(py, st, t.as_u32()),
                        (Some(e), None) => crate::errors::task_error(py, e, &name),
                    };
                    kw.set_item(field, e)?
                }
                _ => {}
            }
        }
        let h = helpers(py)?;
        let cls = h
            .events
            .bind(py)
            .get_item(kind)?
            .ok_or_else(|| PyRuntimeError::new_err("unknown event"))?;
        Ok((
            PyString::new(py, kind).into_any().unbind(),
            cls.call((), Some(&kw))?.unbind(),
        ))
    }

    /// The report of the run so far, with the hosts' values and errors.
    fn report(&self, py: Python<'_>, st: &mut State) -> PyResult<Py<RunReport>> {
        let mut core = st.sched.report();
        core.started_at = Some(self.started_at);
        let mut values = Vec::with_capacity(core.tasks.len());
        let mut errors = Vec::with_capacity(core.tasks.len());
        for t in &core.tasks {
            let id = t.id.as_u32();
            values.push(if t.status == Status::Succeeded {
                st.sched.value(t.id).map(|v| v.clone_ref(py))
            } else {
                None
            });
            errors.push(if t.status.is_failure() {
                Some(self.error_object(py, st, id))
            } else {
                None
            });
        }
        Py::new(py, RunReport::new(core, values, errors, self.title.clone()))
    }

    /// Arguments for a body's call.
    fn call_args<'py>(
        self: &Arc<Self>,
        py: Python<'py>,
        st: &State,
        body: &Body,
        task: u32,
        attempt: u32,
        flag: &Arc<AtomicBool>,
    ) -> PyResult<CallArgs<'py>> {
        if let Some((a, k)) = &body.args {
            return Ok((
                Some(a.bind(py).clone()),
                k.as_ref().map(|k| k.bind(py).clone()),
            ));
        }
        if body.params.is_empty() {
            return Ok((None, None));
        }
        let kw = PyDict::new(py);
        for (name, p) in &body.params {
            match p {
                Param::Ctx => kw.set_item(name, self.context_obj(py, st, task, attempt, flag)?)?,
                Param::Result(t) => {
                    let v = st
                        .sched
                        .value(st.id(*t))
                        .map(|v| v.clone_ref(py))
                        .unwrap_or_else(|| py.None());
                    kw.set_item(name, v)?
                }
            }
        }
        Ok((None, Some(kw)))
    }

    fn context_obj(
        self: &Arc<Self>,
        py: Python<'_>,
        st: &State,
        task: u32,
        attempt: u32,
        flag: &Arc<AtomicBool>,
    ) -> PyResult<Py<TaskContext>> {
        Py::new(
            py,
            TaskContext {
                run: self.clone(),
                task: Some(task),
                name: st.sched.name(st.id(task)).to_owned(),
                attempt,
                flag: flag.clone(),
            },
        )
    }

    /// Feeds an attempt's outcome to the core and routes what follows.
    fn finish(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        attempt: u32,
        r: Result<Py<PyAny>, PyErr>,
        jobs: &mut Vec<Job>,
    ) {
        let outcome = match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => {
                let retry_if = {
                    let st = lock_py(py, self);
                    st.body(task)
                        .and_then(|b| b.retry_if.as_ref().map(|r| r.clone_ref(py)))
                };
                let exc = e.into_value(py).into_any();
                let retryable = match retry_if {
                    None => true,
                    Some(p) => p
                        .call1(py, (exc.clone_ref(py),))
                        .and_then(|r| r.is_truthy(py))
                        .unwrap_or(false),
                };
                let msg = exc
                    .bind(py)
                    .str()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let msg = if msg.is_empty() {
                    crate::convert::type_name(exc.bind(py))
                } else {
                    msg
                };
                let source: legato::event::ErrorSource = Arc::new(exc);
                Outcome::Err {
                    error: TaskError::failed(msg).with_source(source),
                    retryable,
                }
            }
        };
        let now = self.now(py);
        let mut st = lock_py(py, self);
        if st.sched.attempt(st.id(task)) == attempt {
            st.running.remove(&task);
        }
        let id = st.id(task);
        match &mut st.batch {
            // A timer fired (or a cancel came) at this instant: the completion goes with it.
            Some(batch) => batch.push(Input::Finished {
                task: id,
                attempt,
                outcome,
            }),
            None => {
                let _ = st.sched.attempt_finished(id, attempt, outcome, now);
            }
        }
        self.route(py, &mut st, jobs);
    }

    /// An input whose order against the completions of the same instant matters (the clock's
    /// advance, an outside cancel): it joins this instant's batch, given to the core once the
    /// loop has run what was ready at this instant ([`Flush`]). The core orders the batch.
    fn batched(self: &Arc<Self>, py: Python<'_>, st: &mut State, input: Input<Py<PyAny>>) {
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
    fn flush(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
        if let Some(batch) = st.batch.take() {
            let now = self.now(py).max(st.batch_floor);
            let _ = st.sched.handle(now, batch);
        }
    }

    fn submit(self: &Arc<Self>, jobs: Vec<Job>, taker: bool) {
        if !jobs.is_empty() {
            Python::attach(|py| pool().submit(py, jobs, self.cap, taker));
        }
    }

    /// The loop side: runs queued loop commands until none is left, then arms the timer.
    ///
    /// On an asyncio loop it hands control back to the loop after [`PUMP_BUDGET`] commands
    /// (and goes on in a later callback), so that timers, signals and other tasks still run
    /// while calls keep coming (a runaway recursion).
    fn pump(self: &Arc<Self>, py: Python<'_>) {
        let mut jobs = Vec::new();
        let mut done = 0usize;
        loop {
            let cmd = {
                let mut st = lock_py(py, self);
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
    }

    fn arm(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
        // A blocking run's driver waits for the deadline itself.
        let Some(lp) = &self.lp else { return };
        if st.finished {
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

    fn emit(
        self: &Arc<Self>,
        py: Python<'_>,
        kind: Py<PyAny>,
        payload: Py<PyAny>,
        token: HookToken,
        jobs: &mut Vec<Job>,
    ) {
        let r = helpers(py).and_then(|h| h.dispatch.call1(py, (&self.hooks, kind, payload)));
        match r {
            Ok(v) if v.is_none(py) => self.hook_result(py, token, None, jobs),
            Ok(coro) if self.lp.is_none() => {
                // A blocking run (its hooks are sync functions) met one that returned an
                // awaitable: it is awaited to its end on an event loop of its own.
                let r = helpers(py).and_then(|h| h.run_awaitable.call1(py, (coro,)));
                let failed = r.err().and_then(|e| self.hook_error(py, e));
                self.hook_result(py, token, failed, jobs)
            }
            Ok(coro) => {
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
                    self.hook_result(py, token, failed, jobs);
                }
            }
            Err(e) => {
                let failed = self.hook_error(py, e);
                self.hook_result(py, token, failed, jobs)
            }
        }
    }

    /// What a hook's exception makes of it: the hook's failure (the exception object); or, for
    /// Ctrl-C's KeyboardInterrupt in a blocking run (signal handlers run on its driving thread,
    /// which runs the hooks), nothing: the driver cancels the run and raises it at the end.
    fn hook_error(&self, py: Python<'_>, e: PyErr) -> Option<Py<PyAny>> {
        if self.lp.is_none() && e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
            lock_py(py, self).interrupt.get_or_insert(e);
            return None;
        }
        Some(e.into_value(py).into_any())
    }

    /// The hooks of `token` are done; `failed`: one raised this exception, which the core
    /// keeps as the source of the run's error (its `__cause__`).
    fn hook_result(
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
    fn start_main(self: &Arc<Self>, py: Python<'_>) {
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
    fn start_on_loop(
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
            let h = helpers(py)?;
            if !body.is_async {
                // executor=: submit, and let the future's callback report.
                let ex = self
                    .executor
                    .as_ref()
                    .expect("sync bodies reach the loop only with an executor");
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
                let cb = Done::new(py, self, task, attempt)?;
                let mut st = lock_py(py, self);
                st.running.insert(task, Running::Flag(flag.clone()));
                drop(st);
                fut.call_method1(intern!(py, "add_done_callback"), (cb,))?;
                return Ok(None);
            }
            // An async body needs the run's loop (a blocking run has none: it has no async steps).
            self.lp()?;
            let var = h.current.bind(py);
            let token = var.call_method1(intern!(py, "set"), (ctx,))?;
            let call = || -> PyResult<Bound<'_, PyAny>> {
                let coro = body.func.bind(py).call(
                    a.as_ref()
                        .map(|a| a.bind(py).clone())
                        .unwrap_or_else(|| PyTuple::empty(py)),
                    k.as_ref().map(|k| k.bind(py)),
                )?;
                Ok(coro)
            };
            let coro = call();
            let coro = match coro {
                Ok(c) => c,
                Err(e) => {
                    let _ = var.call_method1(intern!(py, "reset"), (token,));
                    return Err(e);
                }
            };
            let first = coro.call_method1(intern!(py, "send"), (py.None(),));
            let out = match first {
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    let v = e.value(py).getattr("value")?.unbind();
                    Ok(Some(v))
                }
                Err(e) => Err(e),
                Ok(yielded)
                    if yielded.is_none()
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
                Ok(yielded) => {
                    // Something else was yielded: let a wrapper hand it to a Task as it is.
                    let cx = h.copy_context.call0(py)?;
                    let wrapped = h.resume.call1(py, (&coro, yielded))?;
                    let kw = PyDict::new(py);
                    kw.set_item("context", cx)?;
                    let t =
                        self.lp()?
                            .bind(py)
                            .call_method("create_task", (wrapped,), Some(&kw))?;
                    let cb = Done::new(py, self, task, attempt)?;
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
            };
            let _ = var.call_method1(intern!(py, "reset"), (token,));
            out
        })();
        match r {
            Ok(None) => {}
            Ok(Some(v)) => self.finish(py, task, attempt, Ok(v), jobs),
            Err(e) => self.finish(py, task, attempt, Err(e), jobs),
        }
    }

    /// A dynamic task: an action call.
    #[allow(clippy::too_many_arguments)]
    fn call(
        self: &Arc<Self>,
        py: Python<'_>,
        body: Body,
        name: String,
        opts: Arc<TaskOptions>,
        cache_key: Option<(isize, Py<PyAny>)>,
        parent: Option<(u32, u32)>,
        future: bool,
    ) -> PyResult<(u32, Py<PyAny>)> {
        let now = self.now(py);
        let waiter = if future {
            Waiter::Future(self.lp()?.call_method0(py, intern!(py, "create_future"))?)
        } else {
            Waiter::Slot(0)
        };
        let fut_obj = match &waiter {
            Waiter::Future(f) => Some(f.clone_ref(py)),
            Waiter::Slot(_) => None,
        };
        let mut jobs = Vec::new();
        let slot;
        let spawned;
        {
            let mut st = lock_py(py, self);
            if st.finished {
                return Err(CancelledError::new_err("the run is over"));
            }
            let waiter = match waiter {
                Waiter::Slot(_) => {
                    st.next_slot += 1;
                    let n = st.next_slot;
                    st.blocked.insert(n, None);
                    slot = Some(n);
                    Waiter::Slot(n)
                }
                w => {
                    slot = None;
                    w
                }
            };
            let caller = match parent {
                Some((p, a)) => Some((
                    st.sched.task_id(p).ok_or_else(|| {
                        PyRuntimeError::new_err("the calling task is not of this run")
                    })?,
                    a,
                )),
                None => None,
            };
            // A cached call: the driver keeps only the key → task lookup (keys are Python
            // values); waiting for a call already made is the core's (a join).
            let mut hit = None;
            if let Some((h, key)) = &cache_key {
                if let Some(entries) = st.cache.get(h) {
                    for (k, t) in entries {
                        if k.bind(py).eq(key.bind(py)).unwrap_or(false) {
                            hit = Some(*t);
                            break;
                        }
                    }
                }
            }
            spawned = match hit {
                Some(t) => {
                    let target = st.id(t);
                    let join = st
                        .sched
                        .join(caller, target, now)
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    let j = join.as_u32() as usize;
                    if st.joins.len() <= j {
                        st.joins.resize_with(j + 1, || None);
                    }
                    st.joins[j] = Some(waiter);
                    t
                }
                None => {
                    // The core records the caller's attempt and suspends it; a call from an
                    // attempt that is over is cancelled (and delivered) at once.
                    let id = st
                        .sched
                        .spawn(caller, Arc::from(name.as_str()), opts, now)
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    let slot = st.slots.slot_mut(id);
                    slot.body = Some(Arc::new(body));
                    slot.waiter = Some(waiter);
                    if let Some((h, key)) = cache_key {
                        st.cache.entry(h).or_default().push((key, id.as_u32()));
                    }
                    id.as_u32()
                }
            };
            self.route(py, &mut st, &mut jobs);
            self.kick(py, &mut st);
        }
        self.submit(jobs, false);
        let handle = match (fut_obj, slot) {
            (Some(f), _) => f,
            (None, Some(n)) => n.into_pyobject(py)?.into_any().unbind(),
            (None, None) => py.None(),
        };
        Ok((spawned, handle))
    }

    /// Makes the calls `tasks` (made by `parent`, or main) a fail-fast group of the core's:
    /// the first that fails cancels the others the caller made.
    fn group(
        self: &Arc<Self>,
        py: Python<'_>,
        tasks: &[u32],
        parent: Option<(u32, u32)>,
    ) -> PyResult<u32> {
        let now = self.now(py);
        let mut jobs = Vec::new();
        let g = {
            let mut st = lock_py(py, self);
            let caller = parent.map(|(p, a)| (st.id(p), a));
            let members: Vec<TaskId> = tasks.iter().map(|&t| st.id(t)).collect();
            let g = st
                .sched
                .group(caller, &members, now)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            st.groups.push(g);
            self.route(py, &mut st, &mut jobs);
            self.kick(py, &mut st);
            st.groups.len() as u32 - 1
        };
        self.submit(jobs, false);
        Ok(g)
    }

    /// Blocks (without the GIL) until every slot is delivered — or, for a fail-fast group
    /// (`group`), until the member the core names as its first failure is, whose error is
    /// raised (the core cancelled the others).
    fn wait(
        self: &Arc<Self>,
        py: Python<'_>,
        slots: &[u64],
        tasks: &[u32],
        group: Option<GroupId>,
    ) -> PyResult<Vec<Delivery>> {
        let p = pool();
        p.block(py);
        let got = py.detach(|| {
            let mut st = lock(self);
            loop {
                let failed = group
                    .and_then(|g| st.sched.group_failure(g))
                    .and_then(|t| tasks.iter().position(|&x| x == t.as_u32()))
                    .filter(|&i| matches!(st.blocked.get(&slots[i]), Some(Some(_))));
                let mut all = true;
                for n in slots {
                    match st.blocked.get(n) {
                        Some(Some(_)) => {}
                        Some(None) => all = false,
                        None => return Err(()),
                    }
                }
                if all || failed.is_some() {
                    return Ok((
                        failed,
                        slots
                            .iter()
                            .map(|n| st.blocked.remove(n).flatten())
                            .collect::<Vec<_>>(),
                    ));
                }
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
                if p.is_shut_down() {
                    // The interpreter is exiting: never take the GIL back.
                    drop(st);
                    crate::pool::park_forever();
                }
            }
        });
        p.unblock();
        let Ok((failed, got)) = got else {
            return Err(CancelledError::new_err("the run is over"));
        };
        if let Some(i) = failed {
            if let Some(Some(Delivery::Err(e))) = got.into_iter().nth(i) {
                return Err(PyErr::from_value(e.into_bound(py)));
            }
            return Err(CancelledError::new_err("cancelled"));
        }
        Ok(got
            .into_iter()
            .map(|d| d.unwrap_or_else(|| Delivery::Ok(py.None())))
            .collect())
    }
}

/// How many loop commands one pump performs before it hands control back to the loop.
const PUMP_BUDGET: usize = 1024;

fn round_us(d: Duration) -> Duration {
    Duration::from_micros((d.as_nanos() as f64 / 1000.0).round() as u64)
}

fn resolve(py: Python<'_>, fut: &Py<PyAny>, d: Delivery) {
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

type Prepared = (Py<PyAny>, Py<PyTuple>, Option<Py<PyDict>>);

/// Makes a job ready to call: its callable and arguments; records it as this worker's current
/// task (`legato.current()`, and the report in `_worker_done`). `None` when the attempt is no
/// longer current (cancelled meanwhile) or could not start.
pub(crate) fn prepare_job(py: Python<'_>, job: Job) -> Option<Prepared> {
    let Job { run, task, attempt } = job;
    let flag = Arc::new(AtomicBool::new(false));
    let prep = {
        let mut st = lock_py(py, &run);
        if !st.is_current(task, attempt) {
            return None;
        }
        let body = st.body(task).cloned()?;
        st.running.insert(task, Running::Flag(flag.clone()));
        let args = run
            .call_args(py, &st, &body, task, attempt, &flag)
            .map(|(a, k)| (a.map(|a| a.unbind()), k.map(|k| k.unbind())));
        (body, args)
    };
    let (body, args) = prep;
    match args {
        Ok((a, k)) => {
            CURRENT.with(|c| *c.borrow_mut() = Some((run, task, attempt, flag)));
            let a = a.unwrap_or_else(|| PyTuple::empty(py).unbind());
            Some((body.func.clone_ref(py), a, k))
        }
        Err(e) => {
            let mut jobs = Vec::new();
            run.finish(py, task, attempt, Err(e), &mut jobs);
            if !jobs.is_empty() {
                pool().submit(py, jobs, run.cap, false);
            }
            None
        }
    }
}

/// Reports the outcome of the job this worker ran. Returns a job it made ready, for this same
/// worker to run next (a chain of sync steps stays on one thread); the others go to the pool.
pub(crate) fn finish_job(py: Python<'_>, r: PyResult<Py<PyAny>>) -> Option<Job> {
    let (run, task, attempt, _) = CURRENT.with(|c| c.borrow_mut().take())?;
    let mut jobs = Vec::new();
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.finish(py, task, attempt, r, &mut jobs);
    }));
    if done.is_err() {
        let e = pyo3::panic::PanicException::new_err("legato: a panic while reporting an attempt");
        run.finish(py, task, attempt, Err(e), &mut jobs);
    }
    pool().submit_taking(py, jobs, run.cap)
}

/// The loop-side callback that drains loop commands (scheduled by other threads).
#[pyclass(module = "legato._legato", frozen)]
struct Pump {
    run: Arc<Shared>,
}

#[pymethods]
impl Pump {
    fn __call__(&self, py: Python<'_>) {
        self.run.pump(py);
    }
}

/// A timer armed with `loop.call_at`: the clock's advance joins this instant's batch.
#[pyclass(module = "legato._legato", frozen)]
struct Timer {
    run: Arc<Shared>,
    at: Duration,
}

#[pymethods]
impl Timer {
    fn __call__(&self, py: Python<'_>) {
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
struct Flush {
    run: Arc<Shared>,
}

#[pymethods]
impl Flush {
    fn __call__(&self, py: Python<'_>) {
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
struct Starter {
    run: Arc<Shared>,
    task: u32,
    attempt: u32,
    coro: Py<PyAny>,
}

#[pymethods]
impl Starter {
    fn __call__(&self, py: Python<'_>, _fut: &Bound<'_, PyAny>) -> PyResult<()> {
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
        let cb = Done::new(py, run, self.task, self.attempt)?;
        t.call_method1(intern!(py, "add_done_callback"), (cb,))?;
        Ok(())
    }
}

/// Done-callback of an attempt's asyncio Task or executor future.
#[pyclass(module = "legato._legato", frozen)]
struct Done {
    run: Arc<Shared>,
    task: u32,
    attempt: u32,
}

impl Done {
    /// The callback that reports `attempt` of `task` when its Task or future is done.
    fn new(py: Python<'_>, run: &Arc<Shared>, task: u32, attempt: u32) -> PyResult<Py<Done>> {
        Py::new(
            py,
            Done {
                run: run.clone(),
                task,
                attempt,
            },
        )
    }
}

#[pymethods]
impl Done {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
        // result() gives the value, or raises the body's exception (or CancelledError).
        let r = fut.call_method0(intern!(py, "result")).map(Bound::unbind);
        let mut jobs = Vec::new();
        self.run.finish(py, self.task, self.attempt, r, &mut jobs);
        if self.run.on_loop_thread() {
            self.run.pump(py);
        }
        self.run.submit(jobs, false);
    }
}

/// Done-callback of an async hook chain.
#[pyclass(module = "legato._legato", frozen)]
struct HookDone {
    run: Arc<Shared>,
    token: HookToken,
}

#[pymethods]
impl HookDone {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
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
struct MainDone {
    run: Arc<Shared>,
}

#[pymethods]
impl MainDone {
    fn __call__(&self, py: Python<'_>, fut: &Bound<'_, PyAny>) {
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

/// What a running task sees of itself: `legato.current()`, or the `ctx` parameter of a step.
#[pyclass(module = "legato", frozen)]
pub struct TaskContext {
    run: Arc<Shared>,
    task: Option<u32>,
    name: String,
    attempt: u32,
    flag: Arc<AtomicBool>,
}

#[pymethods]
impl TaskContext {
    /// The task's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// The current attempt, from 1.
    #[getter]
    fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The shared state (the live dict given as `state=`).
    #[getter]
    fn state(&self, py: Python<'_>) -> Py<PyAny> {
        self.run.context.clone_ref(py)
    }

    /// The results of every task that succeeded so far in the run, by name (its upstream
    /// tasks are always among them); for actions called several times, the latest call's.
    #[getter]
    fn results<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let st = lock_py(py, &self.run);
        for t in 0..st.sched.task_count() as u32 {
            let id = st.id(t);
            if st.sched.status(id) == Status::Succeeded {
                if let Some(v) = st.sched.value(id) {
                    d.set_item(st.sched.name(id), v.clone_ref(py))?;
                }
            }
        }
        Ok(d)
    }

    /// Whether this attempt was cancelled (timeout, fail-fast, run cancel): a sync body that
    /// cannot be interrupted may check it and return early.
    #[getter]
    fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn __repr__(&self) -> String {
        format!(
            "TaskContext(name={:?}, attempt={})",
            self.name, self.attempt
        )
    }

    /// The run this context belongs to (internal).
    fn _run(&self) -> Run {
        Run {
            shared: self.run.clone(),
        }
    }
}

/// The task context of the code running now: a sync body on a pool worker, or the context
/// variable (async bodies, and the Orchestrator's main).
pub(crate) fn current_ctx(py: Python<'_>) -> PyResult<Option<Py<TaskContext>>> {
    let tl = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|(r, t, a, f)| (r.clone(), *t, *a, f.clone()))
    });
    if let Some((run, task, attempt, flag)) = tl {
        let name = {
            let st = lock_py(py, &run);
            st.sched.name(st.id(task)).to_owned()
        };
        return Ok(Some(Py::new(
            py,
            TaskContext {
                run,
                task: Some(task),
                name,
                attempt,
                flag,
            },
        )?));
    }
    let v = helpers(py)?
        .current
        .call_method1(py, intern!(py, "get"), (py.None(),))?;
    if v.is_none(py) {
        return Ok(None);
    }
    Ok(Some(v.bind(py).cast::<TaskContext>()?.clone().unbind()))
}

/// The context of the running code, including an Orchestrator's main (internal).
#[pyfunction]
pub(crate) fn _current_any(py: Python<'_>) -> PyResult<Option<Py<TaskContext>>> {
    current_ctx(py)
}

/// The context of the running task (`None` outside a task, and in an Orchestrator's main).
#[pyfunction]
pub(crate) fn current(py: Python<'_>) -> PyResult<Option<Py<TaskContext>>> {
    Ok(current_ctx(py)?.filter(|c| c.get().task.is_some()))
}

/// One run (internal; `Flow.run_async` / `Orchestrator.run_async` drive it).
#[pyclass(module = "legato._legato", frozen)]
pub struct Run {
    shared: Arc<Shared>,
}

fn hook_mask(hooks: &Bound<'_, PyDict>) -> PyResult<HookMask> {
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

/// A body from Python's description: `(func, is_async, params, retry_if)` where params are
/// `(parameter name, None for ctx | upstream task name)`.
fn body_from(py: Python<'_>, g: &Graph, d: &Bound<'_, PyAny>) -> PyResult<Body> {
    type Described = (
        Py<PyAny>,
        bool,
        Vec<(String, Option<String>)>,
        Option<Py<PyAny>>,
    );
    let (func, is_async, params, retry_if): Described = d.extract()?;
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
    })
}

/// A flow's bodies as the driver calls them, made once per flow definition and shared by its
/// runs (internal; `Flow` makes it again after a step is added).
#[pyclass(module = "legato._legato", frozen)]
pub struct Bodies {
    items: Vec<Arc<Body>>,
}

#[pymethods]
impl Bodies {
    /// `bodies`: per step of `flow`, in order, `(func, is_async, params, retry_if)`.
    #[new]
    fn new(
        py: Python<'_>,
        flow: &Bound<'_, crate::flowdef::FlowCore>,
        bodies: &Bound<'_, PyAny>,
    ) -> PyResult<Bodies> {
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

    /// The loop of [`Run::drive`].
    fn drive_loop(&self, py: Python<'_>) -> PyResult<()> {
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
                    crate::pool::park_forever();
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
    #[new]
    #[pyo3(signature = (flow, bodies, targets, hooks, context, done, max_parallel=None, fail_fast=false, timeout=None, executor=None, main=None, title=String::new(), max_depth=legato::scheduler::DEFAULT_MAX_DEPTH))]
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
    ) -> PyResult<Run> {
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
        let sched = Scheduler::new(graph, &sel, opts)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
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
                groups: Vec::new(),
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
        });
        Ok(Run { shared })
    }

    /// Starts the run (emits `process_begin`, then the first tasks; an Orchestrator's main
    /// once the core says so).
    fn start(&self, py: Python<'_>) {
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
        let st = lock_py(py, &self.shared);
        if let Some(StopReason::HookFailed { .. }) = st.sched.stop_reason() {
            let e = st.sched.stop_error()?;
            return e.source_ref::<Py<PyAny>>().map(|o| o.clone_ref(py));
        }
        None
    }

    /// An Orchestrator's main, once the core started it: its asyncio future.
    fn main_future(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        lock_py(py, &self.shared)
            .main_fut
            .as_ref()
            .map(|f| f.clone_ref(py))
    }

    /// Starts a blocking run and drives it on this thread until it is finished (see the top):
    /// hooks and executor submissions run here, deadlines fire here. The GIL is released while
    /// waiting. A signal handler's exception (Ctrl-C's KeyboardInterrupt) cancels the run; it
    /// is raised once the run is finished, so hooks still see `process_completion`.
    fn drive(&self, py: Python<'_>) -> PyResult<()> {
        if self.shared.lp.is_some() {
            return Err(PyRuntimeError::new_err(
                "drive() is for a run without an event loop",
            ));
        }
        let worker = _block_worker(py);
        self.start(py);
        let r = self.drive_loop(py);
        if worker {
            _unblock_worker();
        }
        r
    }

    /// Cancels the whole run: running attempts are cancelled, the rest skipped. On the run's
    /// loop the cancel joins this instant's batch (attempts that finished at this instant
    /// count as finished: the core decides).
    fn cancel(&self, py: Python<'_>) {
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
        lock_py(py, &self.shared).finished
    }

    /// The run's report (final once the run is finished).
    fn report(&self, py: Python<'_>) -> PyResult<Py<RunReport>> {
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
        lock_py(py, &self.shared)
            .sched
            .stop_reason()
            .map(|s| s.to_string())
    }

    /// The task context for the Orchestrator's main (no task).
    fn main_context(&self, py: Python<'_>) -> PyResult<Py<TaskContext>> {
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
        let opts = options.map(|o| o.inner.clone()).unwrap_or_default();
        let body = Body {
            func,
            is_async,
            params: Vec::new(),
            args: Some((args, kwargs)),
            retry_if,
        };
        let key = match cache_key {
            Some(k) => Some((k.bind(py).hash()?, k)),
            None => None,
        };
        let parent = self.parent(parent);
        self.shared.call(py, body, name, opts, key, parent, future)
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
        let parent = self.parent(parent);
        self.shared.group(py, &tasks, parent)
    }

    /// The member of group `group` (from [`Run::group`]) that failed first, if one did.
    fn group_failure(&self, py: Python<'_>, group: u32) -> Option<u32> {
        let st = lock_py(py, &self.shared);
        let g = *st.groups.get(group as usize)?;
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
        let g = group.and_then(|g| lock_py(py, &self.shared).groups.get(g as usize).copied());
        let got = self.shared.wait(py, &slots, &tasks, g)?;
        Ok(got
            .into_iter()
            .map(|d| match d {
                Delivery::Ok(v) | Delivery::Err(v) => v,
            })
            .collect())
    }

    /// Blocks until one call is done: its value, or raises its error.
    fn wait_one(&self, py: Python<'_>, slot: u64, task: u32) -> PyResult<Py<PyAny>> {
        let got = self.shared.wait(py, &[slot], &[task], None)?;
        match got.into_iter().next() {
            Some(Delivery::Ok(v)) => Ok(v),
            Some(Delivery::Err(e)) => Err(PyErr::from_value(e.into_bound(py))),
            None => Ok(py.None()),
        }
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

/// Before a pool worker waits for a run it started (a flow run inside a sync step): the pool
/// must not count on it, or the run's own sync steps could wait for a free worker forever.
/// Returns whether this thread is a worker (then [`_unblock_worker`] follows the wait).
#[pyfunction]
pub(crate) fn _block_worker(py: Python<'_>) -> bool {
    let worker = CURRENT.with(|c| c.borrow().is_some());
    if worker {
        pool().block(py);
    }
    worker
}

/// After the wait of [`_block_worker`].
#[pyfunction]
pub(crate) fn _unblock_worker() {
    pool().unblock();
}

/// Interpreter exit: idle workers exit; runs in flight are not waited for.
#[pyfunction]
pub(crate) fn _shutdown() {
    pool().shutdown();
}

#[allow(dead_code)]
fn into_any<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, v: T) -> PyResult<Py<PyAny>> {
    v.into_py_any(py)
}
