//! Host objects from the kit's outcomes and payloads: the exception object of a finished
//! task (made once, through [`crate::errors::call_outcome`]), hook events from
//! [`legato::host::Payload`], the run report, the arguments of a body's call.

use super::*;

impl Shared {
    /// The outcome of a finished task as its callers get it (through the one conversion,
    /// [`crate::errors::call_outcome`]); an exception object is made once per task.
    pub(super) fn outcome(&self, py: Python<'_>, st: &mut State, t: u32) -> Delivery {
        let id = match st.id_or_err(t) {
            Ok(id) => id,
            Err(e) => return Delivery::Err(e.into_value(py).into_any()),
        };
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
    pub(super) fn error_object(&self, py: Python<'_>, st: &mut State, t: u32) -> Py<PyAny> {
        match self.outcome(py, st, t) {
            Delivery::Err(e) => e,
            Delivery::Ok(_) => py.None(),
        }
    }

    pub(super) fn utc(&self, py: Python<'_>, at: Duration) -> PyResult<Py<PyAny>> {
        let ts = crate::convert::epoch(self.started_at) + at.as_secs_f64();
        let h = helpers(py)?;
        // datetime.fromtimestamp(ts, timezone.utc): C code, no Python function.
        h.utc.call1(py, (ts, &h.tz))
    }

    /// The hook payload of an event: (kind name, (event class, its fields)), made from the core's
    /// neutral [`Payload`] with the fields it lists for the event's kind.
    pub(super) fn payload(
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
        // The event object is made by the Python code that calls the hooks (`cls(**kw)`):
        // no Python function runs under the driver's frames (see `Shared::emit`).
        Ok((
            PyString::new(py, kind).into_any().unbind(),
            PyTuple::new(py, [cls.into_any(), kw.into_any()])?
                .into_any()
                .unbind(),
        ))
    }

    /// The report of the run so far, with the hosts' values and errors.
    pub(super) fn report(&self, py: Python<'_>, st: &mut State) -> PyResult<Py<RunReport>> {
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
    pub(super) fn call_args<'py>(
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
                        .id(*t)
                        .and_then(|id| st.sched.value(id))
                        .map(|v| v.clone_ref(py))
                        .unwrap_or_else(|| py.None());
                    kw.set_item(name, v)?
                }
            }
        }
        Ok((None, Some(kw)))
    }

    pub(super) fn context_obj(
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
                name: st.name(task).to_owned(),
                attempt,
                flag: flag.clone(),
            },
        )
    }
}
