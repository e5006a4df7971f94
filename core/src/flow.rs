//! `Flow`: a declared DAG of async tasks, run by the tokio driver.

use crate::define::FlowDef;
use crate::driver::hooks::Hooks;
use crate::driver::{
    box_body, box_sync_body, channel, drive, Body, BoxError, Canceller, Cx, RunSetup, StaticTasks,
};
use crate::event::{Status, TaskError};
use crate::graph::{Graph, GraphError, TaskSpec};
use crate::policy::OptionError;
use crate::policy::TaskOptions;
use crate::render::Format;
use crate::report::RunReport;
use crate::scheduler::RunOptions;
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// The graph is invalid (cycle, missing dependency, unknown target, …): nothing ran.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The run finished, but not every task succeeded; the report holds everything.
    #[error("{}", failure_message(.report))]
    Failed {
        /// The run's report.
        report: Box<RunReport>,
        /// When a hook raised: its error (the hook's own, as [`TaskError::source_ref`] or
        /// `source()`), also this error's `source()`.
        #[source]
        hook_error: Option<TaskError>,
    },
    /// A run option is invalid (`max_parallel(0)`, a zero run timeout): nothing ran.
    #[error(transparent)]
    InvalidOption(#[from] OptionError),
}

impl FlowError {
    /// A stable name of the error's kind: the graph error's kind, `"flow_failed"`, or the
    /// option error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            FlowError::Graph(g) => g.kind(),
            FlowError::Failed { .. } => "flow_failed",
            FlowError::InvalidOption(e) => e.kind().as_str(),
        }
    }

    /// The report, when the run happened.
    pub fn report(&self) -> Option<&RunReport> {
        match self {
            FlowError::Failed { report, .. } => Some(report),
            FlowError::Graph(_) | FlowError::InvalidOption(_) => None,
        }
    }

    /// The error of the first task that failed, as the task's body returned it, when the run
    /// happened and a task failed: downcast it to your own error type with
    /// [`TaskError::source_ref`] (a Rust body's error is kept as a
    /// [`BoxedSource`](crate::event::BoxedSource)).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{BoxError, Flow};
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("disk full")]
    /// struct DiskFull;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut flow = Flow::new();
    /// flow.task("write", |_| async { Err::<(), _>(DiskFull) })?;
    /// let err = flow.run().await.unwrap_err();
    /// let source = std::error::Error::source(err.first_task_error().unwrap()).unwrap();
    /// assert!(source.downcast_ref::<DiskFull>().is_some());
    /// # Ok::<(), legato::graph::GraphError>(())
    /// # }).unwrap();
    /// ```
    pub fn first_task_error(&self) -> Option<&TaskError> {
        let r = self.report()?;
        r.tasks
            .iter()
            .filter(|t| matches!(t.status, Status::Failed | Status::TimedOut))
            .min_by_key(|t| t.finished)
            .and_then(|t| t.error.as_deref())
    }
}

/// `flow failed: task "build" failed: <message>` (the first task that failed), or the reason
/// the run stopped: the core's one wording ([`RunReport::failure_message`]).
pub(crate) fn failure_message(r: &RunReport) -> String {
    r.failure_message()
        .unwrap_or_else(|| "flow failed".to_owned())
}

/// A DAG of async tasks with dependencies by name, options per task, hooks and shared state.
///
/// # Examples
///
/// ```
/// use legato::{BoxError, Flow};
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut flow = Flow::new();
/// flow.max_parallel(4);
/// flow.task("install", |_| async { Ok::<_, BoxError>(()) })?;
/// flow.task("build", |_| async { Ok::<_, BoxError>("dist/app.tar") })?
///     .after(["install"])
///     .retries(3)
///     .timeout(Duration::from_secs(30));
/// flow.task("test", |cx| async move {
///     let artifact: &&str = cx.result("build").expect("build ran");
///     Ok::<_, BoxError>(artifact.len())
/// })?.after(["build"]);
///
/// assert_eq!(flow.plan_targets(["test"])?, vec![vec!["install"], vec!["build"], vec!["test"]]);
/// let report = flow.run().await?;
/// assert!(report.ok());
/// # Ok::<(), legato::FlowError>(())
/// # }).unwrap();
/// ```
pub struct Flow<S = ()> {
    name: String,
    /// Names, dependencies, options and validation: the same for every front door.
    /// Shared with the runs in progress (copied only if the flow changes during one).
    tasks: Arc<StaticTasks<S>>,
    options: RunOptions,
    hooks: Hooks<S>,
    state: Arc<S>,
    /// The place in `tasks.bodies` of the last capture-free closure given to
    /// [`Flow::task`], by type: a loop that declares its tasks with one such closure gives
    /// them all that place, without a look-up in `box_body`'s table or a body each.
    last_body: Option<(std::any::TypeId, u32)>,
}

impl<S> fmt::Debug for Flow<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field("tasks", &self.tasks.def.len())
            .field("options", &self.options)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Default for Flow<()> {
    fn default() -> Self {
        Flow::new()
    }
}

impl<S> Flow<S> {
    /// The flow's tasks, to change them: copied first if a run in progress shares them.
    fn tasks_mut(&mut self) -> &mut StaticTasks<S> {
        crate::define::unique_mut(&mut self.tasks)
    }

    /// The flow's declaration, to change it.
    fn def_mut(&mut self) -> &mut FlowDef<u32> {
        &mut self.tasks_mut().def
    }
}

impl Flow<()> {
    /// An empty flow without shared state.
    pub fn new() -> Self {
        Flow::with_state(())
    }
}

/// A set of tasks to depend on all at once (LightFlow's sync point): see [`Flow::parallel`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPoint {
    names: Vec<String>,
}

impl SyncPoint {
    /// The tasks of the point.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl<'a> IntoIterator for &'a SyncPoint {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.names.iter()
    }
}

impl<S: Send + Sync + 'static> Flow<S> {
    /// An empty flow whose tasks and hooks share `state` (use interior mutability — a
    /// `Mutex`, atomics — for what they change).
    pub fn with_state(state: S) -> Self {
        Flow {
            name: "flow".to_owned(),
            tasks: Arc::new(StaticTasks::new()),
            options: RunOptions::default(),
            hooks: Hooks::default(),
            state: Arc::new(state),
            last_body: None,
        }
    }

    /// Names the flow (shown in reports and drawings).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// At most `n` tasks run at once (default: unlimited; `n` ≥ 1, a run refuses 0 with
    /// [`FlowError::InvalidOption`]).
    pub fn max_parallel(&mut self, n: usize) -> &mut Self {
        self.options = self.options.clone().max_parallel(n);
        self
    }

    /// Stop everything at the first failure (default: dependents are skipped, the rest runs).
    pub fn fail_fast(&mut self, on: bool) -> &mut Self {
        self.options = self.options.clone().fail_fast(on);
        self
    }

    /// A time limit for the whole run.
    pub fn timeout(&mut self, d: Duration) -> &mut Self {
        self.options = self.options.clone().timeout(d);
        self
    }

    /// Calls nested deeper than `n` fail at once with `call depth exceeded N (max_depth)`
    /// (error kind [`ErrorKind::Depth`](crate::event::ErrorKind::Depth)), so a runaway
    /// recursion ends with an error instead of growing without end. Default: 10,000; `0` is
    /// refused when the run starts.
    pub fn max_depth(&mut self, n: u32) -> &mut Self {
        self.options = self.options.clone().max_depth(n);
        self
    }

    crate::driver::run_option_setters!();

    /// Adds a task. Its body is called once per attempt with the attempt's [`Cx`].
    ///
    /// The body's value is the task's result ([`Cx::result`], [`RunReport::result`]). Its
    /// error becomes the attempt's [`TaskError`]: its text is the message, and the error itself
    /// is kept as the source, to get back with [`TaskError::source_ref`] — except an error
    /// given as a `&'static str`, which is only a message.
    ///
    /// # Errors
    ///
    /// [`GraphError::DuplicateTask`] if the name is taken, [`GraphError::InvalidName`] if it is
    /// empty or not printable on one line.
    pub fn task<F, Fut, T, E>(
        &mut self,
        name: impl Into<String>,
        body: F,
    ) -> Result<TaskMut<'_, S>, GraphError>
    where
        F: Fn(Cx<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Any + Send + Sync,
        E: Into<BoxError> + 'static,
    {
        let body = self.body_of(body, box_body);
        self.add_task(name.into(), body)
    }

    /// Adds a task whose body is a plain function: called once per attempt, on the thread
    /// that drives the run, and its value (or error) is the attempt's outcome at once — no
    /// future is made, boxed or polled. Everything else is as for [`Flow::task`]: results,
    /// errors, retries, backoff, hooks, conditions and the report.
    ///
    /// For short work, like C++ Taskflow's callables: while the function runs, the run
    /// waits for it (nothing else of the run moves), and nothing can stop it midway — a
    /// timeout, a fail-fast stop or a cancel takes effect when it returns, and its outcome
    /// counts. Work that blocks or takes long belongs in [`Flow::task`], with
    /// [`tokio::task::spawn_blocking`] for blocking calls.
    ///
    /// # Errors
    ///
    /// As [`Flow::task`].
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{BoxError, Flow};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut flow = Flow::new();
    /// flow.task_sync("parse", |_| Ok::<_, BoxError>(21u32))?;
    /// flow.task_sync("double", |cx| match cx.result::<u32>("parse") {
    ///     Some(n) => Ok(n * 2),
    ///     None => Err(BoxError::from("parse gave no number")),
    /// })?
    /// .after(["parse"]);
    /// let report = flow.run().await?;
    /// assert_eq!(report.result::<u32>("double"), Some(&42));
    /// # Ok(())
    /// # }
    /// ```
    pub fn task_sync<F, T, E>(
        &mut self,
        name: impl Into<String>,
        body: F,
    ) -> Result<TaskMut<'_, S>, GraphError>
    where
        F: Fn(Cx<S>) -> Result<T, E> + Send + Sync + 'static,
        T: Any + Send + Sync,
        E: Into<BoxError> + 'static,
    {
        let body = self.body_of(body, box_sync_body);
        self.add_task(name.into(), body)
    }

    /// The place of `f`'s body (made by `make`) among the flow's bodies. A closure that
    /// captures nothing is the same value every time, so a loop that declares its tasks with
    /// one gets one body, in one place (see `box_body`).
    fn body_of<F: 'static>(&mut self, f: F, make: fn(F) -> Body<S>) -> u32 {
        let key = (std::mem::size_of::<F>() == 0).then(std::any::TypeId::of::<F>);
        if let (Some(key), Some((k, at))) = (key, self.last_body) {
            if key == k {
                return at;
            }
        }
        let bodies = &mut self.tasks_mut().bodies;
        bodies.push(make(f));
        let at = (bodies.len() - 1) as u32;
        if let Some(key) = key {
            self.last_body = Some((key, at));
        }
        at
    }

    fn add_task(&mut self, name: String, body: u32) -> Result<TaskMut<'_, S>, GraphError> {
        let tasks = self.tasks_mut();
        let i = tasks.def.add_named(&name, body)?;
        Ok(TaskMut { tasks, i })
    }

    /// The task of that name, to change its options or dependencies.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] if there is none.
    pub fn get_mut(&mut self, name: &str) -> Result<TaskMut<'_, S>, GraphError> {
        let i = self.tasks.def.position(name)?;
        Ok(TaskMut {
            tasks: self.tasks_mut(),
            i,
        })
    }

    /// LightFlow's `Follow`: chains existing tasks, each after the previous one. Call
    /// [`Chain::after`] on the result to put the first one after other tasks.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] for a name that is not a task of the flow.
    pub fn follow<I, N>(&mut self, names: I) -> Result<Chain<'_, S>, GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let idx = self.tasks.def.positions(names)?;
        self.def_mut().follow(&idx);
        Ok(Chain {
            flow: self,
            first: idx.first().copied(),
            members: idx,
        })
    }

    /// LightFlow's `Parallel`: groups existing tasks into a sync point that later tasks can
    /// depend on (`.after(&point)`); [`Chain::after`] puts all of them after other tasks.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] for a name that is not a task of the flow.
    pub fn parallel<I, N>(&mut self, names: I) -> Result<Chain<'_, S>, GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let idx = self.tasks.def.positions(names)?;
        Ok(Chain {
            flow: self,
            first: None,
            members: idx,
        })
    }

    /// LightFlow's `SyncAll`: makes `name` run after every task added before it.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] if `name` is not a task of the flow.
    pub fn sync_all(&mut self, name: &str) -> Result<&mut Self, GraphError> {
        let i = self.tasks.def.position(name)?;
        self.def_mut().sync_all(i);
        Ok(self)
    }

    /// The validated graph. It is built once and kept until the flow changes, so running a
    /// flow again costs no rebuilding.
    ///
    /// # Errors
    ///
    /// [`GraphError`] for a missing dependency or a cycle.
    pub fn graph(&self) -> Result<Arc<Graph>, GraphError> {
        self.tasks.def.graph()
    }

    /// The flow's declaration (names, dependencies, options), shared with the other doors.
    pub fn def(&self) -> &FlowDef<impl Sized> {
        &self.tasks.def
    }

    /// The dry run: the levels in which every task would run.
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph.
    pub fn plan(&self) -> Result<Vec<Vec<String>>, GraphError> {
        self.plan_targets(std::iter::empty::<&str>())
    }

    /// The dry run for these targets and their dependencies (all tasks when empty).
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph or an unknown target.
    pub fn plan_targets<I, N>(&self, targets: I) -> Result<Vec<Vec<String>>, GraphError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.tasks.def.plan(targets)
    }

    /// Draws the graph (see [`Format`]).
    ///
    /// # Errors
    ///
    /// [`GraphError`] for an invalid graph.
    pub fn render(&self, format: Format) -> Result<String, GraphError> {
        self.tasks.def.render(format)
    }

    /// Runs every task.
    ///
    /// The working memory of a run (the scheduler's task states and the driver's queues, at
    /// most 32,768 tasks' worth, about 3 MB) is kept when it ends, in one place for the whole
    /// process, and the next run of this or any flow starts in it: a program that runs flows
    /// again and again does not have the system fault in fresh pages for each.
    ///
    /// # Errors
    ///
    /// [`FlowError::Graph`] if the graph is invalid (nothing runs); [`FlowError::Failed`]
    /// with the report if any task did not succeed or the run stopped early.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the run on the spot: every running task's future is
    /// dropped and the task ends `cancelled`, the tasks not started are skipped, and the
    /// synchronous hooks see it all, `process_completion` last. Async hooks are not called
    /// then (nothing could await them).
    pub async fn run(&self) -> Result<RunReport, FlowError> {
        self.run_targets(std::iter::empty::<&str>()).await
    }

    /// Runs the targets and their transitive dependencies (all tasks when empty).
    ///
    /// # Errors
    ///
    /// As [`Flow::run`], plus [`GraphError::UnknownTask`] for an unknown target.
    ///
    /// # Cancel safety
    ///
    /// As [`Flow::run`].
    pub async fn run_targets<I, N>(&self, targets: I) -> Result<RunReport, FlowError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let (setup, tx, rx) = self.setup(targets, None)?;
        let end = drive::<S, std::future::Ready<()>>(setup, tx, rx, None).await;
        finish(end.report, end.hook_error)
    }

    /// Resumes the run `report` tells of (DESIGN "Resume"): every task that succeeded there is
    /// not run again — it ends `succeeded` with no attempt, [`TaskReport::resumed`](crate::report::TaskReport::resumed)
    /// set, its result reused when the report holds it (a report of this process: the value
    /// itself; one read back with [`RunReport::from_json`]: a `serde_json::Value`), and hooks
    /// see `task_skip` with reason
    /// `resumed` — and every other task runs as usual.
    ///
    /// # Errors
    ///
    /// As [`Flow::run`]; [`GraphError::UnknownTask`] before anything runs when the report
    /// names a task this flow does not have (a report of another flow).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{BoxError, Flow, Status};
    /// use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let builds = Arc::new(AtomicU32::new(0));
    /// let fixed = Arc::new(AtomicBool::new(false));
    /// let mut flow = Flow::new();
    /// let b = builds.clone();
    /// flow.task("build", move |_| {
    ///     b.fetch_add(1, Ordering::SeqCst);
    ///     async { Ok::<_, BoxError>("dist/app.tar") }
    /// })?;
    /// let f = fixed.clone();
    /// flow.task("deploy", move |cx| {
    ///     let ok = f.load(Ordering::SeqCst);
    ///     let artifact = cx.result::<&str>("build").copied();
    ///     async move { if ok { Ok(artifact.unwrap_or_default()) } else { Err("no credentials") } }
    /// })?.after(["build"]);
    /// let failed = flow.run().await.unwrap_err().report().unwrap().clone();
    /// fixed.store(true, Ordering::SeqCst);
    /// let report = flow.run_resumed(&failed).await?;
    /// assert_eq!(builds.load(Ordering::SeqCst), 1); // build ran once
    /// let build = report.get("build").unwrap();
    /// assert!(build.resumed && build.attempts == 0 && build.status == Status::Succeeded);
    /// assert_eq!(report.result::<&str>("deploy"), Some(&"dist/app.tar"));
    /// # Ok::<(), legato::FlowError>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_resumed(&self, report: &RunReport) -> Result<RunReport, FlowError> {
        let (setup, tx, rx) = self.setup(std::iter::empty::<&str>(), Some(report))?;
        let end = drive::<S, std::future::Ready<()>>(setup, tx, rx, None).await;
        finish(end.report, end.hook_error)
    }

    /// Starts a run of every task on the current tokio runtime and returns a handle to await
    /// or cancel it.
    ///
    /// # Errors
    ///
    /// [`FlowError::Graph`] if the graph is invalid (nothing starts).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    pub fn spawn(&self) -> Result<RunHandle, FlowError> {
        self.spawn_targets(std::iter::empty::<&str>())
    }

    /// Starts a run of these targets and their dependencies (all tasks when empty); see
    /// [`Flow::spawn`].
    ///
    /// # Errors
    ///
    /// [`FlowError::Graph`] if the graph is invalid or a target unknown (nothing starts).
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    pub fn spawn_targets<I, N>(&self, targets: I) -> Result<RunHandle, FlowError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.spawn_with(targets, None)
    }

    /// Starts a resumed run of these targets and their dependencies (all tasks when empty) on
    /// the current tokio runtime: [`Flow::run_resumed`] as [`Flow::spawn_targets`] does it.
    ///
    /// # Errors
    ///
    /// As [`Flow::run_resumed`].
    ///
    /// # Panics
    ///
    /// Panics if called outside a tokio runtime.
    pub fn spawn_resumed<I, N>(
        &self,
        targets: I,
        report: &RunReport,
    ) -> Result<RunHandle, FlowError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.spawn_with(targets, Some(report))
    }

    fn spawn_with<I, N>(
        &self,
        targets: I,
        resume: Option<&RunReport>,
    ) -> Result<RunHandle, FlowError>
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let (setup, tx, rx) = self.setup(targets, resume)?;
        let canceller = Canceller::new(tx.clone());
        let join = tokio::spawn(async move {
            let end = drive::<S, std::future::Ready<()>>(setup, tx, rx, None).await;
            (end.report, end.hook_error)
        });
        Ok(RunHandle { canceller, join })
    }

    #[allow(clippy::type_complexity)]
    fn setup<I, N>(
        &self,
        targets: I,
        resume: Option<&RunReport>,
    ) -> Result<
        (
            RunSetup<S>,
            tokio::sync::mpsc::UnboundedSender<crate::driver::Msg>,
            tokio::sync::mpsc::UnboundedReceiver<crate::driver::Msg>,
        ),
        FlowError,
    >
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.options.validate()?;
        let (graph, selection) = self.tasks.def.select(targets)?;
        let restore = match resume {
            Some(report) => restored(report, &graph)?,
            None => Vec::new(),
        };
        let (tx, rx) = channel();
        Ok((
            RunSetup {
                statics: Some(self.tasks.clone()),
                graph,
                selection,
                options: self.options.clone(),
                hooks: self.hooks.clone(),
                state: self.state.clone(),
                restore,
            },
            tx,
            rx,
        ))
    }
}

/// The tasks of `graph` that succeeded in `report` (its static tasks: calls are not resumed),
/// with their results when the report holds them.
///
/// # Errors
///
/// [`GraphError::UnknownTask`] for a task of the report that `graph` does not have.
fn restored(
    report: &RunReport,
    graph: &Graph,
) -> Result<Vec<(crate::graph::TaskId, Option<crate::driver::Value>)>, GraphError> {
    Ok(report
        .restorable(graph)?
        .into_iter()
        .map(|(id, i)| (id, report.values.get_shared(report.tasks[i].id.index())))
        .collect())
}

crate::driver::hooks::hook_methods!(Flow);

fn finish(report: RunReport, hook_error: Option<TaskError>) -> Result<RunReport, FlowError> {
    if report.ok() {
        Ok(report)
    } else {
        Err(FlowError::Failed {
            report: Box::new(report),
            hook_error,
        })
    }
}

/// A run started with [`Flow::spawn`]: await it for the report, or cancel it.
#[derive(Debug)]
pub struct RunHandle {
    canceller: Canceller,
    join: tokio::task::JoinHandle<(RunReport, Option<TaskError>)>,
}

impl RunHandle {
    /// Cancels the run: running tasks end `cancelled` (their futures are dropped), the rest
    /// are skipped, and `process_completion` still fires.
    pub fn cancel(&self) {
        self.canceller.cancel();
    }

    /// A cloneable handle that can cancel the run from elsewhere.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Waits for the run's end.
    ///
    /// # Errors
    ///
    /// [`FlowError::Failed`] as for [`Flow::run`].
    ///
    /// # Cancel safety
    ///
    /// Dropping this future does not stop the run; use [`RunHandle::cancel`].
    pub async fn wait(self) -> Result<RunReport, FlowError> {
        match self.join.await {
            Ok((report, hook_error)) => finish(report, hook_error),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// A task being configured; returned by [`Flow::task`] and [`Flow::get_mut`].
pub struct TaskMut<'a, S> {
    /// The flow's declaration, made writable once (not again for each setter).
    tasks: &'a mut StaticTasks<S>,
    i: usize,
}

impl<S> fmt::Debug for TaskMut<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskMut")
            .field("spec", &self.tasks.def.spec(self.i))
            .finish()
    }
}

impl<S> TaskMut<'_, S> {
    /// Applies an edit. An invalid option (a zero timeout, a backoff factor below 1) is
    /// reported when the flow is planned or run, as [`GraphError::InvalidOption`].
    fn edit(self, f: impl FnOnce(TaskSpec) -> TaskSpec) -> Self {
        // The edit is kept even when invalid; the graph refuses it with this same error.
        let _ = self.tasks.def.edit_options(self.i, f);
        self
    }

    /// Runs after these tasks (names, or a [`SyncPoint`] by reference).
    pub fn after<I, N>(self, deps: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.tasks.def.add_deps(self.i, deps);
        self
    }

    fn edit_options(self, f: impl FnOnce(TaskOptions) -> TaskOptions) -> Self {
        // Kept even when invalid, as `edit`'s changes are.
        let _ = self.tasks.def.edit_task_options(self.i, f);
        self
    }

    crate::driver::option_setters!();

    /// A human-readable description.
    pub fn description(self, text: impl Into<String>) -> Self {
        self.edit(|s| s.description(text))
    }

    /// Retries only errors for which `pred` returns `true`.
    pub fn retry_if<F>(self, pred: F) -> Self
    where
        F: Fn(&TaskError) -> bool + Send + Sync + 'static,
    {
        self.tasks.preds_mut(self.i).retry_if = Some(Arc::new(pred));
        self
    }

    /// Runs only when `pred` holds: it is called once when the task is ready (after
    /// `task_ready`), with the task's context (results so far, the state). False skips the
    /// task with reason `condition false` — a branch not taken, which leaves the run ok, and
    /// skips the dependents whose trigger rule needs it to succeed. It returns a `bool`, or a
    /// `Result<bool, E>` whose error (like a panic in it) fails the task.
    pub fn when<F, R>(self, pred: F) -> Self
    where
        F: Fn(&Cx<S>) -> R + Send + Sync + 'static,
        R: crate::driver::ConditionValue,
    {
        self.tasks.preds_mut(self.i).when =
            Some(Arc::new(move |cx: &Cx<S>| pred(cx).into_condition()));
        self.edit_options(|o| o.conditional(true))
    }
}

/// Tasks chained by [`Flow::follow`] or grouped by [`Flow::parallel`].
pub struct Chain<'a, S> {
    flow: &'a mut Flow<S>,
    /// For `follow`: only the first depends on `after`; for `parallel`: all members do.
    first: Option<usize>,
    members: Vec<usize>,
}

impl<S> fmt::Debug for Chain<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("members", &self.members)
            .finish()
    }
}

impl<S: Send + Sync + 'static> Chain<'_, S> {
    /// Puts the chain (its first task) or the group (all its tasks) after these tasks.
    pub fn after<I, N>(self, deps: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let deps: Vec<String> = deps.into_iter().map(|d| d.as_ref().to_owned()).collect();
        let targets: Vec<usize> = match self.first {
            Some(f) => vec![f],
            None => self.members.clone(),
        };
        self.flow.def_mut().after(&targets, &deps);
        self
    }

    /// The point that is reached when every task of the chain or group has succeeded.
    pub fn point(&self) -> SyncPoint {
        SyncPoint {
            names: self
                .members
                .iter()
                .map(|&i| self.flow.tasks.def.name(i).to_owned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_setters_change_only_the_options() {
        let ms = Duration::from_millis;
        let mut flow = Flow::new();
        flow.task("a", |_| async { Ok::<_, BoxError>(()) })
            .unwrap()
            .description("the first")
            .retries(2)
            .timeout(ms(5));
        let spec = flow.def().spec(0);
        assert_eq!(spec.get_description(), Some("the first"));
        assert_eq!(
            (spec.get_options().retries, spec.get_options().timeout),
            (2, Some(ms(5)))
        );
        // An invalid option is kept, and refused by the graph, until it is mended.
        flow.get_mut("a").unwrap().timeout(Duration::ZERO);
        let e = flow.graph().unwrap_err();
        assert!(
            matches!(e, GraphError::InvalidOption { ref task, .. } if task == "a"),
            "{e}"
        );
        flow.get_mut("a").unwrap().timeout(ms(7)).retries(0);
        let spec = flow.def().spec(0);
        assert_eq!(
            (spec.get_options().retries, spec.get_options().timeout),
            (0, Some(ms(7)))
        );
        assert_eq!(spec.get_description(), Some("the first"));
        assert!(flow.graph().is_ok());
    }

    /// Tasks declared with capture-free closures get their body from the flow's cache of the
    /// last closure type: the same closure shares one body, another closure has its own.
    #[test]
    fn capture_free_closures_share_a_body_by_type_only() {
        let one = |_: Cx| async { Ok::<u32, BoxError>(1) };
        let two = |_: Cx| async { Ok::<u32, BoxError>(2) };
        let mut flow = Flow::new();
        flow.task("a", one).unwrap();
        flow.task("b", one).unwrap();
        flow.task("c", two).unwrap();
        flow.task("d", one).unwrap();
        let body = |i: usize| flow.tasks.body(i).clone();
        assert!(Arc::ptr_eq(&body(0), &body(1)));
        assert!(Arc::ptr_eq(&body(0), &body(3)));
        assert!(!Arc::ptr_eq(&body(0), &body(2)));
        let report = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(flow.run())
            .unwrap();
        let results: Vec<u32> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| *report.result::<u32>(n).unwrap())
            .collect();
        assert_eq!(results, [1, 1, 2, 1]);
    }
}

#[cfg(test)]
mod spare_tests {
    use super::*;
    use crate::event::Status;

    /// What a report says of each task, without its times.
    fn outline(r: &RunReport) -> Vec<(String, Status, u32)> {
        r.tasks
            .iter()
            .map(|t| (t.name.to_string(), t.status, t.attempts))
            .collect()
    }

    /// The report of a run, also of one that failed.
    fn report_of(r: Result<RunReport, FlowError>) -> RunReport {
        r.unwrap_or_else(|e| e.report().expect("a run that ended").clone())
    }

    fn flow_of(n: usize) -> Flow {
        let mut flow = Flow::new();
        for i in 0..n {
            let task = flow
                .task(format!("t{i}"), move |cx: Cx| async move {
                    if i % 7 == 3 && cx.attempt() == 1 {
                        return Err::<usize, BoxError>("flaky".into());
                    }
                    if i == 40 {
                        return Err("broken".into());
                    }
                    Ok(i)
                })
                .unwrap();
            if i > 0 {
                task.after([format!("t{}", i / 2)]).retries(1);
            }
        }
        flow
    }

    /// A run made in the memory an earlier run left (of this flow, of a larger one, or of a
    /// part of it) ends as one made afresh: the same statuses, attempts and results.
    #[tokio::test]
    async fn runs_in_the_memory_of_earlier_runs_end_as_fresh_ones() {
        let flow = flow_of(100);
        let first = report_of(flow.run().await);
        assert_eq!(first.get("t40").unwrap().status, Status::Failed);
        assert_eq!(first.get("t81").unwrap().status, Status::Skipped);
        assert_eq!(first.get("t10").unwrap().attempts, 2);
        for _ in 0..3 {
            let again = report_of(flow.run().await);
            assert_eq!(outline(&again), outline(&first));
            assert_eq!(again.result::<usize>("t99"), Some(&99));
        }
        // A run of some targets only, in the same memory.
        let some = report_of(flow.run_targets(["t9"]).await);
        let names: Vec<&str> = some.tasks.iter().map(|t| &*t.name).collect();
        assert_eq!(names, ["t0", "t1", "t2", "t4", "t9"]);
        // Another flow, a larger one, then this one again.
        let other = outline(&report_of(flow_of(100).run().await));
        assert_eq!(other, outline(&first));
        report_of(flow_of(3000).run().await);
        assert_eq!(outline(&report_of(flow.run().await)), outline(&first));
    }

    /// A run dropped midway, and runs of one flow at once, leave the next runs whole.
    #[tokio::test]
    async fn a_dropped_run_and_runs_at_once_leave_the_next_runs_whole() {
        let mut flow = Flow::new();
        flow.task("wait", |_| async {
            std::future::pending::<()>().await;
            Ok::<_, BoxError>(())
        })
        .unwrap();
        flow.task("quick", |_| async { Ok::<_, BoxError>(()) })
            .unwrap();
        {
            let run = flow.run();
            let mut run = std::pin::pin!(run);
            use futures_util::FutureExt;
            assert!(run.as_mut().now_or_never().is_none(), "\"wait\" never ends");
        }
        let quick = flow_of(60);
        let (a, b) = tokio::join!(quick.run(), quick.run());
        let want = outline(&report_of(flow_of(60).run().await));
        assert_eq!(outline(&report_of(a)), want);
        assert_eq!(outline(&report_of(b)), want);
        assert_eq!(outline(&report_of(quick.run().await)), want);
    }
}
