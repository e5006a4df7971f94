//! Run reports: what happened to every task, run totals, and the critical path.
//!
//! A [`RunReport`] comes from [`Scheduler::report`](crate::scheduler::Scheduler::report) (drivers
//! add the wall-clock start). Besides the data it offers:
//!
//! - [`RunReport::summary`], [`RunReport::counts`] and [`RunReport::slowest`] for a CLI's last lines;
//! - [`RunReport::critical_path`]: the chain of dependencies that decided the run's length;
//! - [`RunReport::to_json`] / [`RunReport::to_json_value`] (and `serde::Serialize`), the one JSON
//!   shape every front door writes;
//! - [`RunReport::to_mermaid_gantt`]: a Mermaid `gantt` chart, one bar per attempt;
//! - [`RunReport::to_html`]: a self-contained HTML page with an SVG timeline.
//!
//! # Examples
//!
//! Driving a tiny run by hand (each attempt takes 10 ms of virtual time) and reading its report:
//!
//! ```
//! use legato::event::Status;
//! use legato::graph::{GraphBuilder, TaskSpec};
//! use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("install"))?;
//! b.add(TaskSpec::new("lint").after(["install"]))?;
//! b.add(TaskSpec::new("build").after(["install"]))?;
//! let graph = Arc::new(b.build()?);
//!
//! let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
//! s.start(Duration::ZERO);
//! let mut now = Duration::ZERO;
//! while let Some(action) = s.next_command() {
//!     if let Command::Start { task, attempt } = action {
//!         now += Duration::from_millis(10);
//!         let outcome = if graph.name(task) == "lint" { Outcome::fail("3 warnings") } else { Outcome::Ok(()) };
//!         s.attempt_finished(task, attempt, outcome, now).unwrap();
//!     }
//! }
//! let report = s.report();
//!
//! assert!(!report.ok());
//! assert_eq!(report.counts().get(Status::Failed), 1);
//! assert_eq!(report.summary().to_string(), "2 succeeded, 1 failed in 30ms");
//! let path: Vec<&str> = report.critical_path().into_iter().map(|id| graph.name(id)).collect();
//! assert_eq!(path, ["install", "build"]);
//! assert_eq!(report.to_json_value()["tasks"][1]["error"]["message"], "3 warnings");
//! assert!(report.to_mermaid_gantt().contains("lint :crit, t1a1, 10, 10ms"));
//! assert!(report.to_html("release").starts_with("<!DOCTYPE html>"));
//! # Ok::<(), legato::graph::GraphError>(())
//! ```

mod build;
mod gantt;
mod html;
mod json;
mod name;
mod parse;
mod resume;
mod time;

pub(crate) use name::RunShape;
pub use name::{TaskDeps, TaskName};
pub use time::rfc3339;

use crate::event::{fmt_duration, SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
pub use crate::scheduler::AttemptRecord;
pub use parse::ReportParseError;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What happened to one task.
#[derive(Debug, Clone)]
pub struct TaskReport {
    /// The task's id in its run.
    pub id: TaskId,
    /// Its name: a shared view of the run's names (it reads as a `&str`).
    pub name: TaskName,
    /// Its final (or current) status.
    pub status: Status,
    /// How many attempts started.
    pub attempts: u32,
    /// When its first attempt started.
    pub started: Option<Duration>,
    /// When it finished.
    pub finished: Option<Duration>,
    /// Its last error (boxed, as the skip reason: few tasks have one, and a run of a million
    /// tasks has a million reports).
    pub error: Option<Box<TaskError>>,
    /// Why it was skipped.
    pub skip_reason: Option<Box<SkipReason>>,
    /// It succeeded in the run this one resumed, and was not run again (`succeeded`, no
    /// attempt, its result reused).
    pub resumed: bool,
    /// Every attempt, when that says more than `attempts`, `started` and `finished` do (see
    /// [`TaskReport::attempt_log`]). A thin vector (8 bytes where a boxed slice takes 16):
    /// most tasks store none; the scheduler's own log moves in without a copy.
    log: Option<thin_vec::ThinVec<AttemptRecord>>,
    /// Its dependencies (static tasks): a shared view of the run's graph (it reads as a
    /// `&[TaskId]`).
    pub deps: TaskDeps,
    /// The task that spawned it (dynamic tasks).
    pub parent: Option<TaskId>,
    /// The task that held a sequence key this task waited for (the last such wait), if it
    /// waited: on the critical path, that wait counts as a dependency.
    pub waited_for: Option<TaskId>,
}

impl PartialEq for TaskReport {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.name == other.name
            && self.status == other.status
            && self.attempts == other.attempts
            && self.started == other.started
            && self.finished == other.finished
            && self.error == other.error
            && self.skip_reason == other.skip_reason
            && self.resumed == other.resumed
            && self.deps == other.deps
            && self.parent == other.parent
            && self.waited_for == other.waited_for
            && self.attempt_log() == other.attempt_log()
    }
}

impl TaskReport {
    /// A task that has not started: `pending`, no attempts, no dependencies; set the public
    /// fields and [`set_attempt_log`](TaskReport::set_attempt_log) to describe more (a host
    /// rebuilding a report does).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::Status;
    /// use legato::graph::TaskId;
    /// use legato::report::{AttemptRecord, TaskReport};
    /// use std::time::Duration;
    ///
    /// let mut t = TaskReport::new(TaskId::from_report_index(0), "build");
    /// assert_eq!((t.status, t.attempts), (Status::Pending, 0));
    /// assert!(t.attempt_log().is_empty());
    /// t.status = Status::Succeeded;
    /// t.attempts = 1;
    /// t.started = Some(Duration::from_millis(2));
    /// t.finished = Some(Duration::from_millis(5));
    /// // One attempt without an error: its record is implied by the task's own fields.
    /// assert_eq!(
    ///     t.attempt_log()[..],
    ///     [AttemptRecord { start: Duration::from_millis(2), end: t.finished, error: None }]
    /// );
    /// ```
    pub fn new(id: TaskId, name: impl Into<TaskName>) -> Self {
        TaskReport {
            id,
            name: name.into(),
            status: Status::Pending,
            attempts: 0,
            started: None,
            finished: None,
            error: None,
            skip_reason: None,
            resumed: false,
            log: None,
            deps: TaskDeps::default(),
            parent: None,
            waited_for: None,
        }
    }

    /// Every attempt, in order.
    ///
    /// A million tasks make a million reports, so a task whose attempts say nothing more than
    /// its own fields — none, or one that did not end with an error — stores no log: its one
    /// record `{ start: started, end: finished, error: None }` is made when asked for
    /// (borrowed otherwise).
    pub fn attempt_log(&self) -> std::borrow::Cow<'_, [AttemptRecord]> {
        match &self.log {
            Some(log) => std::borrow::Cow::Borrowed(log),
            None => std::borrow::Cow::Owned(match self.started {
                Some(start) if self.attempts > 0 => vec![AttemptRecord {
                    start,
                    end: self.finished,
                    error: None,
                }],
                _ => Vec::new(),
            }),
        }
    }

    /// Sets the attempt log (stored as given, even when it could be implied).
    pub fn set_attempt_log(&mut self, log: Vec<AttemptRecord>) {
        self.log = Some(log.into());
    }

    /// The attempt log, to change it in place (made explicit first when it was implied).
    pub fn attempt_log_mut(&mut self) -> &mut [AttemptRecord] {
        let log = match self.log.take() {
            Some(log) => log,
            None => self.attempt_log().into_owned().into(),
        };
        self.log.insert(log).as_mut_slice()
    }

    /// From the first attempt's start to the end; zero if it never started.
    pub fn duration(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => Duration::ZERO,
        }
    }

    /// Whether an attempt of it started and it is finished (so it has a place on a timeline
    /// and may be on the critical path).
    fn ran(&self) -> bool {
        self.started.is_some() && self.finished.is_some()
    }
}

/// A task's result as the Rust door keeps it: any value, shared.
pub type AnyValue = Arc<dyn std::any::Any + Send + Sync>;

/// The results of a run's tasks, by task index (filled by the Rust door's driver; other doors
/// keep their host's values themselves). Not compared; in the JSON, those of a type JSON has.
///
/// Most tasks return `()`: those take one bit each, and the other values a slot each only
/// when there is at least one.
#[derive(Clone, Default)]
pub struct Values {
    /// Tasks whose value is `()`, one bit each.
    units: Vec<u64>,
    /// Every other value, by task index (empty when there is none).
    others: Vec<Option<AnyValue>>,
}

impl Values {
    /// Values set at these task indexes (a report read back from its JSON keeps each result as
    /// a `serde_json::Value`).
    pub(crate) fn from_pairs(pairs: Vec<(usize, AnyValue)>) -> Self {
        let n = pairs.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        let mut others = vec![None; n];
        for (i, v) in pairs {
            others[i] = Some(v);
        }
        Values {
            units: Vec::new(),
            others,
        }
    }

    /// The result of task `i` as JSON, when its type is one JSON has: `()` (null), `bool`,
    /// integers, `f64` / `f32`, `String` / `&str`, or a `serde_json::Value`.
    pub(crate) fn json(&self, i: usize) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        let v = self.get(i)?;
        macro_rules! try_as {
            ($($t:ty),*) => {$(
                if let Some(x) = v.downcast_ref::<$t>() {
                    return serde_json::to_value(x).ok();
                }
            )*};
        }
        if v.is::<()>() {
            return Some(J::Null);
        }
        try_as!(
            J,
            bool,
            String,
            &'static str,
            i64,
            u64,
            i32,
            u32,
            i16,
            u16,
            i8,
            u8,
            usize,
            isize,
            f64,
            f32
        );
        None
    }

    /// The values of tasks `0..n`, taken one by one (`Some(None)` is a `()`).
    #[cfg(feature = "tokio")]
    pub(crate) fn from_fn(
        n: usize,
        mut take: impl FnMut(usize) -> Option<Option<AnyValue>>,
    ) -> Self {
        let mut values = Values {
            units: vec![0; n.div_ceil(64)],
            others: Vec::new(),
        };
        for i in 0..n {
            match take(i) {
                Some(Some(v)) if !(*v).is::<()>() => {
                    if values.others.is_empty() {
                        values.others.resize(n, None);
                    }
                    values.others[i] = Some(v);
                }
                // A `()`, kept as `None` by the driver or as a shared `()`.
                Some(_) => values.units[i / 64] |= 1 << (i % 64),
                None => {}
            }
        }
        values
    }

    /// The value of task `i` as a shared handle, if it has one (a `()` result is made again).
    #[cfg(feature = "tokio")]
    pub(crate) fn get_shared(&self, i: usize) -> Option<AnyValue> {
        if self
            .units
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
        {
            return Some(Arc::new(()));
        }
        self.others.get(i)?.clone()
    }

    /// The value of task `i`, if it has one.
    fn get(&self, i: usize) -> Option<&(dyn std::any::Any + Send + Sync)> {
        if self
            .units
            .get(i / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
        {
            return Some(&());
        }
        self.others.get(i)?.as_deref()
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units: u32 = self.units.iter().map(|w| w.count_ones()).sum();
        let n = units as usize + self.others.iter().filter(|v| v.is_some()).count();
        write!(f, "Values({n} results)")
    }
}

impl PartialEq for Values {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The report of a run (the default: an empty run that succeeded).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunReport {
    /// Every task of the run, static ones in declaration order, then dynamic ones as spawned.
    pub tasks: Vec<TaskReport>,
    /// The run's length.
    pub total: Duration,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopReason>,
    /// The wall-clock time the run started (set by drivers).
    pub started_at: Option<SystemTime>,
    /// The tasks' results, when the driver kept them (see [`RunReport::result`]).
    pub values: Values,
}

impl RunReport {
    /// The result of the task of that name, if it succeeded, the driver kept results (the
    /// Rust door does), and it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{BoxError, Flow};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut flow = Flow::new();
    /// flow.task("build", |_| async { Ok::<_, BoxError>(String::from("dist/app.tar")) })?;
    /// let report = flow.run().await?;
    /// assert_eq!(report.result::<String>("build").unwrap(), "dist/app.tar");
    /// assert!(report.result::<u32>("build").is_none());
    /// # Ok::<(), legato::FlowError>(())
    /// # }).unwrap();
    /// ```
    pub fn result<T: std::any::Any>(&self, name: &str) -> Option<&T> {
        let t = self.get(name)?;
        self.values.get(t.id.index())?.downcast_ref::<T>()
    }

    /// Whether the run was not stopped and every task succeeded or was skipped by a condition
    /// or a trigger rule (a branch not taken, [`SkipReason::is_not_taken`]).
    pub fn ok(&self) -> bool {
        self.stop.is_none()
            && self.tasks.iter().all(|t| {
                t.status == Status::Succeeded
                    || (t.status == Status::Skipped
                        && t.skip_reason
                            .as_deref()
                            .is_some_and(SkipReason::is_not_taken))
            })
    }

    /// Every task's duration by name (the latest call's, for a repeated name): the known costs
    /// a next run orders ready tasks by under `critical_path`
    /// ([`RunOptions::costs`](crate::scheduler::RunOptions::costs)). Tasks that never started
    /// are left out.
    pub fn costs(&self) -> std::collections::HashMap<Arc<str>, Duration> {
        self.tasks
            .iter()
            .filter(|t| t.started.is_some())
            .map(|t| (Arc::from(t.name.as_str()), t.duration()))
            .collect()
    }

    /// Why the run did not succeed, worded once for every door: the reason the run stopped
    /// early (`run timed out after 100ms`, `hook for event "task_success" failed: …`), except
    /// on fail-fast, where — as for a run that went to its end — it names the task that failed
    /// first: `task "build" failed: <its message>` (or `timed out`). `None` for a run that
    /// succeeded. A door's run error reads `flow failed: <reason>` ([`RunReport::failure_message`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::StopReason;
    /// use legato::RunReport;
    ///
    /// let mut r = RunReport::default();
    /// assert_eq!(r.failure_reason(), None);
    /// r.stop = Some(StopReason::Cancelled);
    /// assert_eq!(r.failure_message().as_deref(), Some("flow failed: run cancelled"));
    /// ```
    pub fn failure_reason(&self) -> Option<String> {
        if self.ok() {
            return None;
        }
        if let Some(stop) = &self.stop {
            if !matches!(stop, StopReason::FailFast { .. }) {
                return Some(stop.to_string());
            }
        }
        let first = self
            .tasks
            .iter()
            .filter(|t| matches!(t.status, Status::Failed | Status::TimedOut))
            .min_by_key(|t| (t.finished, t.id));
        Some(match first {
            Some(t) => format!(
                "task \"{}\" {}: {}",
                t.name,
                t.status.as_str().replace('_', " "),
                t.error.as_ref().map_or("", |e| &e.message)
            ),
            None => "not every task succeeded".to_owned(),
        })
    }

    /// The message of a run error for this report: `flow failed: <reason>` (see
    /// [`RunReport::failure_reason`]); `None` for a run that succeeded.
    pub fn failure_message(&self) -> Option<String> {
        self.failure_reason().map(|r| format!("flow failed: {r}"))
    }

    /// The first task of that name.
    pub fn get(&self, name: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| &*t.name == name)
    }

    /// The task with that id, if it is part of the run.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("a"))?;
    /// b.add(TaskSpec::new("b"))?;
    /// let graph = Arc::new(b.build()?);
    /// // Only "b" is selected: "a" is not in the report.
    /// let s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.select(["b"])?, RunOptions::default()).expect("valid options");
    /// let report = s.report();
    /// assert!(report.task(graph.resolve("a")?).is_none());
    /// assert_eq!(&*report.task(graph.resolve("b")?).unwrap().name, "b");
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn task(&self, id: TaskId) -> Option<&TaskReport> {
        // Reports from the scheduler are sorted by id; hand-made ones may not be.
        match self.tasks.binary_search_by_key(&id, |t| t.id) {
            Ok(i) => Some(&self.tasks[i]),
            Err(_) => self.tasks.iter().find(|t| t.id == id),
        }
    }

    /// How many tasks ended with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.tasks.iter().filter(|t| t.status == status).count()
    }

    /// How many tasks have each status.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// use legato::event::Status;
    ///
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("a"))?;
    /// let graph = Arc::new(b.build()?);
    /// let s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// // Not started yet: one pending task.
    /// let counts = s.report().counts();
    /// assert_eq!(counts.get(Status::Pending), 1);
    /// assert_eq!(counts.total(), 1);
    /// assert_eq!(counts.to_string(), "1 pending");
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for t in &self.tasks {
            *c.slot(t.status) += 1;
        }
        c
    }

    /// The run in a few numbers: ok, counts, total time, attempts, why it stopped.
    /// Its `Display` is the line a CLI prints last.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("flaky").retries(1))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         let outcome = if attempt == 1 { Outcome::fail("flake") } else { Outcome::Ok(()) };
    ///         s.attempt_finished(task, attempt, outcome, Duration::from_millis(1500)).unwrap();
    ///     }
    /// }
    /// let summary = s.report().summary();
    /// assert!(summary.ok);
    /// assert_eq!(summary.attempts, 2);
    /// assert_eq!(summary.to_string(), "1 succeeded in 1.5s");
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn summary(&self) -> Summary {
        Summary {
            ok: self.ok(),
            counts: self.counts(),
            total: self.total,
            attempts: self.tasks.iter().map(|t| u64::from(t.attempts)).sum(),
            stop: self.stop.clone(),
        }
    }

    /// The `n` tasks that took longest (see [`TaskReport::duration`]), longest first; ties in
    /// id order. Tasks that never started are left out.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let mut b = GraphBuilder::new();
    /// for name in ["quick", "slow", "medium"] {
    ///     b.add(TaskSpec::new(name))?;
    /// }
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// let mut started = Vec::new();
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         started.push((task, attempt));
    ///     }
    /// }
    /// // All three run at once; they end after 1, 3 and 2 ms.
    /// for (i, (task, attempt)) in started.into_iter().enumerate() {
    ///     let ms = [1, 3, 2][i];
    ///     s.attempt_finished(task, attempt, Outcome::Ok(()), Duration::from_millis(ms)).unwrap();
    /// }
    /// # while s.next_command().is_some() {}
    /// let report = s.report();
    /// let names: Vec<&str> = report.slowest(2).iter().map(|t| &*t.name).collect();
    /// assert_eq!(names, ["slow", "medium"]);
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn slowest(&self, n: usize) -> Vec<&TaskReport> {
        let mut v: Vec<&TaskReport> = self.tasks.iter().filter(|t| t.started.is_some()).collect();
        v.sort_by(|a, b| b.duration().cmp(&a.duration()).then(a.id.cmp(&b.id)));
        v.truncate(n);
        v
    }

    /// The chain of dependencies that decided when the run ended: starting from the task that
    /// finished last, step to its dependency that finished last, and so on; returned first task
    /// first. Ties go to the lowest id. Only tasks that started and finished count, whatever
    /// their outcome, so after a failure the path leads to the failed task if it ended last.
    ///
    /// A task that waited for a sequence key held by another task follows that task too:
    /// the wait was as much in its way as a dependency. Only static dependencies and such
    /// waits are followed: a dynamic task has no dependencies (its parent is not a
    /// dependency of it), so when one finished last the path is that task alone. Empty when no
    /// task finished.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// // install ─▶ lint (5 ms)  ─┐
    /// //         └▶ build (20 ms) ┴▶ deploy
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("install"))?;
    /// b.add(TaskSpec::new("lint").after(["install"]))?;
    /// b.add(TaskSpec::new("build").after(["install"]))?;
    /// b.add(TaskSpec::new("deploy").after(["lint", "build"]))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// let mut clock = Duration::ZERO;
    /// let mut running = Vec::new();
    /// loop {
    ///     while let Some(action) = s.next_command() {
    ///         if let Command::Start { task, attempt } = action {
    ///             let ms = match graph.name(task) { "lint" => 5, "build" => 20, _ => 1 };
    ///             running.push((clock + Duration::from_millis(ms), task, attempt));
    ///         }
    ///     }
    ///     running.sort();
    ///     if running.is_empty() { break; }
    ///     let (end, task, attempt) = running.remove(0);
    ///     clock = end;
    ///     s.attempt_finished(task, attempt, Outcome::Ok(()), clock).unwrap();
    /// }
    /// let report = s.report();
    /// let path: Vec<&str> = report.critical_path().into_iter().map(|id| graph.name(id)).collect();
    /// assert_eq!(path, ["install", "build", "deploy"]);
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn critical_path(&self) -> Vec<TaskId> {
        fn latest<'a>(it: impl Iterator<Item = &'a TaskReport>) -> Option<&'a TaskReport> {
            it.filter(|t| t.ran()).reduce(|best, t| {
                if (t.finished, std::cmp::Reverse(t.id))
                    > (best.finished, std::cmp::Reverse(best.id))
                {
                    t
                } else {
                    best
                }
            })
        }
        let mut path = Vec::new();
        let mut cur = latest(self.tasks.iter());
        // The length bound guards against hand-made reports whose dependencies form a cycle.
        while let Some(t) = cur {
            if path.len() == self.tasks.len() {
                break;
            }
            path.push(t.id);
            let before = t.deps.iter().chain(t.waited_for.iter());
            cur = latest(before.filter_map(|&d| self.task(d)));
        }
        path.reverse();
        path
    }

    /// The critical path by name (see [`RunReport::critical_path`]).
    pub fn critical_path_names(&self) -> Vec<&str> {
        self.critical_path()
            .into_iter()
            .filter_map(|id| self.task(id).map(|t| &*t.name))
            .collect()
    }

    /// The span a timeline of the run must cover: the run's length, or the latest time
    /// recorded in it if that is later (a report taken mid-run).
    fn span(&self) -> Duration {
        let mut span = self.total;
        for t in &self.tasks {
            span = span.max(t.finished.unwrap_or_default());
            for a in t.attempt_log().iter() {
                span = span.max(a.end.unwrap_or(a.start));
            }
        }
        span
    }

    /// When a skipped task was skipped, as far as the report tells: when the dependency that
    /// failed (or the task that stopped the run under fail-fast) finished; otherwise the end
    /// of the run.
    fn skipped_at(&self, t: &TaskReport) -> Duration {
        let cause = match t.skip_reason.as_deref() {
            Some(SkipReason::DependencyFailed { dependency }) => Some(dependency),
            Some(SkipReason::Stopped(StopReason::FailFast { task })) => Some(task),
            _ => None,
        };
        cause
            .and_then(|name| self.get(name))
            .and_then(|c| c.finished)
            .unwrap_or(self.total)
    }
}

/// How many tasks have each status (see [`RunReport::counts`]). Serializes as an object with one
/// key per status (`"succeeded"`, `"timed_out"`, …), zeros included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Tasks waiting for dependencies.
    pub pending: usize,
    /// Tasks waiting for a slot, a sequence key or a retry delay.
    pub ready: usize,
    /// Tasks running.
    pub running: usize,
    /// Tasks that succeeded.
    pub succeeded: usize,
    /// Tasks that failed.
    pub failed: usize,
    /// Tasks whose last attempt timed out.
    pub timed_out: usize,
    /// Tasks that did not run.
    pub skipped: usize,
    /// Tasks cancelled while running.
    pub cancelled: usize,
}

impl Counts {
    fn slot(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Pending => &mut self.pending,
            Status::Ready => &mut self.ready,
            Status::Running => &mut self.running,
            Status::Succeeded => &mut self.succeeded,
            Status::Failed => &mut self.failed,
            Status::TimedOut => &mut self.timed_out,
            Status::Skipped => &mut self.skipped,
            Status::Cancelled => &mut self.cancelled,
        }
    }

    /// How many tasks have `status`.
    pub fn get(&self, status: Status) -> usize {
        let mut c = *self;
        *c.slot(status)
    }

    /// Every status with its count, zeros included, in lifecycle order (pending … cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::Status;
    /// use legato::report::Counts;
    ///
    /// let c = Counts::default();
    /// assert_eq!(c.iter().count(), 8);
    /// assert_eq!(c.iter().nth(3), Some((Status::Succeeded, 0)));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (Status, usize)> + '_ {
        Status::ALL.into_iter().map(|s| (s, self.get(s)))
    }

    /// How many tasks in all.
    pub fn total(&self) -> usize {
        self.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for Counts {
    /// The non-zero counts in lifecycle order, `"3 succeeded, 1 failed, 2 skipped"`; `"no tasks"`
    /// when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (status, n) in self.iter().filter(|&(_, n)| n > 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{n} {status}")?;
        }
        if first {
            f.write_str("no tasks")?;
        }
        Ok(())
    }
}

/// A run in a few numbers (see [`RunReport::summary`]).
///
/// Its `Display` is one line: the counts and the total time, then why the run stopped if it
/// did — `"2 succeeded, 1 failed, 3 skipped in 1.25s"`,
/// `"1 succeeded, 1 cancelled, 2 skipped in 850ms (fail-fast: task \"db\" failed)"`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Whether every task succeeded and the run was not stopped.
    pub ok: bool,
    /// How many tasks have each status.
    pub counts: Counts,
    /// The run's length.
    pub total: Duration,
    /// How many attempts started, retries included.
    pub attempts: u64,
    /// Why the run stopped early, if it did.
    pub stop: Option<StopReason>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.counts, fmt_duration(self.total))?;
        if let Some(stop) = &self.stop {
            write!(f, " ({stop})")?;
        }
        Ok(())
    }
}

/// A duration in milliseconds, with sub-millisecond precision.
fn ms(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::ErrorKind;

    /// A hand-made report: tasks get ids in order; times in ms.
    pub(crate) struct Build(pub(crate) RunReport);

    pub(crate) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub(crate) fn err(kind: ErrorKind, message: &str) -> TaskError {
        TaskError::new(kind, message)
    }

    impl Build {
        pub(crate) fn new(total: u64) -> Self {
            Build(RunReport {
                tasks: Vec::new(),
                total: ms(total),
                stop: None,
                started_at: None,
                values: Values::default(),
            })
        }

        /// A task with attempts `(start, end, error)`; its status is the last attempt's.
        pub(crate) fn ran(
            mut self,
            name: &str,
            deps: &[u32],
            attempts: &[(u64, u64, Option<TaskError>)],
        ) -> Self {
            let log: Vec<AttemptRecord> = attempts
                .iter()
                .map(|(s, e, error)| AttemptRecord {
                    start: ms(*s),
                    end: Some(ms(*e)),
                    error: error.clone(),
                })
                .collect();
            let last = log.last().expect("at least one attempt");
            self.0.tasks.push(TaskReport {
                id: TaskId(self.0.tasks.len() as u32),
                name: name.into(),
                status: last.status(),
                attempts: log.len() as u32,
                started: Some(log[0].start),
                finished: last.end,
                error: last.error.clone().map(Box::new),
                skip_reason: None,
                resumed: false,
                deps: deps.iter().map(|&d| TaskId(d)).collect(),
                log: Some(log.into()),
                parent: None,
                waited_for: None,
            });
            self
        }

        pub(crate) fn skipped(mut self, name: &str, deps: &[u32], because: &str) -> Self {
            self.0.tasks.push(TaskReport {
                id: TaskId(self.0.tasks.len() as u32),
                name: name.into(),
                status: Status::Skipped,
                attempts: 0,
                started: None,
                finished: None,
                error: None,
                skip_reason: Some(Box::new(SkipReason::DependencyFailed {
                    dependency: because.into(),
                })),
                resumed: false,
                deps: deps.iter().map(|&d| TaskId(d)).collect(),
                log: None,
                parent: None,
                waited_for: None,
            });
            self
        }
    }

    /// install(0–10) → lint(10–15), build(10–30: fails at 18, retried 20–30), deploy(30–32);
    /// docs depends on lint and fails (15–40, timed out); publish skipped after docs.
    pub(crate) fn sample() -> RunReport {
        Build::new(40)
            .ran("install", &[], &[(0, 10, None)])
            .ran("lint", &[0], &[(10, 15, None)])
            .ran(
                "build",
                &[0],
                &[
                    (10, 18, Some(err(ErrorKind::Failed, "oops"))),
                    (20, 30, None),
                ],
            )
            .ran("deploy", &[1, 2], &[(30, 32, None)])
            .ran(
                "docs",
                &[1],
                &[(
                    15,
                    40,
                    Some(err(ErrorKind::TimedOut, "timed out after 25ms")),
                )],
            )
            .skipped("publish", &[4], "docs")
            .0
    }

    fn names(r: &RunReport, ids: Vec<TaskId>) -> Vec<&str> {
        ids.into_iter()
            .map(|id| &*r.task(id).unwrap().name)
            .collect()
    }

    #[test]
    fn critical_path_follows_the_latest_dependency() {
        let r = sample();
        // docs finished last (40), then its only dependency lint, then install.
        assert_eq!(names(&r, r.critical_path()), ["install", "lint", "docs"]);
        assert_eq!(r.critical_path_names(), ["install", "lint", "docs"]);
    }

    #[test]
    fn critical_path_ties_go_to_the_lowest_id() {
        let r = Build::new(10)
            .ran("a", &[], &[(0, 5, None)])
            .ran("b", &[], &[(0, 5, None)])
            .ran("c", &[1, 0], &[(5, 10, None)])
            .ran("d", &[1, 0], &[(5, 10, None)])
            .0;
        assert_eq!(names(&r, r.critical_path()), ["a", "c"]);
    }

    #[test]
    fn critical_path_of_nothing_and_of_a_cycle() {
        assert!(Build::new(0).0.critical_path().is_empty());
        let mut r = Build::new(10)
            .ran("a", &[1], &[(0, 5, None)])
            .ran("b", &[0], &[(5, 10, None)])
            .0;
        assert_eq!(r.critical_path().len(), 2);
        // Skipped and unstarted tasks never count.
        r.tasks[1].started = None;
        assert_eq!(names(&r, r.critical_path()), ["a"]);
    }

    #[test]
    fn counts_summary_and_slowest() {
        let r = sample();
        let c = r.counts();
        assert_eq!(
            (c.succeeded, c.timed_out, c.skipped, c.failed, c.total()),
            (4, 1, 1, 0, 6)
        );
        assert_eq!(c.to_string(), "4 succeeded, 1 timed_out, 1 skipped");
        let mut s = r.summary();
        assert!(!s.ok);
        assert_eq!(s.attempts, 6);
        assert_eq!(s.to_string(), "4 succeeded, 1 timed_out, 1 skipped in 40ms");
        s.stop = Some(StopReason::Cancelled);
        assert_eq!(
            s.to_string(),
            "4 succeeded, 1 timed_out, 1 skipped in 40ms (run cancelled)"
        );
        let slow: Vec<&str> = r.slowest(3).iter().map(|t| &*t.name).collect();
        assert_eq!(slow, ["docs", "build", "install"]);
        assert_eq!(r.slowest(100).len(), 5);
        assert!(r.slowest(0).is_empty());
        assert_eq!(Counts::default().to_string(), "no tasks");
    }

    #[test]
    fn task_lookup_works_unsorted() {
        let mut r = sample();
        r.tasks.reverse();
        for i in 0..6 {
            assert_eq!(r.task(TaskId(i)).unwrap().id, TaskId(i));
        }
        assert!(r.task(TaskId(6)).is_none());
    }

    #[test]
    fn attempt_status() {
        let r = sample();
        let b = r.get("build").unwrap();
        let st: Vec<Status> = b.attempt_log().iter().map(AttemptRecord::status).collect();
        assert_eq!(st, [Status::Failed, Status::Succeeded]);
        assert_eq!(b.attempt_log()[0].duration(), ms(8));
        assert_eq!(r.skipped_at(r.get("publish").unwrap()), ms(40));
    }
}
