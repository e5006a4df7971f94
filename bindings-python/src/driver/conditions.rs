//! A step's condition (`when=`, DESIGN "Beyond the seeds"). The core asks for it once the step
//! is ready, after its `task_ready` hooks ([`Command::Evaluate`]); the step holds no slot
//! meanwhile. The predicate is user code, so it is called from Python, never under this
//! driver's Rust frames (see [`Shared::emit`]): on an asyncio run the loop calls
//! `_runtime.evaluate` next; a blocking run's driving loop (`_runtime.drive`) takes the call
//! from [`Run::_drive_next`]. Its truth, or the exception it raised, comes back through
//! [`Run::_evaluated`] and goes to the core, which skips the step (`condition false`), queues it,
//! or fails it with that exception (the step's own error, as a body's would be).

use super::*;

impl Shared {
    /// `Evaluate`: hands the call of task `task`'s `when` predicate, with the step's context,
    /// to Python.
    pub(super) fn evaluate(self: &Arc<Self>, py: Python<'_>, task: u32, jobs: &mut Vec<Job>) {
        let prep = {
            let st = lock_py(py, self);
            let when = st
                .body(task)
                .and_then(|b| b.when.as_ref().map(|w| w.clone_ref(py)));
            // Attempt 0: the step has not started.
            let flag = Arc::new(AtomicBool::new(false));
            when.map(|w| (w, self.context_obj(py, &st, task, 0, &flag)))
        };
        let Some((when, ctx)) = prep else {
            // No predicate to call (the core asks only for steps that have one): it holds.
            self.give_condition(py, task, Ok(true), jobs);
            return;
        };
        let r = (|| -> PyResult<()> {
            let ctx = ctx?.into_any();
            let task_obj = task.into_pyobject(py)?.into_any().unbind();
            let Some(lp) = &self.lp else {
                let item = PyTuple::new(py, [task_obj, when, ctx])?;
                lock_py(py, self).evals.push_back(item.unbind());
                return Ok(());
            };
            let h = helpers(py)?;
            let run = Py::new(
                py,
                Run {
                    shared: self.clone(),
                },
            )?
            .into_any();
            let args = PyTuple::new(py, [h.evaluate.clone_ref(py), run, task_obj, when, ctx])?;
            lp.call_method1(py, intern!(py, "call_soon"), args)?;
            Ok(())
        })();
        if let Err(e) = r {
            // It cannot be called (the loop is closed): the step fails with that error.
            let e = error_of(py, e.into_value(py).into_any());
            self.give_condition(py, task, Err(e), jobs);
        }
    }

    /// What a step's `when` predicate gave (`_runtime.evaluate`): its truth `value`, or
    /// `failed`, the exception it raised — the step's error (its own object, class and
    /// traceback kept). A KeyboardInterrupt or SystemExit is not a failure: it stops the run
    /// and propagates from `run()`, as from a body (rule 13).
    pub(super) fn evaluated(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        value: bool,
        failed: Option<Bound<'_, PyAny>>,
    ) {
        let mut jobs = Vec::new();
        match failed {
            Some(e)
                if e.is_instance_of::<PyKeyboardInterrupt>()
                    || e.is_instance_of::<PySystemExit>() =>
            {
                self.interrupt(py, PyErr::from_value(e), &mut jobs);
            }
            Some(e) => {
                let e = error_of(py, e.unbind());
                self.give_condition(py, task, Err(e), &mut jobs);
            }
            None => self.give_condition(py, task, Ok(value), &mut jobs),
        }
        if self.lp.is_some() && self.on_loop_thread() {
            self.pump(py);
        }
        self.submit(jobs, false);
    }

    /// Gives the core task `task`'s condition (with this instant's batch when one is open, as
    /// an attempt's end) and routes what follows.
    fn give_condition(
        self: &Arc<Self>,
        py: Python<'_>,
        task: u32,
        condition: Result<bool, TaskError>,
        jobs: &mut Vec<Job>,
    ) {
        let now = self.now(py);
        let mut st = lock_py(py, self);
        let Some(id) = st.id(task) else { return };
        match &mut st.batch {
            Some(batch) => batch.push(Input::Evaluated(id, condition)),
            None => {
                // The id came from the core's own command.
                let _ = st.sched.evaluated(id, condition, now);
            }
        }
        self.route(py, &mut st, jobs);
    }
}

/// The core's error for an exception a body or a predicate raised: its text (its class name
/// when it has none), with the exception object itself as the source every caller, hook and
/// the report get back.
pub(super) fn error_of(py: Python<'_>, exc: Py<PyAny>) -> TaskError {
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
    TaskError::failed(msg).with_source(source)
}
