//! What a running task sees of itself: `TaskContext`, `legato.current()`.

use super::*;

/// What a running task sees of itself: `legato.current()`, or the `ctx` parameter of a step.
#[pyclass(module = "legato", frozen)]
pub struct TaskContext {
    pub(super) run: Arc<Shared>,
    pub(super) task: Option<u32>,
    pub(super) name: String,
    pub(super) attempt: u32,
    pub(super) flag: Arc<AtomicBool>,
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
        for id in (0..st.sched.task_count() as u32).filter_map(|t| st.id(t)) {
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
            st.name(task).to_owned()
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
