//! `Orchestrator`: wrap async functions as actions; each call inside a run is a tracked task.

use crate::driver::hooks::Hooks;
use crate::driver::{
    channel, drive, into_task_error, BoxError, CallScope, CallSlot, DynBody, Msg, RetryIf,
    RunSetup, TaskFuture, Value,
};
use crate::event::TaskError;
use crate::graph::GraphBuilder;
use crate::policy::TaskOptions;
use crate::report::RunReport;
use crate::scheduler::RunOptions;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// Runs a main future in which calls of [`Action`]s are tracked tasks, with hooks, retries,
/// timeouts, sequences, a concurrency limit and shared state.
///
/// # Examples
///
/// The npm Orchestrator's inventory check:
///
/// ```
/// use legato::{BoxError, Orchestrator};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let orch = Orchestrator::with_state(AtomicU32::new(0));
/// let state = orch.state().clone();
/// let check = orch
///     .action("checkInventory", move |sku: String| {
///         let state = state.clone();
///         async move {
///             state.fetch_add(1, Ordering::SeqCst);
///             Ok::<_, BoxError>((sku, true))
///         }
///     })
///     .retries(2);
/// let run = orch.run(async { check.call("sku-1".to_string()).await }).await;
/// assert_eq!(run.report.tasks[0].name.as_ref(), "checkInventory");
/// assert_eq!(run.into_output().unwrap(), ("sku-1".to_string(), true));
/// assert_eq!(orch.state().load(Ordering::SeqCst), 1);
/// # });
/// ```
pub struct Orchestrator<S = ()> {
    options: RunOptions,
    hooks: Hooks<S>,
    state: Arc<S>,
    runs: AtomicU64,
}

impl<S> fmt::Debug for Orchestrator<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orchestrator")
            .field("options", &self.options)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Default for Orchestrator<()> {
    fn default() -> Self {
        Orchestrator::new()
    }
}

impl Orchestrator<()> {
    /// An orchestrator without shared state.
    pub fn new() -> Self {
        Orchestrator::with_state(())
    }
}

/// The outcome of [`Orchestrator::run`]: main's output and the run's report.
#[derive(Debug)]
pub struct Run<R> {
    /// What main returned; or, when the run's timeout expired (or the run was cancelled)
    /// before main finished, that error: main was dropped then, as every running call was.
    pub output: Result<R, TaskError>,
    /// Every action call of the run.
    pub report: RunReport,
}

impl<T, E: From<TaskError>> Run<Result<T, E>> {
    /// Main's own result, with a run timeout's (or cancel's) error in main's error type:
    /// one `Result` instead of two.
    ///
    /// # Errors
    ///
    /// Main's error, or the error that stopped the run before main finished.
    pub fn into_output(self) -> Result<T, E> {
        self.output.map_err(E::from).and_then(|r| r)
    }
}

impl<S: Send + Sync + 'static> Orchestrator<S> {
    /// An orchestrator whose actions and hooks share `state`.
    pub fn with_state(state: S) -> Self {
        Orchestrator {
            options: RunOptions::default(),
            hooks: Hooks::default(),
            state: Arc::new(state),
            runs: AtomicU64::new(0),
        }
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// At most `n` action calls run at once; a call awaiting its children gives its slot back.
    pub fn max_parallel(&mut self, n: usize) -> &mut Self {
        self.options = self.options.clone().max_parallel(n);
        self
    }

    /// A time limit for a whole run.
    pub fn timeout(&mut self, d: Duration) -> &mut Self {
        self.options = self.options.clone().timeout(d);
        self
    }

    crate::driver::run_option_setters!();

    /// Calls nested deeper than `n` fail at once with `call depth exceeded N (max_depth)`
    /// (error kind [`ErrorKind::Depth`](crate::event::ErrorKind::Depth)), so a runaway
    /// recursion ends with an error instead of growing without end. Default: 10,000; `0` is
    /// refused when the run starts.
    pub fn max_depth(&mut self, n: u32) -> &mut Self {
        self.options = self.options.clone().max_depth(n);
        self
    }

    /// Stop everything at the first failed call: running calls are cancelled and later calls
    /// are skipped (default: a failure only fails its caller's `await`).
    pub fn fail_fast(&mut self, on: bool) -> &mut Self {
        self.options = self.options.clone().fail_fast(on);
        self
    }

    /// How many runs were started.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Wraps an async function as an action named `name`.
    pub fn action<A, T, E, F, Fut>(&self, name: &str, f: F) -> Action<A, T>
    where
        A: Clone + Send + Sync + 'static,
        T: Clone + Any + Send + Sync,
        E: Into<BoxError> + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        Action::new(name, wrap(f))
    }

    /// Wraps an async function that calls itself (Pynenc's recursive tasks): the function
    /// receives its own action as first argument.
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{Action, BoxError, Orchestrator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut orch = Orchestrator::new();
    /// orch.max_parallel(1); // recursion cannot deadlock: awaiting callers give their slot back
    /// let fib = orch.recursive_action("fib", |fib: Action<u64, u64>, n: u64| async move {
    ///     if n < 2 {
    ///         return Ok::<_, BoxError>(n);
    ///     }
    ///     let (a, b) = tokio::join!(fib.call(n - 1), fib.call(n - 2));
    ///     Ok(a? + b?)
    /// }).cached();
    /// let run = orch.run(async { fib.call(20).await }).await;
    /// assert_eq!(run.report.tasks.len(), 21); // memoized: one task per distinct n
    /// assert_eq!(run.into_output().unwrap(), 6765);
    /// # });
    /// ```
    pub fn recursive_action<A, T, E, F, Fut>(&self, name: &str, f: F) -> Action<A, T>
    where
        A: Clone + Send + Sync + 'static,
        T: Clone + Any + Send + Sync,
        E: Into<BoxError> + 'static,
        F: Fn(Action<A, T>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let self_ref: SelfRef<A, T> = Arc::new(RwLock::new(Weak::new()));
        let slot = self_ref.clone();
        let body: ActionFn<A, T> = Arc::new(move |a: A| {
            let inner = slot.read().unwrap_or_else(|p| p.into_inner()).upgrade();
            let inner = inner.expect("the action lives while it is called");
            let fut = f(Action { inner }, a);
            Box::pin(async move { fut.await.map_err(into_task_error) })
        });
        let mut inner = ActionInner::new(name, body);
        inner.self_ref = Some(self_ref);
        Action::from_inner(inner)
    }

    /// Groups actions of one type to call them at once, one argument each (the npm
    /// Orchestrator's `parallel`). See [`Parallel`].
    pub fn parallel<A, T>(&self, actions: impl IntoIterator<Item = Action<A, T>>) -> Parallel<A, T>
    where
        A: Clone + Send + Sync + 'static,
        T: Clone + Any + Send + Sync,
    {
        Parallel {
            actions: actions.into_iter().collect(),
            fail_fast: false,
        }
    }

    /// Runs `main`; every action call inside it (and inside those calls) is a tracked task.
    /// The run ends when main has returned and every call is finished. A run timeout
    /// ([`Orchestrator::timeout`]) cancels everything, main included: [`Run::output`] is then
    /// the timeout error.
    ///
    /// # Errors
    ///
    /// None of its own: the report holds every call's outcome, and `output` main's.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops main and every running call; the calls end `cancelled`, and
    /// the synchronous hooks see their end and `process_completion` (async hooks cannot be
    /// awaited once the future is gone and are not called).
    pub async fn run<M>(&self, main: M) -> Run<M::Output>
    where
        M: Future + Send,
    {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let graph = Arc::new(
            GraphBuilder::new()
                .build()
                .expect("an empty graph is valid"),
        );
        let (tx, rx) = channel();
        let setup = RunSetup {
            selection: graph.all(),
            graph,
            statics: None,
            options: self.options.clone(),
            hooks: self.hooks.clone(),
            state: self.state.clone(),
            restore: Vec::new(),
        };
        if let Err(e) = self.options.validate() {
            return Run {
                output: Err(TaskError::failed(e.to_string())),
                report: RunReport {
                    tasks: Vec::new(),
                    total: Duration::ZERO,
                    stop: None,
                    started_at: None,
                    values: Default::default(),
                },
            };
        }
        let end = drive(setup, tx, rx, Some(main)).await;
        Run {
            output: end.main.expect("main finished before the run"),
            report: end.report,
        }
    }
}

crate::driver::hooks::hook_methods!(Orchestrator);

/// Computes a call's keys from its argument (see [`Action::uses_with`]).
type UsesFn<A> = Arc<dyn Fn(&A) -> Vec<String> + Send + Sync>;

type ActionFn<A, T> =
    Arc<dyn Fn(A) -> Pin<Box<dyn Future<Output = Result<T, TaskError>> + Send>> + Send + Sync>;

fn wrap<A, T, E, F, Fut>(f: F) -> ActionFn<A, T>
where
    E: Into<BoxError> + 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    Arc::new(move |a| {
        let fut = f(a);
        Box::pin(async move { fut.await.map_err(into_task_error) })
    })
}

/// A memoized call: the call's task (made once per argument), and how many callers still
/// wait for it. Who waits for it and when each gets its outcome is the core's
/// ([`Scheduler::join`](crate::scheduler::Scheduler::join)).
struct Memo {
    call: Arc<CallSlot>,
    /// Callers waiting now; the last to give up before the outcome cancels the call.
    waiting: usize,
}

/// One cached action's memos in one run, by argument.
struct MemoMap<A> {
    map: HashMap<A, Memo>,
}

type SharedMemo<A> = Arc<Mutex<MemoMap<A>>>;

/// Runs a call through the action's memo in the caller's run (built where `A: Hash + Eq` is
/// known).
type Memoizer<A, T> = Arc<
    dyn Fn(
            Action<A, T>,
            CallScope,
            A,
        ) -> Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>
        + Send
        + Sync,
>;

/// How a recursive action's body finds its own (latest) action.
type SelfRef<A, T> = Arc<RwLock<Weak<ActionInner<A, T>>>>;

struct ActionInner<A, T> {
    name: Arc<str>,
    opts: Arc<TaskOptions>,
    retry_if: Option<RetryIf>,
    /// Keys computed from a call's argument (see [`Action::uses_with`]).
    uses_with: Option<UsesFn<A>>,
    f: ActionFn<A, T>,
    /// `Some` when calls are memoized (see [`Action::cached`]).
    cache: Option<Memoizer<A, T>>,
    /// `Some` for recursive actions: kept pointing at the latest configured action.
    self_ref: Option<SelfRef<A, T>>,
}

impl<A, T> ActionInner<A, T> {
    fn new(name: &str, f: ActionFn<A, T>) -> Self {
        ActionInner {
            name: Arc::from(name),
            opts: Arc::new(TaskOptions::default()),
            retry_if: None,
            uses_with: None,
            f,
            cache: None,
            self_ref: None,
        }
    }
}

/// An async function wrapped by [`Orchestrator::action`]: inside a run each call is a tracked
/// task (hooks, retries, timeout, report); outside a run it simply calls the function.
///
/// Dropping a call's future before it finishes cancels the call, so `tokio::try_join!` of
/// several calls is a fail-fast group: the first error cancels the others.
pub struct Action<A, T> {
    inner: Arc<ActionInner<A, T>>,
}

impl<A, T> Clone for Action<A, T> {
    fn clone(&self) -> Self {
        Action {
            inner: self.inner.clone(),
        }
    }
}

impl<A, T> fmt::Debug for Action<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Action")
            .field("name", &self.inner.name)
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

/// A caller waiting for a memoized call. Dropped before the result came (the caller gave up),
/// it leaves; the last to leave before the call is done cancels it, so a call runs while
/// anyone waits for it.
struct MemoWaiter<A: Hash + Eq> {
    memo: SharedMemo<A>,
    arg: Option<A>,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
}

impl<A: Hash + Eq> Drop for MemoWaiter<A> {
    fn drop(&mut self) {
        let Some(arg) = self.arg.take() else { return };
        let mut m = self.memo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(memo) = m.map.get_mut(&arg) else {
            return;
        };
        memo.waiting = memo.waiting.saturating_sub(1);
        if memo.waiting == 0 && !memo.call.finished.load(Ordering::SeqCst) {
            let call = memo.call.clone();
            m.map.remove(&arg);
            drop(m);
            call.abandoned.store(true, Ordering::SeqCst);
            if let Some(&task) = call.id.get() {
                let _ = self.tx.send(Msg::CancelCall { task });
            }
        }
    }
}

/// Cancels a call whose future is dropped before its result arrived.
struct CallGuard {
    slot: Arc<CallSlot>,
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
    done: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.slot.abandoned.store(true, Ordering::SeqCst);
        if let Some(&task) = self.slot.id.get() {
            let _ = self.tx.send(Msg::CancelCall { task });
        }
    }
}

impl<A, T> Action<A, T>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Any + Send + Sync,
{
    fn new(name: &str, f: ActionFn<A, T>) -> Self {
        Action::from_inner(ActionInner::new(name, f))
    }

    fn from_inner(inner: ActionInner<A, T>) -> Self {
        let inner = Arc::new(inner);
        if let Some(r) = &inner.self_ref {
            *r.write().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(&inner);
        }
        Action { inner }
    }

    fn edit(self, f: impl FnOnce(&mut ActionInner<A, T>)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(i) => i,
            Err(shared) => ActionInner {
                name: shared.name.clone(),
                opts: shared.opts.clone(),
                retry_if: shared.retry_if.clone(),
                f: shared.f.clone(),
                cache: shared.cache.clone(),
                uses_with: shared.uses_with.clone(),
                self_ref: shared.self_ref.clone(),
            },
        };
        f(&mut inner);
        Action::from_inner(inner)
    }

    fn edit_options(self, f: impl FnOnce(TaskOptions) -> TaskOptions) -> Self {
        self.edit(|i| i.opts = Arc::new(f((*i.opts).clone())))
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    crate::driver::option_setters!(#[must_use]);

    /// Retries only errors for which `pred` returns `true`.
    pub fn retry_if<F>(self, pred: F) -> Self
    where
        F: Fn(&TaskError) -> bool + Send + Sync + 'static,
    {
        self.edit(|i| i.retry_if = Some(Arc::new(pred)))
    }

    /// Each call also holds the keys `keys(&arg)` returns, as Pynenc limits concurrency per
    /// task and arguments: `uses_with(|user: &u64| vec![format!("user:{user}")])` never runs
    /// two calls for one user at once (with the run's `limit` for a key, that many).
    pub fn uses_with<F>(self, keys: F) -> Self
    where
        F: Fn(&A) -> Vec<String> + Send + Sync + 'static,
    {
        self.edit(|i| i.uses_with = Some(Arc::new(keys)))
    }

    /// Memoizes calls within a run: a call with an argument already seen in this run shares
    /// the first call's task and result instead of running again. Each run keeps its own
    /// memo (two runs at once share nothing). A memoized call runs while any caller still
    /// waits for it: a caller that gives up (drops its call) leaves, and only when the last
    /// one leaves is the call cancelled.
    pub fn cached(self) -> Self
    where
        A: Hash + Eq,
    {
        // This action's key in each run's memos: the address of a token it keeps alive.
        let token = Arc::new(0u8);
        let memo: Memoizer<A, T> = Arc::new(move |action, scope, arg| {
            let key = Arc::as_ptr(&token) as usize;
            Box::pin(async move { action.call_memoized(key, &scope, arg).await })
        });
        self.edit(|i| i.cache = Some(memo))
    }

    /// Calls the action. Inside a run this is a tracked task; outside, a plain call.
    ///
    /// # Errors
    ///
    /// The task's last error: the function's own, a timeout, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the call (its task ends `cancelled`).
    pub async fn call(&self, arg: A) -> Result<T, TaskError> {
        self.call_in(arg, None).await
    }

    /// A call, as a member of a fail-fast group when `group` is given (see [`parallel`]).
    async fn call_in(&self, arg: A, group: Option<&GroupCollector>) -> Result<T, TaskError> {
        let Some(scope) = crate::driver::scope::current() else {
            return (self.inner.f)(arg).await;
        };
        let value = match &self.inner.cache {
            // A cached call is the run's, shared with other callers: never a group's member.
            Some(memo) => memo(self.clone(), scope, arg).await,
            None => self.spawn(&scope, arg, group).await,
        }?;
        match value.downcast::<T>() {
            Ok(v) => Ok(Arc::try_unwrap(v).unwrap_or_else(|v| (*v).clone())),
            Err(_) => Err(TaskError::failed(
                "an action returned a value of another type",
            )),
        }
    }

    /// The first call with an argument starts the call's task; every caller (the first
    /// included) joins it ([`Scheduler::join`](crate::scheduler::Scheduler::join)): the core
    /// suspends a caller that is a task, so it gives its slot back, and says when it gets the
    /// outcome — at once for a call already done. The task is the run's, not the first
    /// caller's: it outlives a caller that gives up while others wait.
    async fn call_memoized(&self, key: usize, scope: &CallScope, arg: A) -> Result<Value, TaskError>
    where
        A: Hash + Eq,
    {
        let memo: SharedMemo<A> = {
            let mut memos = scope.run.memos.lock().unwrap_or_else(|p| p.into_inner());
            let entry = memos.entry(key).or_insert_with(|| {
                Box::new(SharedMemo::<A>::new(Mutex::new(MemoMap {
                    map: HashMap::new(),
                })))
            });
            match entry.downcast_ref::<SharedMemo<A>>() {
                Some(m) => m.clone(),
                None => return Err(TaskError::failed("a cached action's memo has another type")),
            }
        };
        let (tx, rx) = oneshot::channel();
        let sent = {
            let mut m = memo.lock().unwrap_or_else(|p| p.into_inner());
            let call = match m.map.get_mut(&arg) {
                Some(memo) => {
                    memo.waiting += 1;
                    memo.call.clone()
                }
                None => {
                    let call = Arc::new(CallSlot::default());
                    m.map.insert(
                        arg.clone(),
                        Memo {
                            call: call.clone(),
                            waiting: 1,
                        },
                    );
                    let finished = call.clone();
                    // Sent under the memo's lock, so that the call reaches the driver before
                    // any join of it.
                    let _ = scope.run.tx.send(Msg::Call {
                        parent: None,
                        name: self.inner.name.clone(),
                        opts: self.call_options(&arg),
                        retry_if: self.inner.retry_if.clone(),
                        body: self.body(arg.clone()),
                        done: Box::new(move |_| finished.finished.store(true, Ordering::SeqCst)),
                        slot: call.clone(),
                    });
                    call
                }
            };
            scope.run.tx.send(Msg::Join {
                caller: scope.parent,
                slot: call,
                done: Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            })
        };
        let mut waiter = MemoWaiter {
            memo: memo.clone(),
            arg: Some(arg),
            tx: scope.run.tx.clone(),
        };
        if sent.is_err() {
            waiter.arg = None;
            return Err(cancelled("the run is over"));
        }
        let result = rx
            .await
            .unwrap_or_else(|_| Err(cancelled("the call was cancelled")));
        // Answered: nothing to leave.
        waiter.arg = None;
        result
    }

    /// The call's body: the action's function with this argument, once per attempt.
    fn body(&self, arg: A) -> DynBody {
        let f = self.inner.f.clone();
        Arc::new(move || -> TaskFuture {
            let fut = f(arg.clone());
            Box::pin(async move { fut.await.map(|v| Some(Arc::new(v) as Value)) })
        })
    }

    /// A call's options: the action's, plus the keys [`Action::uses_with`] gives for `arg`.
    fn call_options(&self, arg: &A) -> Arc<TaskOptions> {
        match &self.inner.uses_with {
            Some(keys) => Arc::new(
                keys(arg)
                    .into_iter()
                    .fold((*self.inner.opts).clone(), TaskOptions::uses),
            ),
            None => self.inner.opts.clone(),
        }
    }

    async fn spawn(
        &self,
        scope: &CallScope,
        arg: A,
        group: Option<&GroupCollector>,
    ) -> Result<Value, TaskError> {
        let opts = self.call_options(&arg);
        let body = self.body(arg);
        let (done_tx, done_rx) = oneshot::channel();
        let slot = Arc::new(CallSlot::default());
        let mut guard = CallGuard {
            slot: slot.clone(),
            tx: scope.run.tx.clone(),
            done: false,
        };
        let sent = scope.run.tx.send(Msg::Call {
            parent: scope.parent,
            name: self.inner.name.clone(),
            opts,
            retry_if: self.inner.retry_if.clone(),
            body,
            done: Box::new(move |r| {
                let _ = done_tx.send(r);
            }),
            slot: slot.clone(),
        });
        if sent.is_err() {
            guard.done = true;
            return Err(cancelled("the run is over"));
        }
        if let Some(g) = group {
            g.add(slot, scope);
        }
        let out = done_rx.await;
        guard.done = true;
        out.unwrap_or_else(|_| Err(cancelled("the run is over")))
    }
}

fn cancelled(msg: &str) -> TaskError {
    TaskError::cancelled(msg)
}

/// The members of a fail-fast group as their calls are made: once every member that is not
/// a cached call has sent its call, the group goes to the core ([`Scheduler::group`]), which
/// cancels the others when one fails.
///
/// [`Scheduler::group`]: crate::scheduler::Scheduler::group
struct GroupCollector {
    slots: Mutex<Vec<Arc<CallSlot>>>,
    members: usize,
}

impl GroupCollector {
    fn add(&self, slot: Arc<CallSlot>, scope: &CallScope) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.push(slot);
        if slots.len() == self.members {
            let _ = scope.run.tx.send(Msg::Group {
                caller: scope.parent,
                slots: std::mem::take(&mut *slots),
            });
        }
    }
}

/// Calls each action with its argument, all at once; the results in order. With `fail_fast`
/// the calls are a fail-fast group of the core (the first failure cancels the others there)
/// and the failure is returned: the failed call's own error rather than a cancellation.
async fn parallel<A, T>(
    calls: Vec<(Action<A, T>, A)>,
    fail_fast: bool,
) -> Result<Vec<Result<T, TaskError>>, TaskError>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Any + Send + Sync,
{
    use futures_util::stream::{FuturesUnordered, StreamExt};
    let n = calls.len();
    let group = fail_fast.then(|| GroupCollector {
        slots: Mutex::new(Vec::new()),
        members: calls
            .iter()
            .filter(|(a, _)| a.inner.cache.is_none())
            .count(),
    });
    let group = group.as_ref();
    let mut pending: FuturesUnordered<_> = calls
        .into_iter()
        .enumerate()
        .map(|(i, (action, arg))| async move { (i, action.call_in(arg, group).await) })
        .collect();
    let mut out: Vec<Option<Result<T, TaskError>>> = (0..n).map(|_| None).collect();
    let mut first_cancel = None;
    while let Some((i, r)) = pending.next().await {
        if fail_fast {
            if let Err(e) = &r {
                if !e.is_cancelled() {
                    return Err(e.clone());
                }
                // A member the group cancelled: the failure that did it comes too.
                first_cancel.get_or_insert_with(|| e.clone());
            }
        }
        out[i] = Some(r);
    }
    if let Some(e) = first_cancel {
        return Err(e);
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every call finished"))
        .collect())
}

/// Actions called together, one argument each; made by [`Orchestrator::parallel`].
///
/// # Examples
///
/// ```
/// use legato::{BoxError, Orchestrator};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let orch = Orchestrator::new();
/// let profile = orch.action("getUserProfile", |id: String| async move { Ok::<_, BoxError>(format!("profile:{id}")) });
/// let shipping = orch.action("getShippingOptions", |to: String| async move { Ok::<_, BoxError>(format!("ship:{to}")) });
/// let both = orch.parallel([profile, shipping]).fail_fast(true);
/// let run = orch.run(async { both.call(vec!["user42".into(), "USA".into()]).await }).await;
/// assert_eq!(run.into_output().unwrap(), ["profile:user42", "ship:USA"]);
/// # });
/// ```
pub struct Parallel<A, T> {
    actions: Vec<Action<A, T>>,
    fail_fast: bool,
}

impl<A, T> fmt::Debug for Parallel<A, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("actions", &self.actions)
            .field("fail_fast", &self.fail_fast)
            .finish()
    }
}

impl<A, T> Parallel<A, T>
where
    A: Clone + Send + Sync + 'static,
    T: Clone + Any + Send + Sync,
{
    /// With fail-fast, the first error cancels the calls still running and is returned at once.
    pub fn fail_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
    }

    /// Calls action `i` with `args[i]`, all at once; the results in order.
    ///
    /// # Errors
    ///
    /// The first error: at once with fail-fast, else after every call has finished (the
    /// lowest index wins). Too few or too many arguments is an error too.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every call still running.
    pub async fn call(&self, args: Vec<A>) -> Result<Vec<T>, TaskError> {
        self.call_settled(args).await?.into_iter().collect()
    }

    /// Like [`Parallel::call`], but without fail-fast every call's own result is returned.
    ///
    /// # Errors
    ///
    /// With fail-fast, the first error; a wrong number of arguments.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every call still running.
    pub async fn call_settled(&self, args: Vec<A>) -> Result<Vec<Result<T, TaskError>>, TaskError> {
        if args.len() != self.actions.len() {
            return Err(TaskError::failed(format!(
                "parallel: {} actions but {} arguments",
                self.actions.len(),
                args.len()
            )));
        }
        let calls = self.actions.iter().cloned().zip(args).collect();
        parallel(calls, self.fail_fast).await
    }
}
