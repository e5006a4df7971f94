//! The tokio driver: runs Rust futures for the scheduler.
//!
//! One driver future owns the [`Scheduler`] and polls every running task's future itself (first
//! in start order, then, if it waits, in a `FuturesUnordered`: see `Attempts`), so starting a
//! task, finishing it and starting the next takes no thread hop and no channel: a chain of
//! tasks runs at the speed of the state machine. Tasks that need
//! a thread of their own use `tokio::spawn` / `spawn_blocking` inside their body.
//! Timeouts and cancellation drop the task's future. Dynamic tasks (actions called from a
//! running task or an orchestrator's main) reach the driver through a channel polled in the
//! same loop.

pub(crate) mod hooks;
pub(crate) mod scope;

pub use hooks::{HookEvent, HookOutput, OwnedHookEvent};

use crate::event::{Event, StopReason, TaskError};
use crate::graph::{Graph, Selection, TaskId};
use crate::policy::TaskOptions;
use crate::report::RunReport;
use crate::scheduler::{Command, HookToken, Input, Outcome, RunOptions, Scheduler};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use hooks::{panic_message, Hooks};

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The error type task bodies may return (anything that converts into it: `String`, `&str`,
/// `std::io::Error`, `anyhow::Error`, …).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A task's result as the driver stores it.
pub type Value = Arc<dyn Any + Send + Sync>;

/// A task's result inside the driver: `None` is `()`, what most tasks return, for which no
/// shared handle is made, counted or dropped.
pub(crate) type Output = Option<Value>;

pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = Result<Output, TaskError>> + Send>>;

/// A task body: called once per attempt.
pub(crate) type Body<S> = Arc<dyn Fn(Cx<S>) -> Step + Send + Sync>;

/// What calling a body gives: a future of the attempt's outcome (`Flow::task`), or the
/// outcome itself, for a plain function (`Flow::task_sync`: no future is made or polled).
pub(crate) enum Step {
    Future(TaskFuture),
    Done(Result<Output, TaskError>),
}

/// A retry predicate on an attempt's error.
pub(crate) type RetryIf = Arc<dyn Fn(&TaskError) -> bool + Send + Sync>;

/// A task's condition (`when`): called once when the task is ready, with its context.
pub(crate) type When<S> = Arc<dyn Fn(&Cx<S>) -> Result<bool, TaskError> + Send + Sync>;

/// What a condition ([`TaskMut::when`](crate::flow::TaskMut::when)) may return: a `bool`, or
/// a `Result<bool, E>` whose error fails the task (as a raising predicate does in Python).
pub trait ConditionValue {
    /// The condition's value, or the error that fails the task.
    ///
    /// # Errors
    ///
    /// The predicate's own error.
    fn into_condition(self) -> Result<bool, TaskError>;
}

impl ConditionValue for bool {
    fn into_condition(self) -> Result<bool, TaskError> {
        Ok(self)
    }
}

impl<E: Into<BoxError> + 'static> ConditionValue for Result<bool, E> {
    fn into_condition(self) -> Result<bool, TaskError> {
        self.map_err(into_task_error)
    }
}

/// Turns a user future's output into the driver's.
pub(crate) fn box_body<S, F, Fut, T, E>(f: F) -> Body<S>
where
    S: Send + Sync + 'static,
    F: Fn(Cx<S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Any + Send + Sync,
    E: Into<BoxError> + 'static,
{
    shared_body(f, |f| {
        Arc::new(move |cx| {
            let fut = f(cx);
            Step::Future(Box::pin(async move {
                match fut.await {
                    Ok(v) => Ok(into_value(v)),
                    Err(e) => Err(into_task_error(e)),
                }
            }))
        })
    })
}

/// Turns a plain function's output into the driver's: its outcome, at once.
pub(crate) fn box_sync_body<S, F, T, E>(f: F) -> Body<S>
where
    S: Send + Sync + 'static,
    F: Fn(Cx<S>) -> Result<T, E> + Send + Sync + 'static,
    T: Any + Send + Sync,
    E: Into<BoxError> + 'static,
{
    shared_body(f, |f| {
        Arc::new(move |cx| {
            Step::Done(match f(cx) {
                Ok(v) => Ok(into_value(v)),
                Err(e) => Err(into_task_error(e)),
            })
        })
    })
}

/// `make(f)`, made once for a closure that captures nothing: such a closure is the same value
/// every time, so the tasks a loop declares with it share one body, not an allocation each (a
/// million in `wide-1m`). One per closure type and thread is kept for the program's life.
fn shared_body<S: 'static, F: 'static>(f: F, make: impl FnOnce(F) -> Body<S>) -> Body<S> {
    if std::mem::size_of::<F>() != 0 {
        return make(f);
    }
    thread_local! {
        static SHARED: std::cell::RefCell<HashMap<std::any::TypeId, Box<dyn Any>>> =
            std::cell::RefCell::new(HashMap::new());
    }
    let key = std::any::TypeId::of::<(F, S)>();
    SHARED.with_borrow_mut(|shared| {
        shared
            .entry(key)
            .or_insert_with(|| Box::new(make(f)))
            .downcast_ref::<Body<S>>()
            .expect("one body type per closure type")
            .clone()
    })
}

/// The per-task option setters of the Rust door, written once: [`TaskMut`](crate::flow::TaskMut)
/// (a Flow's task) and [`Action`](crate::Action) both get them from here, each with an
/// `edit_options` that applies a change to its [`TaskOptions`](crate::TaskOptions). What they
/// call is the one validated option model ([`TaskOptions`](crate::TaskOptions)). Attributes
/// given (`#[must_use]` for a value builder) go on every setter.
macro_rules! option_setters {
    ($(#[$attr:meta])*) => {
        /// Retries a failed attempt up to `n` times (default 0: one attempt).
        $(#[$attr])*
        pub fn retries(self, n: u32) -> Self {
            self.edit_options(|o| o.retries(n))
        }

        /// Waits between attempts.
        $(#[$attr])*
        pub fn backoff(self, b: $crate::Backoff) -> Self {
            self.edit_options(|o| o.backoff(b))
        }

        /// Limits each attempt; on expiry the attempt's future is dropped and the attempt
        /// counts as failed (timed out).
        $(#[$attr])*
        pub fn timeout(self, d: std::time::Duration) -> Self {
            self.edit_options(|o| o.timeout(d))
        }

        /// Never runs at the same time as another task with the same key: exactly
        /// [`uses`](Self::uses) (Barista's name, kept as an alias).
        $(#[$attr])*
        pub fn sequence(self, key: impl Into<String>) -> Self {
            self.edit_options(|o| o.sequence(key))
        }

        /// Holds `key` while it runs: at most the key's capacity (the run's `limit`, else 1)
        /// tasks holding it run at once. A task waiting for a key holds no slot.
        $(#[$attr])*
        pub fn uses(self, key: impl Into<String>) -> Self {
            self.edit_options(|o| o.uses(key))
        }

        /// When it may run once its dependencies ended (default
        /// [`Trigger::AllSucceeded`]($crate::policy::Trigger::AllSucceeded));
        /// [`Trigger::AllDone`]($crate::policy::Trigger::AllDone) for cleanup.
        $(#[$attr])*
        pub fn trigger(self, rule: $crate::policy::Trigger) -> Self {
            self.edit_options(|o| o.trigger(rule))
        }

        /// Its cost, for the run's `critical_path` priority.
        $(#[$attr])*
        pub fn cost(self, d: std::time::Duration) -> Self {
            self.edit_options(|o| o.cost(d))
        }
    };
}
pub(crate) use option_setters;

/// The run-option setters beyond the seeds (limits, priority, costs), written once for
/// [`Flow`](crate::Flow) and [`Orchestrator`](crate::Orchestrator): each has an `options:
/// RunOptions` field.
macro_rules! run_option_setters {
    () => {
        /// At most `capacity` tasks that [`uses`](crate::flow::TaskMut::uses) `key` run at once
        /// (a key without a limit has capacity 1: a sequence). `capacity` ≥ 1; a run refuses 0
        /// naming `limits["key"]`.
        pub fn limit(&mut self, key: impl Into<String>, capacity: u32) -> &mut Self {
            self.options = self.options.clone().limit(key, capacity);
            self
        }

        /// The order ready tasks start in when slots are short: [`Priority::Fifo`](crate::policy::Priority::Fifo)
        /// (the default) or [`Priority::CriticalPath`](crate::policy::Priority::CriticalPath)
        /// (the longest remaining path first, by each task's `cost`).
        pub fn priority(&mut self, p: $crate::policy::Priority) -> &mut Self {
            self.options = self.options.clone().priority(p);
            self
        }

        /// Task costs known from a previous run's report, for `critical_path`: a task without
        /// a `cost` costs what it took then.
        pub fn costs(&mut self, report: &$crate::RunReport) -> &mut Self {
            self.options = self.options.clone().costs(report.costs());
            self
        }
    };
}
pub(crate) use run_option_setters;

/// What a body returned as its error, as a [`TaskError`]: an error given as a `&'static str`
/// is its message alone (no allocation: the same text shares one string), anything else is
/// boxed and kept as the error's source (see [`task_error`]).
///
/// A call's depth error that a body passes on (`me.call(n + 1).await?`) stays a depth error, as
/// a `RecursionError` propagates in Python: a runaway recursion ends with it at the top.
pub(crate) fn into_task_error<E: Into<BoxError> + 'static>(e: E) -> TaskError {
    if let Some(text) = (&e as &dyn Any).downcast_ref::<&'static str>() {
        return TaskError::failed(static_message(text));
    }
    if let Some(te) = (&e as &dyn Any).downcast_ref::<TaskError>() {
        if te.kind == crate::event::ErrorKind::Depth {
            return te.clone();
        }
    }
    task_error(e.into())
}

/// A `&'static str` message as a shared string: the last one made on this thread is kept and
/// given again for the same text (a retried task fails with the same literal every attempt).
fn static_message(text: &'static str) -> Arc<str> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(usize, Arc<str>)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((at, m)) if *at == text.as_ptr() as usize && m.len() == text.len() => m.clone(),
        _ => last
            .insert((text.as_ptr() as usize, Arc::from(text)))
            .1
            .clone(),
    })
}

/// A body's error as a [`TaskError`] that keeps it as its source (see
/// [`TaskError::source_ref`]), so the user gets their own error type back.
pub(crate) fn task_error(e: BoxError) -> TaskError {
    let msg = message(&*e);
    let source: crate::event::BoxedSource = e;
    TaskError::failed(msg).with_source(Arc::new(source))
}

/// An error's message as a shared string, in one allocation when it is short (a retried
/// task's every failed attempt makes one): written into a buffer on the stack first, rather
/// than into a growing `String` that is then copied into the `Arc`.
fn message(e: &(dyn std::error::Error + Send + Sync)) -> Arc<str> {
    use std::fmt::Write as _;

    /// Up to 256 bytes of text; a write that does not fit fails.
    struct Buf {
        bytes: [u8; 256],
        len: usize,
    }

    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.len + s.len();
            let dst = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    let mut buf = Buf {
        bytes: [0; 256],
        len: 0,
    };
    match write!(buf, "{e}") {
        // Whole `&str`s were copied in, so the bytes are valid UTF-8.
        Ok(()) => match std::str::from_utf8(&buf.bytes[..buf.len]) {
            Ok(text) => Arc::from(text),
            Err(_) => Arc::from(e.to_string()),
        },
        Err(_) => Arc::from(e.to_string()),
    }
}

/// A task's output as the driver keeps it: `()` is `None`.
fn into_value<T: Any + Send + Sync>(v: T) -> Output {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<()>() {
        None
    } else {
        Some(Arc::new(v))
    }
}

/// A result as a shared [`Value`] (`()` made again, shared by all).
fn shared(v: Output) -> Value {
    v.unwrap_or_else(unit_value)
}

/// The `()` value.
fn unit_value() -> Value {
    static UNIT: OnceLock<Value> = OnceLock::new();
    UNIT.get_or_init(|| Arc::new(())).clone()
}

/// Results of a run's static tasks, written once by the driver, read by dependents.
///
/// Most tasks return `()`: those take one bit each, and the slots for other values are
/// allocated at the first such value (a million no-op tasks cost 125 KB here, not 24 MB).
#[derive(Debug)]
pub(crate) struct Results {
    n: usize,
    /// Tasks whose result is `()`.
    units: Box<[std::sync::atomic::AtomicU64]>,
    /// Every other result, by task index.
    others: OnceLock<Box<[OnceLock<Value>]>>,
}

impl Results {
    fn new(n: usize) -> Self {
        Results {
            n,
            units: (0..n.div_ceil(64))
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            others: OnceLock::new(),
        }
    }

    /// Records task `i`'s result, `None` for `()` (the first one counts). Only the run's
    /// driver writes here, so a `()` is a load and a store, not a read-modify-write.
    fn set(&self, i: usize, v: Option<&Value>) {
        use std::sync::atomic::Ordering;
        match v {
            Some(v) if !(**v).is::<()>() => {
                let others = self
                    .others
                    .get_or_init(|| (0..self.n).map(|_| OnceLock::new()).collect());
                let _ = others[i].set(v.clone());
            }
            _ => {
                let word = &self.units[i / 64];
                word.store(
                    word.load(Ordering::Relaxed) | 1 << (i % 64),
                    Ordering::Release,
                );
            }
        }
    }

    /// Task `i`'s result, if it has one yet.
    fn get(&self, i: usize) -> Option<&(dyn Any + Send + Sync)> {
        let unit = self
            .units
            .get(i / 64)?
            .load(std::sync::atomic::Ordering::Acquire);
        if (unit >> (i % 64)) & 1 == 1 {
            return Some(&());
        }
        self.others.get()?.get(i)?.get().map(|v| &**v)
    }
}

/// The context of one attempt of a task: its name, attempt number, shared state, and the
/// results of the tasks it depends on.
///
/// # Examples
///
/// ```
/// use legato::Flow;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut flow = Flow::new();
/// flow.task("install", |_cx| async { Ok::<_, legato::BoxError>("node_modules") })?;
/// flow.task("build", |cx| async move {
///     let deps = cx.result::<&str>("install").copied().unwrap_or_default();
///     Ok::<_, legato::BoxError>(format!("dist built with {deps}"))
/// })?.after(["install"]);
/// let report = flow.run().await?;
/// assert!(report.ok());
/// # Ok::<(), legato::FlowError>(())
/// # }).unwrap();
/// ```
pub struct Cx<S = ()> {
    id: TaskId,
    // No name of its own: it is the graph's (a context is made per attempt; an `Arc` of the
    // name would be two atomic operations each).
    attempt: u32,
    run: Arc<CxRun<S>>,
}

/// What every context of a run shares (one allocation per run, not per attempt).
struct CxRun<S> {
    state: Arc<S>,
    results: Arc<Results>,
    graph: Arc<Graph>,
}

impl<S> Clone for Cx<S> {
    fn clone(&self) -> Self {
        Cx {
            id: self.id,
            attempt: self.attempt,
            run: self.run.clone(),
        }
    }
}

impl<S> fmt::Debug for Cx<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("name", &self.name())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl<S> Cx<S> {
    /// The task's name.
    pub fn name(&self) -> &str {
        self.run.graph.name(self.id)
    }

    /// The task's id in its run.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The shared state.
    pub fn state(&self) -> &S {
        &self.run.state
    }

    /// The shared state, as a handle that can outlive the context.
    pub fn state_arc(&self) -> Arc<S> {
        self.run.state.clone()
    }

    /// The result of a finished task of this flow, if it exists, succeeded, and is a `T`.
    pub fn result<T: Any>(&self, name: &str) -> Option<&T> {
        let id = self.run.graph.get(name)?;
        self.run.results.get(id.index())?.downcast_ref::<T>()
    }
}

/// The ambient call scope: which task (if any) is running, and where dynamic calls go.
#[derive(Clone)]
pub(crate) struct CallScope {
    /// The running task and attempt that calls, if any.
    pub(crate) parent: Option<(TaskId, u32)>,
    /// What every scope of the run shares (one reference count per attempt, not three).
    pub(crate) run: Arc<RunScope>,
}

/// The part of a [`CallScope`] that is the same for the whole run.
pub(crate) struct RunScope {
    /// Where dynamic calls of the run go.
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    /// The run's memos of cached actions (each run keeps its own).
    pub(crate) memos: Memos,
}

/// Shared between a call's future and the driver: the call's task id once spawned, and
/// whether the caller gave up (dropped the call's future).
#[derive(Debug, Default)]
pub(crate) struct CallSlot {
    pub(crate) id: OnceLock<TaskId>,
    pub(crate) abandoned: std::sync::atomic::AtomicBool,
    /// Whether the call's task is done (a memoized call stays for later callers then).
    pub(crate) finished: std::sync::atomic::AtomicBool,
}

/// The memos of a run's cached actions, by action (each a map from argument to memo, typed by
/// the action, stored as `Any`).
pub(crate) type Memos = std::sync::Mutex<HashMap<usize, Box<dyn Any + Send>>>;

/// A dynamic call's body: `()`-state, called once per attempt.
pub(crate) type DynBody = Arc<dyn Fn() -> TaskFuture + Send + Sync>;

/// Messages from task bodies and run handles to the driver loop.
pub(crate) enum Msg {
    Call {
        parent: Option<(TaskId, u32)>,
        name: Arc<str>,
        opts: Arc<TaskOptions>,
        retry_if: Option<RetryIf>,
        body: DynBody,
        done: Caller,
        slot: Arc<CallSlot>,
    },
    /// A caller waits for the call in `slot` (a cached call already made): the core decides
    /// when `done` gets its outcome ([`Scheduler::join`]).
    Join {
        caller: Option<(TaskId, u32)>,
        slot: Arc<CallSlot>,
        done: Caller,
    },
    /// These calls are a fail-fast group ([`Scheduler::group`]).
    Group {
        caller: Option<(TaskId, u32)>,
        slots: Vec<Arc<CallSlot>>,
    },
    /// Cancel one dynamic task (a call whose future was dropped).
    CancelCall { task: TaskId },
    /// Cancel the run (a run handle).
    Cancel,
}

/// A static task's predicates: when to retry, and its condition.
pub(crate) struct EntryExtra<S> {
    pub(crate) retry_if: Option<RetryIf>,
    pub(crate) when: Option<When<S>>,
}

impl<S> Default for EntryExtra<S> {
    fn default() -> Self {
        EntryExtra {
            retry_if: None,
            when: None,
        }
    }
}

impl<S> Clone for EntryExtra<S> {
    fn clone(&self) -> Self {
        EntryExtra {
            retry_if: self.retry_if.clone(),
            when: self.when.clone(),
        }
    }
}

/// A Rust flow's static tasks (task id = position): its declaration, whose "body" of a task
/// is the place of its body in `bodies`, the bodies, and the predicates few tasks have. The
/// runs share it with the flow rather than copy it (a million tasks would cost 40 MB of
/// copied handles). A task costs 4 bytes here, and the tasks a loop declares with one closure
/// that captures nothing share one body: the flow gives them the same place, with no
/// reference counted a task.
pub(crate) struct StaticTasks<S> {
    pub(crate) def: crate::define::FlowDef<u32>,
    pub(crate) bodies: Vec<Body<S>>,
    /// By task: empty until a task has a predicate, then as long as needed.
    preds: Vec<Option<Box<EntryExtra<S>>>>,
}

impl<S> StaticTasks<S> {
    pub(crate) fn new() -> Self {
        StaticTasks {
            def: crate::define::FlowDef::new(),
            bodies: Vec::new(),
            preds: Vec::new(),
        }
    }

    /// Task `i`'s body.
    pub(crate) fn body(&self, i: usize) -> &Body<S> {
        &self.bodies[*self.def.body(i) as usize]
    }

    /// Task `i`'s predicates, made first if it has none.
    pub(crate) fn preds_mut(&mut self, i: usize) -> &mut EntryExtra<S> {
        if self.preds.len() <= i {
            self.preds.resize_with(i + 1, || None);
        }
        self.preds[i].get_or_insert_with(Box::default)
    }

    fn preds(&self, i: usize) -> Option<&EntryExtra<S>> {
        self.preds.get(i).and_then(Option::as_deref)
    }

    fn retry_if(&self, i: usize) -> Option<&RetryIf> {
        self.preds(i).and_then(|e| e.retry_if.as_ref())
    }

    fn when(&self, i: usize) -> Option<&When<S>> {
        self.preds(i).and_then(|e| e.when.as_ref())
    }
}

impl<S> Clone for StaticTasks<S> {
    fn clone(&self) -> Self {
        StaticTasks {
            def: self.def.clone(),
            bodies: self.bodies.clone(),
            preds: self.preds.clone(),
        }
    }
}

/// A run's static tasks, shared with the flow that declared them.
pub(crate) type Statics<S> = Arc<StaticTasks<S>>;

/// What a driver needs to run.
pub(crate) struct RunSetup<S> {
    pub(crate) graph: Arc<Graph>,
    pub(crate) selection: Selection,
    /// The static tasks' bodies (none for an orchestrator's run).
    pub(crate) statics: Option<Statics<S>>,
    pub(crate) options: RunOptions,
    pub(crate) hooks: Hooks<S>,
    pub(crate) state: Arc<S>,
    /// Tasks restored from the run being resumed, with their results when known.
    pub(crate) restore: Vec<(TaskId, Option<Value>)>,
}

/// The working memory of a finished run, kept for the next run in the process: the
/// scheduler's ([`crate::scheduler::Spare`]) and the driver's per-task queues, emptied.
#[derive(Default)]
struct RunSpare {
    sched: crate::scheduler::Spare<Output>,
    aborts: Vec<Option<AbortHandle>>,
    fresh: VecDeque<Fresh>,
    batch: Vec<Input<Output>>,
}

/// The most task slots a kept queue holds (as many as the scheduler keeps of its states: a
/// run of more tasks gives the rest back).
const SPARE_MAX: usize = 32 * 1024;

impl RunSpare {
    /// Gives back the queues a large run grew beyond [`SPARE_MAX`] slots.
    fn bounded(mut self) -> Self {
        if self.fresh.capacity() > SPARE_MAX {
            self.fresh = VecDeque::new();
        }
        if self.aborts.capacity() > SPARE_MAX {
            self.aborts = Vec::new();
        }
        self
    }

    /// How many task states the kept memory holds without allocating.
    fn capacity(&self) -> usize {
        self.sched.capacity()
    }
}

/// Where the working memory of a finished run waits for the next run ([`RunSpare`]).
///
/// A run takes it as it starts and puts it back as it ends. Two runs at once: the second
/// makes its own, and of the two the larger memory is kept. The next run then writes its
/// task states into pages the process already has; without it, glibc gives a finished run's
/// memory back to the system and the next run faults it in again (a sixth of the time of
/// declaring and running a new flow of 10,000 no-op tasks, `W1-define`: 0.320 → 0.270 µs a
/// task).
struct SpareSlot(std::sync::Mutex<Option<RunSpare>>);

/// The one [`SpareSlot`] of the process: at most about 3 MB kept (32,768 task states and
/// queues of as many slots), for the next run of any flow or orchestrator.
static SPARE: SpareSlot = SpareSlot::new();

impl SpareSlot {
    const fn new() -> Self {
        SpareSlot(std::sync::Mutex::new(None))
    }

    /// The memory kept, or none.
    fn take(&self) -> RunSpare {
        self.0
            .lock()
            .map(|mut s| s.take())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `spare` (bounded) unless a larger one is kept already.
    fn put(&self, spare: RunSpare) {
        let spare = spare.bounded();
        let given_back = match self.0.lock() {
            Ok(mut kept) => match &*kept {
                Some(k) if k.capacity() >= spare.capacity() => Some(spare),
                _ => kept.replace(spare),
            },
            Err(_) => Some(spare),
        };
        // Freed outside the lock.
        drop(given_back);
    }
}

/// Who awaits a dynamic task's outcome: called once with it.
pub(crate) type Caller = Box<dyn FnOnce(Result<Value, TaskError>) + Send>;

/// What a running attempt's future yields: which attempt, and its outcome.
type Attempt = futures_util::future::Map<
    futures_util::future::Join<
        std::future::Ready<(TaskId, u32)>,
        scope::Scoped<futures_util::future::CatchUnwind<AssertUnwindSafe<TaskFuture>>>,
    >,
    AttemptOutput,
>;
type AttemptOutput = fn(
    (
        (TaskId, u32),
        std::thread::Result<Result<Output, TaskError>>,
    ),
) -> AttemptResult;
type AttemptResult = (TaskId, u32, Result<Output, TaskError>);

/// An attempt's outcome, a panic of its future included.
fn attempt_output(
    ((task, attempt), out): (
        (TaskId, u32),
        std::thread::Result<Result<Output, TaskError>>,
    ),
) -> AttemptResult {
    let out = out.unwrap_or_else(|p| Err(TaskError::panicked(panic_message(&*p))));
    (task, attempt, out)
}
type Running = Abortable<Attempt>;

/// The running attempts of a run, and what makes them: the run's task bodies.
///
/// A started attempt is only its task and number, in `fresh`, in start order, until the driver
/// next polls for completions (where a `FuturesUnordered` would poll it for the first time):
/// then its future is made (the body is called) and polled once, inside its call scope. A
/// task that never waits is done then, and never costs a `FuturesUnordered` node or an abort
/// handle; and a million tasks started at once (a wide graph with no `max_parallel`) cost 8
/// bytes each until their turn comes, not a future each. An attempt still pending after that
/// first poll moves into `pending` with an abort handle of its own.
struct Attempts<S> {
    fresh: VecDeque<Fresh>,
    /// Attempts cancelled before their first poll (a fail-fast stop, a timeout or a cancel
    /// that comes while they wait their turn in `fresh`): their futures are never made.
    dropped: HashSet<(TaskId, u32)>,
    pending: FuturesUnordered<Running>,
    /// Per task, from the first attempt that waits on: how to cancel its attempt that waits
    /// (a run whose tasks never wait has none).
    aborts: Vec<Option<AbortHandle>>,
    /// The static tasks' bodies (ids below `n_static`).
    statics: Option<Statics<S>>,
    n_static: usize,
    /// Per dynamic task (id `n_static + i`): its action.
    dynamic: Vec<Option<DynBody>>,
    /// What every task context of the run shares.
    cx_run: Arc<CxRun<S>>,
    /// Where dynamic calls go and the run's memos (each attempt's call scope shares it).
    run_scope: Arc<RunScope>,
}

/// An attempt not polled yet.
struct Fresh {
    task: TaskId,
    attempt: u32,
}

impl<S> Attempts<S> {
    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.pending.is_empty()
    }

    fn start(&mut self, task: TaskId, attempt: u32) {
        self.fresh.push_back(Fresh { task, attempt });
    }

    /// Cancels the task's current attempt: its future is dropped without being polled again,
    /// or never made if it was not polled yet.
    fn abort(&mut self, task: TaskId, attempt: u32) {
        match self.aborts.get_mut(task.index()).and_then(Option::take) {
            Some(h) => h.abort(),
            None => {
                self.dropped.insert((task, attempt));
            }
        }
    }

    /// The task's attempt is over.
    fn forget(&mut self, task: TaskId) {
        if let Some(a) = self.aborts.get_mut(task.index()) {
            *a = None;
        }
    }

    /// The future of an attempt, or its outcome: its body called with the attempt's context
    /// (a panic in the call is the attempt's outcome).
    fn make(&self, task: TaskId, attempt: u32) -> Step {
        let i = task.index();
        let entry = if i < self.n_static {
            self.statics.as_ref().map(|s| Entry::Static(s.body(i)))
        } else {
            self.dynamic
                .get(i - self.n_static)
                .and_then(Option::as_ref)
                .map(Entry::Dynamic)
        };
        match entry {
            Some(Entry::Static(body)) => {
                let cx = Cx {
                    id: task,
                    attempt,
                    run: self.cx_run.clone(),
                };
                match std::panic::catch_unwind(AssertUnwindSafe(|| body(cx))) {
                    Ok(step) => step,
                    Err(p) => Step::Done(Err(TaskError::panicked(panic_message(&*p)))),
                }
            }
            Some(Entry::Dynamic(body)) => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| body())) {
                    Ok(f) => Step::Future(f),
                    Err(p) => Step::Done(Err(TaskError::panicked(panic_message(&*p)))),
                }
            }
            None => Step::Done(Ok(None)),
        }
    }
}

impl<S> Unpin for Attempts<S> {}

impl<S> futures_util::Stream for Attempts<S> {
    type Item = Result<AttemptResult, futures_util::future::Aborted>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        while let Some(Fresh { task, attempt }) = this.fresh.pop_front() {
            if !this.dropped.is_empty() && this.dropped.remove(&(task, attempt)) {
                // Cancelled before its first poll: its future is never made.
                continue;
            }
            // The body's call and the first poll of its future borrow the run's scope; an
            // attempt that waits owns one.
            let parent = Some((task, attempt));
            let first = scope::with_scope(parent, &this.run_scope, || {
                match this.make(task, attempt) {
                    // A plain function's outcome, or a panic in the call: no future.
                    Step::Done(out) => Ok(out),
                    Step::Future(mut fut) => {
                        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
                            Ok(Poll::Ready(out)) => Ok(out),
                            Err(p) => Ok(Err(TaskError::panicked(panic_message(&*p)))),
                            Ok(Poll::Pending) => Err(fut),
                        }
                    }
                }
            });
            let out = match first {
                Ok(out) => out,
                // Not done at its first poll: it waits beside the others.
                Err(fut) => {
                    let own = CallScope {
                        parent,
                        run: this.run_scope.clone(),
                    };
                    let fut = scope::Scoped::new(own, AssertUnwindSafe(fut).catch_unwind());
                    let wrapped: Attempt =
                        futures_util::future::join(std::future::ready((task, attempt)), fut)
                            .map(attempt_output);
                    let (handle, reg) = AbortHandle::new_pair();
                    let i = task.index();
                    if this.aborts.len() <= i {
                        this.aborts.resize_with(i + 1, || None);
                    }
                    this.aborts[i] = Some(handle);
                    this.pending.push(Abortable::new(wrapped, reg));
                    continue;
                }
            };
            return Poll::Ready(Some(Ok((task, attempt, out))));
        }
        this.pending.poll_next_unpin(cx)
    }
}

type HookChain = Pin<Box<dyn Future<Output = (HookToken, Result<(), TaskError>)> + Send>>;

/// An attempt's body, borrowed from the run's statics or its dynamic calls.
enum Entry<'a, S> {
    Static(&'a Body<S>),
    Dynamic(&'a DynBody),
}

struct Driver<S> {
    sched: Scheduler<Output>,
    graph: Arc<Graph>,
    /// Per dynamic task (id `graph.len() + i`): its retry predicate (static tasks' are in
    /// `running.statics`).
    retry_ifs: Vec<Option<RetryIf>>,
    /// Per dynamic task: who awaits its result.
    callers: HashMap<TaskId, Caller>,
    /// Per join (by [`JoinId`](crate::scheduler::JoinId)): who waits for a cached call.
    joiners: Vec<Option<Caller>>,
    running: Attempts<S>,
    /// Hook chains with async hooks, awaited beside the running tasks.
    hook_futures: FuturesUnordered<HookChain>,
    hooks: Hooks<S>,
    state: Arc<S>,
    results: Arc<Results>,
    start: Instant,
    wall_start: SystemTime,
    /// Whether the core started main ([`Command::StartMain`]).
    main_go: bool,
    /// Whether the core stopped main ([`Command::CancelMain`]).
    main_stopped: bool,
    /// The completions of one instant, kept between batches for its allocation.
    batch: Vec<Input<Output>>,
}

/// The most completions handed to the scheduler in one batch.
const BATCH: usize = 1024;

/// The driver of a run in progress. If the run's future is dropped before the run ends, the
/// run is ended on the spot: every task still running is cancelled (its future dropped), the
/// rest skipped, and the synchronous hooks see it all, `process_completion` last. Async hooks
/// are not called then: nothing could await them.
struct Live<S: Send + Sync + 'static>(Option<Driver<S>>);

impl<S: Send + Sync + 'static> Drop for Live<S> {
    fn drop(&mut self) {
        if let Some(d) = self.0.as_mut() {
            d.abandon();
        }
    }
}

/// Where a run's control messages come from; kept by run handles to cancel.
#[derive(Debug, Clone)]
pub struct Canceller {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Canceller {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Msg>) -> Self {
        Canceller { tx }
    }

    /// Cancels the run: running tasks are cancelled (their futures dropped), the rest skipped.
    /// No effect once the run is over.
    pub fn cancel(&self) {
        let _ = self.tx.send(Msg::Cancel);
    }
}

/// Creates the control channel of a run.
pub(crate) fn channel() -> (mpsc::UnboundedSender<Msg>, mpsc::UnboundedReceiver<Msg>) {
    mpsc::unbounded_channel()
}

impl<S: Send + Sync + 'static> Driver<S> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn wall(&self, at: Duration) -> SystemTime {
        self.wall_start + at
    }

    fn start_attempt(&mut self, task: TaskId, attempt: u32) {
        // Its future is made when it is first polled (see `Attempts`).
        self.running.start(task, attempt);
    }

    /// The outcome of an attempt as the scheduler takes it (`retry_if` evaluated here: it is
    /// the host's code).
    fn outcome(
        &mut self,
        task: TaskId,
        attempt: u32,
        out: Result<Output, TaskError>,
    ) -> Input<Output> {
        self.running.forget(task);
        let outcome = match out {
            Ok(v) => {
                if task.index() < self.graph.len() && self.sched.attempt(task) == attempt {
                    self.results.set(task.index(), v.as_ref());
                }
                Outcome::Ok(v)
            }
            Err(error) => {
                let retryable = self.retryable(task, &error);
                Outcome::Err { error, retryable }
            }
        };
        Input::Finished {
            task,
            attempt,
            outcome,
        }
    }

    /// Evaluates a task's condition ([`Command::Evaluate`]): a panic in it fails the task.
    fn evaluate(&mut self, task: TaskId) {
        let i = task.index();
        let when = self
            .running
            .statics
            .as_ref()
            .filter(|_| i < self.running.n_static)
            .and_then(|s| s.when(i).cloned());
        let value = match when {
            Some(when) => {
                let cx = Cx {
                    id: task,
                    attempt: 0,
                    run: self.running.cx_run.clone(),
                };
                std::panic::catch_unwind(AssertUnwindSafe(|| when(&cx)))
                    .unwrap_or_else(|p| Err(TaskError::panicked(panic_message(&*p))))
            }
            None => Ok(true),
        };
        let now = self.now();
        // The id came from the scheduler's own command.
        let _ = self.sched.evaluated(task, value, now);
    }

    fn retryable(&self, task: TaskId, error: &TaskError) -> bool {
        let i = task.index();
        let pred = if i < self.running.n_static {
            self.running.statics.as_ref().and_then(|s| s.retry_if(i))
        } else {
            self.retry_ifs
                .get(i - self.running.n_static)
                .and_then(Option::as_ref)
        };
        match pred {
            // A predicate that panics refuses the retry.
            Some(pred) => {
                std::panic::catch_unwind(AssertUnwindSafe(|| pred(error))).unwrap_or(false)
            }
            None => true,
        }
    }

    /// Every attempt that is finished by now, taken without yielding, as inputs.
    fn take_finished(&mut self, into: &mut Vec<Input<Output>>) {
        while let Some(Some(done)) = self.running.next().now_or_never() {
            if let Ok((task, attempt, out)) = done {
                let input = self.outcome(task, attempt, out);
                into.push(input);
            }
        }
    }

    /// Takes one message; outside cancels go into `batch`, for the scheduler to order.
    fn on_msg(&mut self, msg: Msg, batch: &mut Vec<Input<Output>>) {
        let now = self.now();
        match msg {
            Msg::Call {
                parent,
                name,
                opts,
                retry_if,
                body,
                done,
                slot,
            } => {
                let Ok(id) = self.sched.spawn(parent, name, opts, now) else {
                    // The caller's id came from this run: cannot happen; the call fails.
                    done(Err(TaskError::cancelled("unknown caller")));
                    return;
                };
                let k = id.index() - self.running.n_static;
                let dynamic = &mut self.running.dynamic;
                if dynamic.len() <= k {
                    dynamic.resize_with(k + 1, || None);
                }
                dynamic[k] = Some(body);
                if self.retry_ifs.len() <= k {
                    self.retry_ifs.resize_with(k + 1, || None);
                }
                self.retry_ifs[k] = retry_if;
                self.callers.insert(id, done);
                let _ = slot.id.set(id);
                if slot.abandoned.load(std::sync::atomic::Ordering::SeqCst) {
                    batch.push(Input::CancelTask(id));
                }
            }
            Msg::Join { caller, slot, done } => {
                // The call's own message came first (sent under the memo's lock).
                let joined = slot
                    .id
                    .get()
                    .and_then(|&target| self.sched.join(caller, target, now).ok());
                match joined {
                    Some(j) => {
                        let k = j.as_u32() as usize;
                        if self.joiners.len() <= k {
                            self.joiners.resize_with(k + 1, || None);
                        }
                        self.joiners[k] = Some(done);
                    }
                    None => done(Err(TaskError::cancelled("the call is not in this run"))),
                }
            }
            Msg::Group { caller, slots } => {
                // Each member's own message came first (sent before it joined the group).
                let members: Vec<TaskId> =
                    slots.iter().filter_map(|s| s.id.get().copied()).collect();
                let _ = self.sched.group(caller, &members, now);
            }
            Msg::CancelCall { task } => batch.push(Input::CancelTask(task)),
            Msg::Cancel => batch.push(Input::Cancel),
        }
    }

    /// What the hooks of `event` receive.
    fn hook_event(&self, event: &Event) -> OwnedHookEvent<S> {
        // The kit's payload: the same fields and values as every other door's.
        let p = crate::host::Payload::new(&self.sched, event);
        OwnedHookEvent {
            kind: p.kind,
            name: p
                .task
                .map_or_else(|| Arc::from(""), |t| self.sched.name_arc(t).clone()),
            attempt: p.attempt,
            time: self.wall(p.at),
            duration: p.duration.unwrap_or_default(),
            delay: p.delay.unwrap_or_default(),
            status: p.status,
            error: p.error.cloned(),
            reason: p.reason.cloned(),
            result: p.result.map(|v| shared(v.clone())),
            report: (p.kind == crate::EventKind::ProcessCompletion)
                .then(|| Arc::new(self.report())),
            state: self.state.clone(),
        }
    }

    fn report(&self) -> RunReport {
        let mut r = self.sched.report();
        r.started_at = Some(self.wall_start);
        r
    }

    /// The run's final report, moved out of the scheduler rather than copied, and the run's
    /// working memory, emptied, for the next run.
    fn into_report(self) -> (RunReport, RunSpare) {
        let Driver {
            sched,
            wall_start,
            retry_ifs,
            results,
            mut running,
            mut batch,
            ..
        } = self;
        let mut aborts = std::mem::take(&mut running.aborts);
        let mut fresh = std::mem::take(&mut running.fresh);
        aborts.clear();
        fresh.clear();
        batch.clear();
        // Free the run's per-task state before the report, the largest thing, is built.
        drop((retry_ifs, results, running));
        let mut sched = sched;
        let values = crate::report::Values::from_fn(sched.task_count(), |i| {
            sched.take_value(TaskId(i as u32))
        });
        let (mut r, sched_spare) = sched.into_report_and_spare();
        r.started_at = Some(wall_start);
        r.values = values;
        let spare = RunSpare {
            sched: sched_spare,
            aborts,
            fresh,
            batch,
        };
        (r, spare)
    }

    /// Hands a dynamic task's outcome to its caller. A value is shared (an `Arc`), so the
    /// report keeps it too.
    fn deliver(&mut self, task: TaskId) {
        let Some(caller) = self.callers.remove(&task) else {
            return;
        };
        let outcome = match self.sched.value(task) {
            Some(v) => Ok(shared(v.clone())),
            None => match self.sched.take_outcome(task) {
                Ok(outcome) => outcome.map(shared),
                Err(_) => return,
            },
        };
        caller(outcome);
    }

    /// Hands a cached call's outcome to one of its waiters (the value is shared).
    fn joined(&mut self, join: crate::scheduler::JoinId, task: TaskId) {
        let Some(caller) = self
            .joiners
            .get_mut(join.as_u32() as usize)
            .and_then(Option::take)
        else {
            return;
        };
        let outcome = match self.sched.outcome(task) {
            Ok(Ok(v)) => Ok(shared(v.clone())),
            Ok(Err(e)) => Err(e),
            Err(_) => return,
        };
        caller(outcome);
    }

    /// Tells the scheduler that the hooks of an event are done (or which one failed).
    fn hooks_done(&mut self, token: HookToken, r: Result<(), TaskError>) {
        let now = self.now();
        // The token came from the scheduler's own command.
        let _ = match r {
            Ok(()) => self.sched.hook_done(token, now),
            Err(error) => self.sched.hook_raised(token, error, now),
        };
    }

    /// Ends the run at once, without awaiting anything (see [`Live`]).
    fn abandon(&mut self) {
        if self.sched.is_finished() {
            return;
        }
        let now = self.now();
        // A cancel stops main too: the core no longer waits for it.
        self.sched.cancel(now);
        // Drop every running future now.
        self.running.fresh.clear();
        self.running.pending = FuturesUnordered::new();
        self.hook_futures = FuturesUnordered::new();
        while let Some(command) = self.sched.next_command() {
            match command {
                Command::Emit { event, token } => {
                    let r = if self.hooks.is_async(token.kind()) {
                        Ok(())
                    } else {
                        let e = self.hook_event(&event);
                        self.hooks.call(&e.view())
                    };
                    self.hooks_done(token, r);
                }
                Command::Deliver { task } => self.deliver(task),
                Command::Joined { join, task } => self.joined(join, task),
                Command::Finished => return,
                // Nothing starts once the run is cancelled; running futures are gone.
                _ => {}
            }
        }
    }

    /// Performs every pending command, taking them one by one (a burst of a million starts
    /// is never copied into a second queue). Returns `true` when the run is finished.
    fn perform(&mut self) -> bool {
        let mut finished = false;
        while let Some(command) = self.sched.next_command() {
            match command {
                Command::Start { task, attempt } => self.start_attempt(task, attempt),
                Command::Cancel { task, attempt, .. } => {
                    self.running.abort(task, attempt);
                }
                Command::Emit { event, token } => {
                    let e = self.hook_event(&event);
                    if self.hooks.is_async(token.kind()) {
                        // Await the chain beside the running tasks; only this task waits.
                        let chain = self.hooks.chain(e);
                        self.hook_futures
                            .push(Box::pin(async move { (token, chain.await) }));
                    } else {
                        let r = self.hooks.call(&e.view());
                        self.hooks_done(token, r);
                    }
                }
                Command::Deliver { task } => self.deliver(task),
                // This driver never suspends a task itself (no `Scheduler::suspend`).
                Command::Resume { .. } => {}
                Command::Joined { join, task } => self.joined(join, task),
                Command::StartMain => self.main_go = true,
                Command::CancelMain => self.main_stopped = true,
                Command::Evaluate { task } => self.evaluate(task),
                Command::Finished => finished = true,
                // Commands added later: nothing to do for this driver.
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        finished
    }
}

/// The error main's caller gets when the run stopped main: the core's.
fn stop_error(sched: &Scheduler<Output>) -> TaskError {
    sched
        .stop_error()
        .unwrap_or_else(|| TaskError::cancelled("run cancelled"))
}

/// Runs a flow (or an orchestrator's main) to the end and returns its report, plus the main
/// future's output when there is one: an error when a run timeout or a cancel dropped main
/// before it finished.
///
/// # Cancel safety
///
/// Dropping the returned future drops every running task's future (they are owned by it).
pub(crate) async fn drive<S, M>(
    setup: RunSetup<S>,
    tx: mpsc::UnboundedSender<Msg>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    main: Option<M>,
) -> RunEnd<M::Output>
where
    S: Send + Sync + 'static,
    M: Future + Send,
{
    let RunSetup {
        graph,
        selection,
        statics,
        options,
        hooks,
        state,
        restore,
    } = setup;
    let options = options.hooks(hooks.mask());
    let n = graph.len();
    let spare = SPARE.take();
    let results = Arc::new(Results::new(n));
    let run_scope = Arc::new(RunScope {
        tx: tx.clone(),
        memos: Memos::default(),
    });
    let mut live = Live(Some(Driver {
        sched: Scheduler::with_spare(graph.clone(), &selection, options, spare.sched)
            .expect("run options are validated when the run is set up"),
        retry_ifs: Vec::new(),
        callers: HashMap::new(),
        joiners: Vec::new(),
        running: Attempts {
            fresh: spare.fresh,
            pending: FuturesUnordered::new(),
            aborts: spare.aborts,
            dropped: HashSet::new(),
            statics,
            n_static: n,
            dynamic: Vec::new(),
            cx_run: Arc::new(CxRun {
                state: state.clone(),
                results: results.clone(),
                graph: graph.clone(),
            }),
            run_scope: run_scope.clone(),
        },
        hook_futures: FuturesUnordered::new(),
        hooks,
        state,
        results,
        start: Instant::now(),
        wall_start: SystemTime::now(),
        main_go: false,
        main_stopped: false,
        batch: spare.batch,
        graph,
    }));
    let d = live
        .0
        .as_mut()
        .expect("the driver lives until the run ends");
    for (task, value) in restore {
        if let Some(v) = &value {
            d.results.set(task.index(), Some(v));
        }
        // The ids come from the run's own graph.
        let _ = d.sched.restore(task, value.map(Some));
    }
    let has_main = main.is_some();
    let mut main_out = None;
    let main = main.map(|m| {
        scope::Scoped::new(
            CallScope {
                parent: None,
                run: run_scope.clone(),
            },
            Box::pin(m),
        )
    });
    let mut main = std::pin::pin!(main);
    drop(tx);
    if has_main {
        // The core starts main once process_begin's hooks are done, and stops it with the run.
        d.sched.start_main(Duration::ZERO);
    } else {
        d.sched.start(Duration::ZERO);
    }
    let mut finished = d.perform();
    let start = d.start;
    while !finished {
        let deadline = d.sched.next_deadline();
        let sleep = async {
            // A deadline beyond what the clock can count never comes.
            match deadline.and_then(|at| start.checked_add(at)) {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let main_pending = main_out.is_none() && has_main && d.main_go;
        tokio::select! {
            biased;
            Some(msg) = rx.recv() => {
                // Messages sent so far are one input (main or a parent calling several actions
                // at once): take them all before acting, so those calls tie as rule 2 says.
                let mut batch = Vec::new();
                let mut next = Some(msg);
                while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
                    d.on_msg(msg, &mut batch);
                }
                if !batch.is_empty() {
                    // What finished by now is part of this instant; the scheduler orders it
                    // before an outside cancel.
                    d.take_finished(&mut batch);
                    let now = d.now();
                    let _ = d.sched.handle(now, batch);
                }
            }
            Some(done) = d.running.next(), if !d.running.is_empty() => {
                if let Ok((task, attempt, out)) = done {
                    // Every completion ready now is of one instant: one clock read, and one
                    // batch for the scheduler (as the Python and Node drivers hand theirs),
                    // cut at `BATCH` inputs so that a million tasks finishing at once are
                    // never a million inputs held at once.
                    let now = d.now();
                    let mut batch = std::mem::take(&mut d.batch);
                    let input = d.outcome(task, attempt, out);
                    batch.push(input);
                    while let Some(Some(next)) = d.running.next().now_or_never() {
                        if let Ok((task, attempt, out)) = next {
                            let input = d.outcome(task, attempt, out);
                            batch.push(input);
                            if batch.len() == BATCH {
                                let _ = d.sched.handle(now, batch.drain(..));
                            }
                        }
                    }
                    let _ = d.sched.handle(now, batch.drain(..));
                    d.batch = batch;
                }
            }
            out = async { main.as_mut().as_pin_mut().expect("main is set").await }, if main_pending => {
                main_out = Some(Ok(out));
                let now = d.now();
                d.sched.main_finished(true, now);
            }
            Some((token, r)) = d.hook_futures.next(), if !d.hook_futures.is_empty() => {
                d.hooks_done(token, r);
            }
            _ = sleep => {
                // The clock's advance and what finished by now are one instant's inputs: the
                // scheduler orders them (completions first).
                let mut batch = vec![Input::Advance];
                d.take_finished(&mut batch);
                let now = d.now();
                let _ = d.sched.handle(now, batch);
            }
        }
        finished = d.perform() || finished;
        if has_main && main_out.is_none() && d.main_stopped {
            // The run stopped (its timeout, a cancel, fail-fast, a hook): the core cancelled
            // main. Drop it (its calls in flight are cancelled as their futures go).
            main.set(None);
            main_out = Some(Err(stop_error(&d.sched)));
        }
    }
    if has_main && main_out.is_none() {
        // Stopped before main could start.
        main_out = Some(Err(stop_error(&d.sched)));
    }
    // A hook that raised fails the run (rule 9), after main returned too: its error, which
    // keeps the hook's own, is the run's.
    let hook_error = match d.sched.stop_reason() {
        Some(StopReason::HookFailed { .. }) => d.sched.stop_error(),
        _ => None,
    };
    if let (Some(e), Some(Ok(_))) = (&hook_error, &main_out) {
        main_out = Some(Err(e.clone()));
    }
    let d = live.0.take().expect("the driver lives until the run ends");
    let (report, spare) = d.into_report();
    SPARE.put(spare);
    RunEnd {
        report,
        main: main_out,
        hook_error,
    }
}

/// How a run ended: its report, main's outcome (when it has a main), and the error of a hook
/// that raised (it keeps the hook's own error as its source).
pub(crate) struct RunEnd<T> {
    pub(crate) report: RunReport,
    pub(crate) main: Option<Result<T, TaskError>>,
    pub(crate) hook_error: Option<TaskError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop_body() -> Body<()> {
        box_body(|_cx: Cx<()>| async { Ok::<(), BoxError>(()) })
    }

    /// An attempt cancelled after its `Start` but before the driver first polls it is never
    /// made: its body is not called, and the attempts after it run.
    #[test]
    fn an_attempt_cancelled_before_its_first_poll_is_never_made() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let body = box_body(move |_cx: Cx<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), BoxError>(()) }
        });
        let mut statics = StaticTasks::new();
        for name in ["a", "b"] {
            statics
                .def
                .add(crate::graph::TaskSpec::new(name), 0)
                .unwrap();
        }
        statics.bodies.push(body);
        let graph = statics.def.graph().unwrap();
        let (tx, _rx) = channel();
        let mut attempts = Attempts {
            fresh: VecDeque::new(),
            dropped: HashSet::new(),
            pending: FuturesUnordered::new(),
            aborts: Vec::new(),
            statics: Some(Arc::new(statics)),
            n_static: 2,
            dynamic: Vec::new(),
            cx_run: Arc::new(CxRun {
                state: Arc::new(()),
                results: Arc::new(Results::new(2)),
                graph,
            }),
            run_scope: Arc::new(RunScope {
                tx,
                memos: Memos::default(),
            }),
        };
        attempts.start(TaskId(0), 1);
        attempts.start(TaskId(1), 1);
        attempts.abort(TaskId(0), 1);
        let done: Vec<(TaskId, u32)> =
            std::iter::from_fn(|| attempts.next().now_or_never().flatten())
                .map(|r| r.map(|(task, attempt, _)| (task, attempt)).unwrap())
                .collect();
        assert_eq!(done, [(TaskId(1), 1)]);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "only b's body was called");
        assert!(attempts.dropped.is_empty(), "nothing left to skip");
    }

    /// A spare of `tasks` task states, with queues of `queue` slots.
    fn spare_of(tasks: usize, queue: usize) -> RunSpare {
        let mut spare = RunSpare::default();
        let graph = {
            let mut def = crate::define::FlowDef::<()>::new();
            for i in 0..tasks {
                def.add(crate::graph::TaskSpec::new(format!("t{i}")), ())
                    .unwrap();
            }
            def.graph().unwrap()
        };
        let s: Scheduler<Output> =
            Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).unwrap();
        spare.sched = s.into_report_and_spare().1;
        spare.fresh.reserve(queue);
        spare.aborts.reserve(queue);
        spare
    }

    /// The slot keeps one spare, the larger of two, with its queues cut to `SPARE_MAX`
    /// slots; taking it empties the slot.
    #[test]
    fn the_spare_slot_keeps_the_larger_memory_within_its_bound() {
        let slot = SpareSlot::new();
        assert_eq!(slot.take().capacity(), 0, "nothing kept yet");
        slot.put(spare_of(100, 10));
        slot.put(spare_of(50, 10));
        let kept = slot.take();
        assert!(kept.capacity() >= 100, "the larger one is kept");
        assert!(kept.fresh.capacity() >= 10 && kept.aborts.capacity() >= 10);
        assert_eq!(slot.take().capacity(), 0, "taken");
        slot.put(spare_of(10, SPARE_MAX + 1));
        let kept = slot.take();
        assert!(kept.capacity() >= 10);
        assert_eq!(
            kept.fresh.capacity(),
            0,
            "a queue past the bound is given back"
        );
        assert_eq!(kept.aborts.capacity(), 0);
    }

    /// Tasks declared by one closure that captures nothing share one body; a closure that
    /// captures something gets its own.
    #[test]
    fn bodies_of_a_capture_free_closure_are_shared() {
        assert!(Arc::ptr_eq(&noop_body(), &noop_body()));
        let n = 7u32;
        let a = box_body(move |_cx: Cx<()>| async move { Ok::<u32, BoxError>(n) });
        let b = box_body(move |_cx: Cx<()>| async move { Ok::<u32, BoxError>(n) });
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
