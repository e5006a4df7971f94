//! The Python driver: one run of the core `Scheduler` on the caller's asyncio loop.
//!
//! The scheduler decides everything — readiness, retries, timeouts, whom a finished call
//! wakes (a caller, the joins of a cached call), fail-fast groups, when an Orchestrator's
//! `main` starts and is cancelled, the order of the inputs of one instant. This only forwards:
//! - `Start` of an `async def` body: called on the loop thread and driven once with
//!   `coro.send(None)` (a coroutine that finishes without suspending costs no asyncio Task);
//!   otherwise it goes on as a Task whose done-callback feeds the core.
//! - `Start` of a sync body: a job for the worker pool ([`pool`]); the worker reports
//!   the outcome itself and takes the next ready job, without going through the loop. With
//!   `executor=`, the body is submitted to the executor and its future's callback reports.
//! - `Cancel`: the asyncio task is cancelled (`CancelledError` inside the coroutine); a sync
//!   body cannot be killed: its cancel flag is set and its late outcome is ignored.
//! - `Emit`: the hooks run on the loop thread, in order, awaited when async; then `hook_done`
//!   (or `hook_raised` with the hook's exception).
//! - `Deliver` / `Joined`: the call's outcome, made a Python object by the one conversion
//!   ([`crate::errors::call_outcome`]), goes to the waiter the core names.
//! - `StartMain` / `CancelMain`: an Orchestrator's main is started / cancelled (not awaited).
//! - `Evaluate`: a step's `when` predicate is called (from Python, on the loop thread or the
//!   blocking run's driving thread) and its value, or the exception it raised, goes back.
//! - Time is the loop's (`loop.time()`), timers are `loop.call_at`, so a virtual clock works.
//!   A timer's advance (and an outside cancel) goes to the core in one batch with the
//!   attempts that finished at that instant; the core orders them.
//!
//! A sync `Flow.run()` of a flow with only sync steps and sync hooks needs no event loop: the
//! run is *blocking* ([`blocking`], driven by `_runtime.drive`). The caller's thread then plays the
//! loop's part: it waits without the GIL until there is loop work (hooks, executor
//! submissions, the end), the next deadline, or a signal to check, and does it; time is the
//! monotonic clock.
//!
//! Modules, by concern:
//! - this one: the run's state, locking, and [`Shared::route`]: each core command to where it
//!   is performed;
//! - [`loop_side`]: the asyncio side — the pump of loop work, timers and an instant's batch,
//!   starting bodies and hooks, done-callbacks, main;
//! - [`calls`]: action calls (spawn, join), fail-fast groups, blocked sync callers;
//! - [`conditions`]: a step's `when` predicate, called from Python when the core asks
//!   (`Command::Evaluate`), its value or exception given back to the core;
//! - [`outcomes`]: host objects from the kit's outcomes and payloads (errors, hook events,
//!   reports, a body's arguments);
//! - [`blocking`]: the loop-less driving of a blocking run;
//! - [`inline`]: a sync action called on the loop thread, which blocks the loop for its
//!   value while that thread does the run's loop work;
//! - [`pool`]: the worker pool for sync callables;
//! - [`context`]: `TaskContext` and `legato.current()`;
//! - [`run`]: the `Run` and `Bodies` classes Python drives.
//!
//! Locking: every access to the scheduler is under [`Shared::st`]. A thread holding it never
//! waits for the GIL and never calls user code, so holding the GIL while taking it is safe.

mod blocking;
mod calls;
mod conditions;
pub(crate) mod context;
mod inline;
mod loop_side;
mod outcomes;
pub(crate) mod pool;
pub(crate) mod run;

use context::TaskContext;
use loop_side::Pump;
use pool::{pool, Job};
use run::Run;

use crate::errors::CancelledError;
use crate::report::RunReport;
use legato::event::{Event, EventKind, HookMask, Status, StopReason, TaskError};
use legato::graph::{Graph, Selection, TaskId};
use legato::host::{Payload, Slots};
use legato::policy::TaskOptions;
use legato::scheduler::{Command, GroupId, HookToken, Input, Outcome, RunOptions, Scheduler};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PySystemExit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Python helpers from `legato._runtime`, set once by `legato/__init__.py`.
pub(crate) struct Helpers {
    resume: Py<PyAny>,
    when_quiet: Py<PyAny>,
    /// `datetime.datetime.fromtimestamp` and `datetime.timezone.utc`.
    utc: Py<PyAny>,
    tz: Py<PyAny>,
    events: Py<PyDict>,
    copy_context: Py<PyAny>,
    current: Py<PyAny>,
    run_awaitable: Py<PyAny>,
    call_hooks: Py<PyAny>,
    start_bodies: Py<PyAny>,
    /// `_runtime.evaluate`: calls a step's `when` predicate (see [`conditions`]).
    evaluate: Py<PyAny>,
    /// `_thread.start_new_thread` and `_runtime.worker_loop`: a worker starts without a
    /// Python function running under the driver's frames.
    pub(crate) start_thread: Py<PyAny>,
    pub(crate) worker_loop: Py<PyAny>,
}

static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();

#[pyfunction]
pub(crate) fn _init(py: Python<'_>, runtime: &Bound<'_, PyAny>) -> PyResult<()> {
    let h = Helpers {
        resume: runtime.getattr("resume")?.unbind(),
        when_quiet: runtime.getattr("when_quiet")?.unbind(),
        utc: py
            .import("datetime")?
            .getattr("datetime")?
            .getattr("fromtimestamp")?
            .unbind(),
        tz: py
            .import("datetime")?
            .getattr("timezone")?
            .getattr("utc")?
            .unbind(),
        events: runtime.getattr("EVENTS")?.cast_into::<PyDict>()?.unbind(),
        copy_context: py.import("contextvars")?.getattr("copy_context")?.unbind(),
        current: runtime.getattr("CURRENT")?.unbind(),
        run_awaitable: runtime.getattr("run_awaitable")?.unbind(),
        call_hooks: runtime.getattr("call_hooks")?.unbind(),
        start_bodies: runtime.getattr("start_bodies")?.unbind(),
        evaluate: runtime.getattr("evaluate")?.unbind(),
        start_thread: py.import("_thread")?.getattr("start_new_thread")?.unbind(),
        worker_loop: runtime.getattr("worker_loop")?.unbind(),
    };
    let _ = HELPERS.set(py, h);
    let threading = py.import("threading")?;
    if threading
        .call_method0("current_thread")?
        .is(&threading.call_method0("main_thread")?)
    {
        pool::set_main_thread();
    }
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
    /// A step's condition (`when`), called with its context once it is ready.
    pub(crate) when: Option<Py<PyAny>>,
}

impl Body {
    /// An action call's body: `func` with the call's own arguments, no step parameters and no
    /// condition.
    pub(crate) fn call(
        func: Py<PyAny>,
        is_async: bool,
        args: Py<PyTuple>,
        kwargs: Option<Py<PyDict>>,
        retry_if: Option<Py<PyAny>>,
    ) -> Body {
        Body {
            func,
            is_async,
            params: Vec::new(),
            args: Some((args, kwargs)),
            retry_if,
            when: None,
        }
    }
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
    /// Call the `when` predicate of this task (see [`conditions`]).
    Evaluate(u32),
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
    /// A KeyboardInterrupt raised in a hook on a blocking run's driving thread, or a
    /// KeyboardInterrupt / SystemExit a body raised (rule 13): it stopped the run and
    /// propagates from `run()`.
    interrupt: Option<PyErr>,
    /// An Orchestrator's main: the callable that starts it (given `StartMain`), then its
    /// asyncio future.
    main: Option<Py<PyAny>>,
    main_fut: Option<Py<PyAny>>,
    /// The event whose hooks are being called (from Python, never under this driver's frames:
    /// see [`Shared::emit`]); the pump waits until they are done.
    hook_out: Option<HookToken>,
    /// A blocking run: the hook call its driving loop makes next (kind, payload).
    hook_call: Option<(Py<PyAny>, Py<PyAny>)>,
    /// A blocking run: the KeyboardInterrupt (or SystemExit) that cancelled it, raised once it
    /// is finished.
    drive_err: Option<PyErr>,
    /// Async bodies to start: `(task, attempt, func, args, kwargs, ctx)` for
    /// `_runtime.start_bodies` (see [`Shared::emit`] for why from Python).
    starts: Vec<Py<PyTuple>>,
    /// A blocking run: the conditions its driving loop calls next, `(task, when, ctx)`
    /// for `_runtime.evaluate` (see [`conditions`]).
    evals: VecDeque<Py<PyTuple>>,
    /// The hook call the loop will make next (`[kind, payload]`, emptied by whoever makes
    /// it): a sync action's call that blocks the loop makes it itself ([`inline`]).
    hook_sched: Option<Py<PyList>>,
    /// Attempts running off the loop (pool jobs routed, executor futures submitted) whose
    /// outcome has not come back: what can still make progress while the loop is blocked.
    live_jobs: usize,
    /// Pool workers of this run blocked waiting for calls (or for the loop).
    live_waits: usize,
    /// The loop clock at the last wait of the sync call blocking the loop ([`inline`]): a
    /// loop clock that has not moved across a wait is one only the (blocked) loop advances.
    inline_clock: Option<Duration>,
}

impl State {
    /// The id of task number `t` of this run (numbers come from the core's own commands, or
    /// back from Python): `None` for one the run does not know.
    fn id(&self, t: u32) -> Option<TaskId> {
        self.sched.task_id(t)
    }

    /// The id of task number `t`, or the error a Python caller gets for a number that is not.
    fn id_or_err(&self, t: u32) -> PyResult<TaskId> {
        self.id(t)
            .ok_or_else(|| PyRuntimeError::new_err(format!("no task {t} in this run")))
    }

    /// Makes tasks number `tasks`, calls of `caller`, a fail-fast group of the core's; its
    /// number for Python ([`GroupId::as_u32`]).
    fn make_group(
        &mut self,
        caller: Option<(TaskId, u32)>,
        tasks: &[u32],
        now: Duration,
    ) -> PyResult<u32> {
        let members = tasks
            .iter()
            .map(|&t| self.id_or_err(t))
            .collect::<PyResult<Vec<TaskId>>>()?;
        let g = self
            .sched
            .group(caller, &members, now)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(g.as_u32())
    }

    /// The name of task number `t` (empty for one the run does not know).
    fn name(&self, t: u32) -> &str {
        self.id(t).map_or("", |id| self.sched.name(id))
    }

    /// Whether attempt `attempt` of task `t` is running now.
    fn is_current(&self, t: u32, attempt: u32) -> bool {
        self.id(t)
            .is_some_and(|id| self.sched.is_current_attempt(id, attempt))
    }

    /// The body of task `t`.
    fn body(&self, t: u32) -> Option<&Arc<Body>> {
        self.slots.slot(self.id(t)?).and_then(|s| s.body.as_ref())
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
    /// How many sync action calls block the loop thread now ([`inline`]): the route wakes
    /// them (the loop cannot be woken then).
    inline: AtomicU32,
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
            // The interpreter exiting meanwhile: never take the GIL back (nor hold the lock).
            let g = pool::unsent(|| s.st.lock().unwrap_or_else(|e| e.into_inner()));
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
    pub(super) fn now(&self, py: Python<'_>) -> Duration {
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
    pub(super) fn now_mono(&self) -> Duration {
        match &self.clock {
            Clock::Mono { t0 } => round_us(t0.elapsed()),
            Clock::Loop { .. } => Duration::MAX,
        }
    }

    pub(super) fn on_loop_thread(&self) -> bool {
        std::thread::current().id() == self.loop_thread
    }

    /// After an input: moves the scheduler's actions where they go. Returns the sync jobs to
    /// queue (after the lock is released) and whether the loop must be woken.
    pub(super) fn route(self: &Arc<Self>, py: Python<'_>, st: &mut State, jobs: &mut Vec<Job>) {
        while let Some(command) = st.sched.next_command() {
            match command {
                Command::Start { task, attempt } => {
                    let t = task.as_u32();
                    let sync = st.body(t).is_some_and(|b| !b.is_async);
                    if sync && self.executor.is_none() {
                        st.live_jobs += 1;
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
                Command::Evaluate { task } => st.loop_q.push_back(LoopCmd::Evaluate(task.as_u32())),
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
        if self.inline.load(Ordering::Relaxed) > 0 {
            // The loop thread is blocked in a sync action's call: it does the loop work.
            self.cv.notify_all();
        }
    }

    /// From user code on the loop thread (an action call, a cancel): pump soon, not nested.
    pub(super) fn kick(self: &Arc<Self>, py: Python<'_>, st: &mut State) {
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

    pub(super) fn wake(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
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
    pub(super) fn lp(&self) -> PyResult<&Py<PyAny>> {
        self.lp
            .as_ref()
            .ok_or_else(|| PyRuntimeError::new_err("this run has no event loop (a blocking run)"))
    }

    /// Feeds an attempt's outcome to the core and routes what follows; `off_loop`: it ran
    /// off the loop (a pool job, an executor future), counted in `live_jobs`.
    pub(super) fn finish(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        attempt: u32,
        r: Result<Py<PyAny>, PyErr>,
        off_loop: bool,
        jobs: &mut Vec<Job>,
    ) {
        if let Err(e) = &r {
            if e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py) {
                if off_loop {
                    let mut st = lock_py(py, self);
                    st.live_jobs = st.live_jobs.saturating_sub(1);
                }
                // Not a task failure, never retried: it stops the run (the attempt ends
                // cancelled) and propagates from run(), as asyncio propagates it.
                let Err(e) = r else { unreachable!() };
                self.interrupt(py, e, jobs);
                return;
            }
        }
        let outcome = match r {
            Ok(v) => Outcome::Ok(v),
            Err(e) => {
                let retry_if = {
                    let st = lock_py(py, self);
                    st.body(task)
                        .and_then(|b| b.retry_if.as_ref().map(|r| r.clone_ref(py)))
                };
                let mut exc = e.into_value(py).into_any();
                let retryable = match retry_if {
                    None => true,
                    Some(p) => match p
                        .call1(py, (exc.clone_ref(py),))
                        .and_then(|r| r.is_truthy(py))
                    {
                        Ok(r) => r,
                        // A predicate that raises fails the task with its own exception, the
                        // body's as its `__context__` (as an exception raised while handling
                        // another gets); no retry follows.
                        Err(pe) => {
                            let pexc = pe.into_value(py).into_any();
                            let b = pexc.bind(py);
                            if b.getattr(intern!(py, "__context__"))
                                .is_ok_and(|c| c.is_none())
                            {
                                let _ = b.setattr(intern!(py, "__context__"), exc.bind(py));
                            }
                            exc = pexc;
                            false
                        }
                    },
                };
                Outcome::Err {
                    error: conditions::error_of(py, exc),
                    retryable,
                }
            }
        };
        let now = self.now(py);
        let mut st = lock_py(py, self);
        if off_loop {
            st.live_jobs = st.live_jobs.saturating_sub(1);
        }
        let Some(id) = st.id(task) else { return };
        if st.sched.attempt(id) == attempt {
            st.running.remove(&task);
        }
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

    /// A body raised KeyboardInterrupt or SystemExit: kept for `run()` to raise, and the run
    /// cancelled (a blocking run's driver cancels it when it sees the interrupt).
    fn interrupt(self: &Arc<Self>, py: Python<'_>, e: PyErr, jobs: &mut Vec<Job>) {
        let mut st = lock_py(py, self);
        if st.interrupt.is_some() || st.finished {
            return;
        }
        st.interrupt = Some(e);
        if self.lp.is_none() {
            self.host_cv.notify_one();
            return;
        }
        if self.on_loop_thread() {
            self.batched(py, &mut st, Input::Cancel);
            return;
        }
        let now = self.now(py);
        let mut inputs = st.batch.take().unwrap_or_default();
        inputs.push(Input::Cancel);
        let _ = st.sched.handle(now, inputs);
        self.route(py, &mut st, jobs);
        if st.finished {
            st.blocked.clear();
            self.cv.notify_all();
        }
    }

    pub(super) fn submit(self: &Arc<Self>, jobs: Vec<Job>, taker: bool) {
        if !jobs.is_empty() {
            Python::attach(|py| pool().submit(py, jobs, self.cap, taker));
        }
    }
}

fn round_us(d: Duration) -> Duration {
    Duration::from_micros((d.as_nanos() as f64 / 1000.0).round() as u64)
}
