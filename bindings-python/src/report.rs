//! `RunReport` and `TaskReport`: the core's report with the host's own values and errors.
//!
//! Task entries are made on access (a run of 10,000 tasks builds no 10,000 Python objects
//! unless asked). Reports pickle (a `FlowError` carries one): the core report is flattened into
//! plain Python values and rebuilt.

use crate::convert::epoch;
use legato::event::{ErrorKind, SkipReason, Status, StopReason, TaskError};
use legato::graph::TaskId;
use legato::report::{AttemptRecord, RunReport as CoreReport, TaskReport as CoreTask};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn utc(py: Python<'_>, ts: f64) -> PyResult<Py<PyAny>> {
    let f = UTC.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("legato._runtime")?.getattr("utc")?.unbind())
    })?;
    f.call1(py, (ts,))
}

struct Inner {
    core: CoreReport,
    values: Vec<Option<Py<PyAny>>>,
    errors: Vec<Option<Py<PyAny>>>,
    /// By name (the report's own shared names: no string copied).
    index: HashMap<legato::report::TaskName, usize>,
    title: String,
}

/// The report of a run: per task status, attempts, times, result and error; totals; drawings.
#[pyclass(module = "legato", frozen)]
pub struct RunReport {
    inner: Arc<Inner>,
}

impl RunReport {
    pub(crate) fn new(
        core: CoreReport,
        values: Vec<Option<Py<PyAny>>>,
        errors: Vec<Option<Py<PyAny>>>,
        title: String,
    ) -> Self {
        let mut index = HashMap::with_capacity(core.tasks.len());
        for (i, t) in core.tasks.iter().enumerate() {
            // A repeated name (an action called several times) maps to its latest call, as Node's
            // `report.tasks`; `all_tasks` keeps every call.
            index.insert(t.name.clone(), i);
        }
        RunReport {
            inner: Arc::new(Inner {
                core,
                values,
                errors,
                index,
                title,
            }),
        }
    }
}

impl RunReport {
    /// The core's report.
    pub(crate) fn core(&self) -> &CoreReport {
        &self.inner.core
    }

    /// The result of the task at position `i` of [`RunReport::core`]'s tasks, if it has one
    /// (a resumed run hands it on).
    pub(crate) fn value(&self, i: usize) -> Option<&Py<PyAny>> {
        self.inner.values.get(i)?.as_ref()
    }

    /// Each task's result as JSON, by position: what `json.dumps` makes of it (NaN and
    /// infinities refused), `None` for a result JSON cannot hold or a task without one.
    fn results_json(&self, py: Python<'_>) -> PyResult<Vec<Option<serde_json::Value>>> {
        let dumps = py.import("json")?.getattr("dumps")?;
        let kw = PyDict::new(py);
        kw.set_item("allow_nan", false)?;
        self.inner
            .values
            .iter()
            .map(|v| {
                let Some(v) = v.as_ref().map(|v| v.bind(py)) else {
                    return Ok(None);
                };
                if v.is_none() {
                    return Ok(None);
                }
                match dumps
                    .call((v,), Some(&kw))
                    .and_then(|t| t.extract::<String>())
                {
                    Ok(text) => Ok(serde_json::from_str(&text).ok()),
                    // Not JSON-serializable (TypeError, ValueError, RecursionError): null.
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyException>(py) => Ok(None),
                    // KeyboardInterrupt, SystemExit: not the value's doing.
                    Err(e) => Err(e),
                }
            })
            .collect()
    }

    /// About how many bytes the report's JSON, Gantt chart or HTML takes: per task its name
    /// (a few times), error text, fields and markup.
    fn size_estimate(&self) -> usize {
        self.inner
            .core
            .tasks
            .iter()
            .map(|t| {
                let err = t.error.as_ref().map_or(0, |e| e.to_string().len());
                (t.name.len() + err)
                    .saturating_mul(3)
                    .saturating_add(768)
                    .saturating_add(t.deps.len().saturating_mul(16))
            })
            .fold(4096usize, usize::saturating_add)
    }
}

fn task_report(py: Python<'_>, inner: &Arc<Inner>, i: usize) -> PyResult<Py<TaskReport>> {
    Py::new(
        py,
        TaskReport {
            inner: inner.clone(),
            i,
        },
    )
}

#[pymethods]
impl RunReport {
    /// Whether the run was not stopped and every task succeeded or was skipped by a condition
    /// (`condition false`) or a trigger rule (a branch not taken).
    #[getter]
    fn ok(&self) -> bool {
        self.inner.core.ok()
    }

    /// The tasks by name (a read-only mapping of `TaskReport`), one entry per name. A name
    /// called several times (an action) maps to its latest call; `all_tasks` lists every call.
    #[getter]
    fn tasks(&self) -> TaskMap {
        TaskMap {
            inner: self.inner.clone(),
        }
    }

    /// Every task of the run, one entry per call (a repeated name has an entry per call): a
    /// flow's steps in declaration order, then the calls (actions, tasks added while running)
    /// in the order they were made.
    #[getter]
    fn all_tasks(&self, py: Python<'_>) -> PyResult<Vec<Py<TaskReport>>> {
        (0..self.inner.core.tasks.len())
            .map(|i| task_report(py, &self.inner, i))
            .collect()
    }

    /// The run's length in seconds.
    #[getter]
    fn total_duration(&self) -> f64 {
        self.inner.core.total.as_secs_f64()
    }

    /// When the run started (UTC).
    #[getter]
    fn started_at(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.inner
            .core
            .started_at
            .map(|t| utc(py, epoch(t)))
            .transpose()
    }

    /// Why the run stopped early (`fail-fast: task "b" failed`, `run cancelled`, …), if it did.
    #[getter]
    fn stop(&self) -> Option<String> {
        self.inner.core.stop.as_ref().map(|s| s.to_string())
    }

    /// Why the run did not succeed, worded as in every door (`task "build" failed: <message>`,
    /// `run timed out after 100ms`, …); `None` for a run that succeeded.
    #[getter]
    fn failure_reason(&self) -> Option<String> {
        self.inner.core.failure_reason()
    }

    /// Number of tasks per final status.
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (s, n) in self.inner.core.counts().iter() {
            d.set_item(s.as_str(), n)?;
        }
        Ok(d)
    }

    /// The names on the critical path: the chain of tasks that decided the run's length.
    #[getter]
    fn critical_path(&self) -> Vec<String> {
        self.inner
            .core
            .critical_path_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The report as JSON (times in milliseconds from the run's start), with each task's
    /// result that JSON can hold (what `json.dumps` makes of it; `null` for any other).
    /// `RunReport.from_json` reads it back. Out of memory is `MemoryError` (see
    /// [`crate::mem`]).
    fn to_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        let results = self.results_json(py)?;
        let extra: usize = results
            .iter()
            .flatten()
            .map(|v| v.to_string().len())
            .fold(0, usize::saturating_add);
        let tasks = &self.inner.core.tasks;
        // A task's position in the report (they are sorted by id; hand-made ones may not be).
        let position = |t: &CoreTask| {
            tasks
                .binary_search_by_key(&t.id, |x| x.id)
                .ok()
                .filter(|&i| std::ptr::eq(&tasks[i], t))
                .or_else(|| tasks.iter().position(|x| std::ptr::eq(x, t)))
        };
        crate::mem::text(
            py,
            "to_json()",
            self.size_estimate().saturating_add(extra),
            || {
                self.inner
                    .core
                    .to_json_with_results(|t| results.get(position(t)?)?.clone())
            },
        )
    }

    /// A report read back from its JSON (`to_json`'s text, the CLI's `--report` file):
    /// statuses, attempts, times, errors and skip reasons as they were; each result is the
    /// JSON value (`json.loads`'s object) the text holds. `ValueError` for a text that is not a
    /// report's JSON, saying what is wrong.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<RunReport> {
        let text: String = match text.extract() {
            Ok(t) => t,
            Err(_) => {
                return Err(crate::errors::type_error(
                    "text",
                    format!("expected a str, got {}", crate::convert::type_name(text)),
                ))
            }
        };
        let core = crate::mem::guarded("from_json()", || {
            CoreReport::from_json(&text).map_err(|e| crate::errors::value_error("text", e))
        })?;
        // The results as Python's json reads them (big integers stay exact), by position.
        let doc = py.import("json")?.call_method1("loads", (&text,))?;
        let listed = doc.get_item("tasks")?;
        let mut values = Vec::with_capacity(core.tasks.len());
        let mut errors = Vec::with_capacity(core.tasks.len());
        for (i, t) in core.tasks.iter().enumerate() {
            // A step that succeeded has a result, `None` when the JSON holds null (it returned
            // None, or a value JSON cannot hold), as after a run in this process.
            values.push(if t.status == Status::Succeeded {
                let r = listed.get_item(i)?.call_method1("get", ("result",))?;
                Some(r.unbind())
            } else {
                None
            });
            errors.push(
                t.error
                    .as_deref()
                    .map(|e| crate::errors::task_error(py, e, &t.name)),
            );
        }
        Ok(RunReport::new(core, values, errors, String::new()))
    }

    /// A Mermaid Gantt chart of the run.
    fn to_mermaid<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        crate::mem::text(py, "to_mermaid()", self.size_estimate(), || {
            self.inner.core.to_mermaid_gantt()
        })
    }

    /// A self-contained HTML page with the run's timeline.
    #[pyo3(signature = (title = None))]
    fn to_html<'py>(&self, py: Python<'py>, title: Option<&str>) -> PyResult<Bound<'py, PyString>> {
        let title = title.unwrap_or(if self.inner.title.is_empty() {
            "legato run"
        } else {
            &self.inner.title
        });
        let estimate = self
            .size_estimate()
            .saturating_add(title.len() * 2 + 16_384);
        crate::mem::text(py, "to_html()", estimate, || self.inner.core.to_html(title))
    }

    fn __repr__(&self) -> String {
        let c = self.inner.core.counts();
        format!(
            "RunReport(ok={}, tasks={}, succeeded={}, total_duration={:.6})",
            if self.inner.core.ok() {
                "True"
            } else {
                "False"
            },
            self.inner.core.tasks.len(),
            c.succeeded,
            self.inner.core.total.as_secs_f64()
        )
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Py<PyAny>, Bound<'py, PyTuple>)> {
        let restore = py
            .import("legato._legato")?
            .getattr("_restore_report")?
            .unbind();
        let c = &self.inner.core;
        let tasks = PyList::empty(py);
        for (i, t) in c.tasks.iter().enumerate() {
            let log = PyList::empty(py);
            for a in t.attempt_log().iter() {
                log.append((
                    a.start.as_nanos() as u64,
                    a.end.map(|e| e.as_nanos() as u64),
                    a.error.as_ref().map(err_tuple),
                ))?;
            }
            tasks.append((
                t.id.as_u32(),
                &*t.name,
                t.status.as_str(),
                t.attempts,
                t.started.map(|d| d.as_nanos() as u64),
                t.finished.map(|d| d.as_nanos() as u64),
                t.error.as_deref().map(err_tuple),
                t.skip_reason.as_ref().map(|s| s.to_string()),
                log,
                t.deps.iter().map(|d| d.as_u32()).collect::<Vec<_>>(),
                t.parent.map(|p| p.as_u32()),
                (
                    self.inner.values[i].as_ref().map(|v| v.clone_ref(py)),
                    self.inner.errors[i].as_ref().map(|e| e.clone_ref(py)),
                    t.resumed,
                ),
            ))?;
        }
        let state = (
            tasks,
            c.total.as_nanos() as u64,
            c.stop.as_ref().map(|s| s.to_string()),
            c.started_at.map(epoch),
            self.inner.title.clone(),
        );
        Ok((
            restore,
            PyTuple::new(py, [state.into_pyobject(py)?.into_any()])?,
        ))
    }
}

fn err_tuple(e: &TaskError) -> (&'static str, String) {
    (e.kind.as_str(), e.message.to_string())
}

fn err_from(k: &str, m: String) -> TaskError {
    let kind = match k {
        "timed_out" => ErrorKind::TimedOut,
        "cancelled" => ErrorKind::Cancelled,
        "panicked" => ErrorKind::Panicked,
        "depth" => ErrorKind::Depth,
        _ => ErrorKind::Failed,
    };
    TaskError::new(kind, m)
}

fn status_from(s: &str) -> Status {
    match s {
        "succeeded" => Status::Succeeded,
        "failed" => Status::Failed,
        "timed_out" => Status::TimedOut,
        "skipped" => Status::Skipped,
        "cancelled" => Status::Cancelled,
        "running" => Status::Running,
        "ready" => Status::Ready,
        _ => Status::Pending,
    }
}

type TaskState = (
    u32,
    String,
    String,
    u32,
    Option<u64>,
    Option<u64>,
    Option<(String, String)>,
    Option<String>,
    Vec<(u64, Option<u64>, Option<(String, String)>)>,
    Vec<u32>,
    Option<u32>,
    (Option<Py<PyAny>>, Option<Py<PyAny>>, bool),
);

/// Rebuilds a pickled report.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub(crate) fn _restore_report(
    state: (Vec<TaskState>, u64, Option<String>, Option<f64>, String),
) -> RunReport {
    let (tasks, total, stop, started, title) = state;
    let mut values = Vec::new();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (id, name, status, attempts, s, f, err, skip, log, deps, parent, (v, e, resumed)) in tasks {
        values.push(v);
        errors.push(e);
        let mut task = CoreTask::new(TaskId::from_report_index(id), name);
        task.status = status_from(&status);
        task.attempts = attempts;
        task.started = s.map(Duration::from_nanos);
        task.finished = f.map(Duration::from_nanos);
        task.error = err.map(|(k, m)| Box::new(err_from(&k, m)));
        task.skip_reason = skip.map(|r| Box::new(skip_from(&r)));
        task.set_attempt_log(
            log.into_iter()
                .map(|(s, e, err)| AttemptRecord {
                    start: Duration::from_nanos(s),
                    end: e.map(Duration::from_nanos),
                    error: err.map(|(k, m)| err_from(&k, m)),
                })
                .collect(),
        );
        task.deps = deps.into_iter().map(TaskId::from_report_index).collect();
        task.parent = parent.map(TaskId::from_report_index);
        task.resumed = resumed;
        out.push(task);
    }
    let core = CoreReport {
        tasks: out,
        total: Duration::from_nanos(total),
        stop: stop.map(|m| StopReason::HookFailed {
            event: legato::event::EventKind::ProcessCompletion,
            message: m.into(),
        }),
        started_at: started.map(|t| UNIX_EPOCH + Duration::from_secs_f64(t)),
        values: Default::default(),
    };
    let mut r = RunReport::new(core, values, errors, title);
    // Texts survive as they were shown (a restored stop reason prints its original text).
    if let Some(inner) = Arc::get_mut(&mut r.inner) {
        inner.core.stop = inner.core.stop.take().map(|s| match s {
            StopReason::HookFailed { message, .. } => restored(message),
            other => other,
        });
    }
    r
}

fn skip_from(text: &str) -> SkipReason {
    // The core reads its own texts back (a branch not taken stays one, so a restored report
    // is as ok as it was); any other text is kept exactly as it was shown.
    match text.parse::<SkipReason>() {
        Ok(r) if r.to_string() == text => r,
        _ => SkipReason::Stopped(restored(text.into())),
    }
}

/// A stop reason whose text is `message` exactly.
fn restored(message: Arc<str>) -> StopReason {
    if &*message == "run cancelled" {
        return StopReason::Cancelled;
    }
    if &*message == "main failed" {
        return StopReason::MainFailed;
    }
    if let Some(rest) = message
        .strip_prefix("fail-fast: task \"")
        .and_then(|r| r.strip_suffix("\" failed"))
    {
        return StopReason::FailFast { task: rest.into() };
    }
    if let Some(rest) = message.strip_prefix("hook for event \"") {
        if let Some((ev, msg)) = rest.split_once("\" failed: ") {
            if let Some(k) = legato::event::EventKind::ALL
                .iter()
                .find(|k| k.as_str() == ev)
            {
                return StopReason::HookFailed {
                    event: *k,
                    message: msg.into(),
                };
            }
        }
    }
    StopReason::HookFailed {
        event: legato::event::EventKind::ProcessCompletion,
        message,
    }
}

/// The tasks of a report by name: a read-only mapping.
#[pyclass(module = "legato", frozen, mapping)]
pub struct TaskMap {
    inner: Arc<Inner>,
}

#[pymethods]
impl TaskMap {
    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<Py<TaskReport>> {
        match self.inner.index.get(name) {
            Some(&i) => task_report(py, &self.inner, i),
            None => Err(PyKeyError::new_err(name.to_owned())),
        }
    }

    fn __len__(&self) -> usize {
        self.inner.index.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.index.contains_key(name)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.keys())?
            .call_method0("__iter__")?
            .unbind())
    }

    /// The task names, in report order.
    fn keys(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.inner
            .core
            .tasks
            .iter()
            .filter(|t| seen.insert(t.name.clone()))
            .map(|t| t.name.to_string())
            .collect()
    }

    /// The task reports, in report order.
    fn values(&self, py: Python<'_>) -> PyResult<Vec<Py<TaskReport>>> {
        self.keys()
            .iter()
            .map(|k| self.__getitem__(py, k))
            .collect()
    }

    /// `(name, TaskReport)` pairs, in report order.
    fn items(&self, py: Python<'_>) -> PyResult<Vec<(String, Py<TaskReport>)>> {
        self.keys()
            .into_iter()
            .map(|k| {
                let v = self.__getitem__(py, &k)?;
                Ok((k, v))
            })
            .collect()
    }

    /// The report of `name`, or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.inner.index.get(name) {
            Some(&i) => Ok(task_report(py, &self.inner, i)?.into_any()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }
}

/// What happened to one task.
#[pyclass(module = "legato", frozen)]
pub struct TaskReport {
    inner: Arc<Inner>,
    i: usize,
}

impl TaskReport {
    fn t(&self) -> &CoreTask {
        &self.inner.core.tasks[self.i]
    }

    fn at(&self, py: Python<'_>, d: Option<Duration>) -> PyResult<Option<Py<PyAny>>> {
        match (self.inner.core.started_at, d) {
            (Some(s), Some(d)) => Ok(Some(utc(py, epoch(s) + d.as_secs_f64())?)),
            _ => Ok(None),
        }
    }
}

#[pymethods]
impl TaskReport {
    /// The task's name.
    #[getter]
    fn name(&self) -> &str {
        &self.t().name
    }

    /// Final status: `succeeded`, `failed`, `timed_out`, `skipped` or `cancelled`.
    #[getter]
    fn status(&self) -> &'static str {
        self.t().status.as_str()
    }

    /// Attempts started.
    #[getter]
    fn attempts(&self) -> u32 {
        self.t().attempts
    }

    /// Seconds from the first attempt's start to the end (0.0 if it never started).
    #[getter]
    fn duration(&self) -> f64 {
        self.t().duration().as_secs_f64()
    }

    /// The value it returned, if it succeeded.
    #[getter]
    fn result(&self, py: Python<'_>) -> Py<PyAny> {
        self.inner.values[self.i]
            .as_ref()
            .map(|v| v.clone_ref(py))
            .unwrap_or_else(|| py.None())
    }

    /// The exception object itself (the body's own; `TaskTimeoutError` / `CancelledError`
    /// for a timeout / cancellation), if it did not succeed.
    #[getter]
    fn error(&self, py: Python<'_>) -> Py<PyAny> {
        self.inner.errors[self.i]
            .as_ref()
            .map(|v| v.clone_ref(py))
            .unwrap_or_else(|| py.None())
    }

    /// Why it was skipped, if it was: `dependency "x" failed`, why the run stopped, or a
    /// branch not taken: `condition false` (its `when`), `trigger rule none_failed not met`.
    #[getter]
    fn skip_reason(&self) -> Option<String> {
        self.t().skip_reason.as_ref().map(|s| s.to_string())
    }

    /// Whether it succeeded in the run this one resumed (`flow.run(resume=report)`) and was
    /// not run again: it is `succeeded` with 0 attempts, its result the one reused.
    #[getter]
    fn resumed(&self) -> bool {
        self.t().resumed
    }

    /// When its first attempt started (UTC datetime).
    #[getter]
    fn started_at(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.at(py, self.t().started)
    }

    /// When it ended (UTC datetime).
    #[getter]
    fn finished_at(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.at(py, self.t().finished)
    }

    /// Seconds from the run's start to its first attempt's start.
    #[getter]
    fn start_offset(&self) -> Option<f64> {
        self.t().started.map(|d| d.as_secs_f64())
    }

    /// Seconds from the run's start to its end.
    #[getter]
    fn end_offset(&self) -> Option<f64> {
        self.t().finished.map(|d| d.as_secs_f64())
    }

    /// The name of the task that called it (actions called from a task).
    #[getter]
    fn parent(&self) -> Option<String> {
        self.t()
            .parent
            .and_then(|p| self.inner.core.task(p))
            .map(|t| t.name.to_string())
    }

    fn __repr__(&self) -> String {
        let t = self.t();
        format!(
            "TaskReport(name={:?}, status={:?}, attempts={}, duration={:.6})",
            &*t.name,
            t.status.as_str(),
            t.attempts,
            t.duration().as_secs_f64()
        )
    }
}
