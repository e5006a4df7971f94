//! The exception tree, declared once here and re-exported by `legato`.
//!
//! `LegatoError` ⊃ `GraphError` ⊃ (`CycleError`, `MissingDependencyError`, `DuplicateTaskError`,
//! `UnknownTaskError`); `TaskFailedError`, `TaskTimeoutError`, `CancelledError`, `FlowError`.
//! They are plain exception classes of module `legato`, so instances pickle by reference to
//! their class; data they carry (`report`, `task`) lives in the instance `__dict__`, which
//! pickling keeps.

use legato::event::{ErrorKind, TaskError};
use legato::graph::GraphError as CoreGraphError;
use legato::host::CallOutcome;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRecursionError, PyTypeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    legato,
    LegatoError,
    PyException,
    "The root of every error legato raises."
);
create_exception!(
    legato,
    GraphError,
    LegatoError,
    "The flow's graph is not valid: a cycle, a missing dependency, a duplicate or unknown task."
);
create_exception!(
    legato,
    CycleError,
    GraphError,
    "The dependencies form a cycle: `Circular dependency detected: a → b → a`."
);
create_exception!(
    legato,
    MissingDependencyError,
    GraphError,
    "A task depends on a task that does not exist."
);
create_exception!(
    legato,
    DuplicateTaskError,
    GraphError,
    "Two tasks have the same name."
);
create_exception!(
    legato,
    UnknownTaskError,
    GraphError,
    "A run target (or a name looked up) does not exist."
);
create_exception!(legato, TaskFailedError, LegatoError, "A task failed (raised by `parallel(..., fail_fast=True)` when the cause is not the task's own exception).");
create_exception!(
    legato,
    TaskTimeoutError,
    LegatoError,
    "An attempt of a task ran longer than its timeout."
);
create_exception!(
    legato,
    CancelledError,
    LegatoError,
    "A task or a run was cancelled (fail-fast, a run timeout, an outside cancel)."
);
create_exception!(
    legato,
    FlowError,
    LegatoError,
    "A flow run did not succeed; `.report` holds the whole run report."
);

/// The Python exception for a graph error of the core, chosen by its stable `kind()`.
pub(crate) fn graph_error(e: &CoreGraphError) -> PyErr {
    if let CoreGraphError::InvalidOption { error, .. } = e {
        return crate::convert::option_error(error.clone());
    }
    let msg = e.to_string();
    match e.kind() {
        "cycle" => CycleError::new_err(msg),
        "missing_dependency" => MissingDependencyError::new_err(msg),
        "duplicate_task" => DuplicateTaskError::new_err(msg),
        "unknown_task" => UnknownTaskError::new_err(msg),
        "invalid_name" => PyValueError::new_err(msg),
        _ => GraphError::new_err(msg),
    }
}

/// What the caller of a task gets, as Python objects: its value, or the exception to raise.
/// The one conversion of a [`CallOutcome`] (every caller, hook payload and report goes
/// through it): the body's own exception when it failed; `TaskTimeoutError` when it timed
/// out; `CancelledError` when it was cancelled or skipped (naming why); `RecursionError` for a
/// call nested deeper than `max_depth`. `task` is set on the legato errors it makes.
pub(crate) fn call_outcome(
    py: Python<'_>,
    outcome: CallOutcome<&Py<PyAny>>,
    task: &str,
) -> Result<Py<PyAny>, Py<PyAny>> {
    match outcome {
        CallOutcome::Ok(v) => Ok(v.clone_ref(py)),
        CallOutcome::Failed(e) => Err(task_error(py, &e, task)),
        CallOutcome::TimedOut(e) => Err(task_error(py, &e, task)),
        CallOutcome::Cancelled(e) => Err(task_error(py, &e, task)),
        CallOutcome::Skipped { error, .. } => Err(task_error(py, &error, task)),
        CallOutcome::Depth(e) => Err(task_error(py, &e, task)),
    }
}

/// The Python exception of a core error: the host's own object when it carries one (a body's
/// or a hook's exception), else a legato exception chosen by the error's kind, with the
/// task's name as `.task` (none for `RecursionError`, a builtin).
pub(crate) fn task_error(py: Python<'_>, e: &TaskError, task: &str) -> Py<PyAny> {
    if let Some(obj) = e.source_ref::<Py<PyAny>>() {
        return obj.clone_ref(py);
    }
    let msg = e.message.to_string();
    let err = match e.kind {
        ErrorKind::TimedOut => TaskTimeoutError::new_err(msg),
        ErrorKind::Cancelled => CancelledError::new_err(msg),
        ErrorKind::Depth => return PyRecursionError::new_err(msg).into_value(py).into_any(),
        // Failed, Panicked (and kinds a later core adds).
        _ => TaskFailedError::new_err(msg),
    };
    let obj = err.into_value(py).into_any();
    if !task.is_empty() {
        let _ = obj.bind(py).setattr("task", task);
    }
    obj
}

/// A `TypeError` naming the argument.
pub(crate) fn type_error(arg: &str, what: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(format!("{arg}: {what}"))
}

/// A `ValueError` naming the argument.
pub(crate) fn value_error(arg: &str, what: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{arg}: {what}"))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LegatoError", py.get_type::<LegatoError>())?;
    m.add("GraphError", py.get_type::<GraphError>())?;
    m.add("CycleError", py.get_type::<CycleError>())?;
    m.add(
        "MissingDependencyError",
        py.get_type::<MissingDependencyError>(),
    )?;
    m.add("DuplicateTaskError", py.get_type::<DuplicateTaskError>())?;
    m.add("UnknownTaskError", py.get_type::<UnknownTaskError>())?;
    m.add("TaskFailedError", py.get_type::<TaskFailedError>())?;
    m.add("TaskTimeoutError", py.get_type::<TaskTimeoutError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("FlowError", py.get_type::<FlowError>())?;
    Ok(())
}
