//! Options from Python values, checked once at definition time: seconds → `Duration`,
//! `Backoff`, retries, keys (`uses`, `sequences`), trigger rules, costs, and the run's rules
//! (`limits`, `priority`, `costs`). Errors are `TypeError` / `ValueError` naming the argument.

use crate::errors::{type_error, value_error};
use legato::policy::{
    self, Backoff as CoreBackoff, OptionError, OptionErrorKind, Priority, TaskOptions, Trigger,
};
use legato::scheduler::RunOptions;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyMapping, PyString};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A number of seconds (int or float, not bool) from Python; the type only: values are checked
/// by the core's one validation (`legato::policy`).
fn number(arg: &str, v: &Bound<'_, PyAny>) -> PyResult<f64> {
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>())
    {
        return Err(type_error(
            arg,
            format!("expected a number, got {}", type_name(v)),
        ));
    }
    v.extract().map_err(|_| out_of_range(arg, v))
}

/// An int too large for a float (`10**400`): an error naming the argument, with the value's
/// sign and size (its digits could be thousands).
fn out_of_range(arg: &str, v: &Bound<'_, PyAny>) -> PyErr {
    let digits = v
        .str()
        .map(|s| s.to_string().trim_start_matches('-').len())
        .unwrap_or(0);
    let sign = if v.lt(0i32).unwrap_or(false) { "-" } else { "" };
    value_error(
        arg,
        format!("out of range, got {sign}an int of {digits} digits"),
    )
}

/// A whole number from Python as the core's validation takes it (an `f64`): exact up to 2**53,
/// ±infinity beyond a float's range (the sign kept, so a huge negative number is refused).
fn int_as_f64(v: &Bound<'_, PyAny>) -> f64 {
    match v.extract::<i64>() {
        Ok(n) => n as f64,
        Err(_) => match v.extract::<f64>() {
            Ok(x) => x,
            Err(_) if v.lt(0i32).unwrap_or(false) => f64::NEG_INFINITY,
            Err(_) => f64::INFINITY,
        },
    }
}

/// The core's [`OptionError`] as a Python exception: `TypeError` or `ValueError`, its message
/// naming the argument.
pub(crate) fn option_error(e: OptionError) -> PyErr {
    match e.kind() {
        OptionErrorKind::InvalidType => PyTypeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// A timeout in seconds (> 0; infinity means none), checked by `policy::timeout_secs`.
pub(crate) fn timeout(arg: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    let x = number(arg, v)?;
    let d = policy::timeout_secs(arg, x).map_err(option_error)?;
    if d.is_some_and(|d| d.is_zero()) {
        // Greater than zero, yet below a nanosecond (1e-300): refused here, not at run time.
        return Err(value_error(
            arg,
            format!("must be at least 1 nanosecond, got {x}"),
        ));
    }
    Ok(d)
}

/// A delay in seconds (≥ 0), checked by `policy::delay_secs`.
fn delay(arg: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    policy::delay_secs(arg, number(arg, v)?).map_err(option_error)
}

/// Checks the run options shared by `Flow` and `Orchestrator` with the core's validation:
/// returns `(max_parallel, timeout, max_depth)` normalized (`None`: unlimited; `max_depth`
/// defaults to the core's 10,000).
#[pyfunction]
#[pyo3(signature = (max_parallel = None, timeout = None, max_depth = None))]
pub(crate) fn run_options(
    max_parallel: Option<&Bound<'_, PyAny>>,
    timeout: Option<&Bound<'_, PyAny>>,
    max_depth: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<usize>, Option<f64>, u32)> {
    let mp = match max_parallel {
        None => None,
        Some(v) => Some(whole("max_parallel", v)?),
    };
    let t = match timeout {
        None => None,
        Some(v) => self::timeout("timeout", v)?.map(|d| d.as_secs_f64()),
    };
    let mut opts = RunOptions::default();
    if let Some(v) = max_depth {
        let n = whole("max_depth", v)?;
        opts = opts.max_depth(u32::try_from(n).unwrap_or(u32::MAX));
    }
    opts.validate().map_err(option_error)?;
    Ok((mp, t, opts.get_max_depth()))
}

/// A whole number ≥ 1 (an int, not a bool), checked by `policy::max_parallel`.
fn whole(arg: &'static str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(type_error(
            arg,
            format!("expected an int, got {}", type_name(v)),
        ));
    }
    policy::max_parallel(arg, int_as_f64(v)).map_err(|e| int_error(e, v))
}

/// The core's error for a whole number, its "got …" the value as given (`2**63`, not the
/// float the check saw).
fn int_error(e: OptionError, v: &Bound<'_, PyAny>) -> PyErr {
    let text = e.to_string();
    let given = v.str().map(|s| s.to_string()).unwrap_or_default();
    let text = match text.rfind(", got ") {
        Some(i) if given.len() <= 40 => format!("{}, got {given}", &text[..i]),
        Some(i) => format!(
            "{}, got an int of {} digits",
            &text[..i],
            given.trim_start_matches('-').len()
        ),
        None => text,
    };
    match e.kind() {
        OptionErrorKind::InvalidType => PyTypeError::new_err(text),
        _ => PyValueError::new_err(text),
    }
}

pub(crate) fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// Seconds since the epoch of a `SystemTime`.
pub(crate) fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How long to wait before each retry.
///
/// `Backoff.fixed(0.5)` waits half a second before every retry; `Backoff.exponential(0.1,
/// factor=2.0, max=5.0, jitter=False)` waits 0.1 s before the first retry, then 0.2 s, 0.4 s, …
/// never more than `max`; with `jitter` each delay is drawn uniformly in `[0, delay]`.
#[pyclass(module = "legato", frozen, eq)]
#[derive(Clone, PartialEq)]
pub struct Backoff {
    pub(crate) inner: CoreBackoff,
}

#[pymethods]
impl Backoff {
    /// The same delay (seconds, ≥ 0) before every retry.
    #[staticmethod]
    fn fixed(seconds: &Bound<'_, PyAny>) -> PyResult<Backoff> {
        Ok(Backoff {
            inner: CoreBackoff::fixed(delay("seconds", seconds)?),
        })
    }

    /// `initial` seconds before the first retry, `factor` times more before each next one,
    /// capped at `max` seconds (default: one hour); `jitter` draws each delay in `[0, delay]`.
    #[staticmethod]
    #[pyo3(
        signature = (initial, factor = None, max = None, jitter = None),
        text_signature = "(initial, factor=2.0, max=None, jitter=False)"
    )]
    fn exponential(
        initial: &Bound<'_, PyAny>,
        factor: Option<&Bound<'_, PyAny>>,
        max: Option<&Bound<'_, PyAny>>,
        jitter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Backoff> {
        let initial = delay("initial", initial)?;
        // Not a bool (`factor=True` would be 1.0), as every number argument.
        let factor = match factor {
            Some(f) => number("factor", f)?,
            None => 2.0,
        };
        let jitter = match jitter {
            Some(j) => j
                .cast::<PyBool>()
                .map_err(|_| {
                    type_error("jitter", format!("expected a bool, got {}", type_name(j)))
                })?
                .is_true(),
            None => false,
        };
        let max = match max {
            Some(m) => {
                let m = delay("max", m)?;
                if m < initial {
                    return Err(value_error("max", "must not be less than initial"));
                }
                m
            }
            None => match CoreBackoff::exponential(initial) {
                CoreBackoff::Exponential { max, .. } => max,
                _ => Duration::from_secs(3600),
            },
        };
        let b = CoreBackoff::Exponential {
            initial,
            factor,
            max,
            jitter,
        };
        b.validate().map_err(option_error)?;
        Ok(Backoff { inner: b })
    }

    /// The delay before retry `n` (from 1), in seconds, without jitter.
    fn delay(&self, n: u32) -> f64 {
        self.inner.base_delay(n.max(1)).as_secs_f64()
    }

    fn __repr__(&self) -> String {
        match self.inner {
            CoreBackoff::Fixed(d) => format!("Backoff.fixed({})", d.as_secs_f64()),
            CoreBackoff::Exponential {
                initial,
                factor,
                max,
                jitter,
            } => format!(
                "Backoff.exponential({}, factor={factor}, max={}, jitter={})",
                initial.as_secs_f64(),
                max.as_secs_f64(),
                if jitter { "True" } else { "False" }
            ),
            _ => "Backoff.fixed(0.0)".into(),
        }
    }
}

/// Validated task options, built once by [`task_options`] and shared by every run.
#[pyclass(module = "legato._legato", frozen)]
#[derive(Clone)]
pub struct Options {
    pub(crate) inner: Arc<TaskOptions>,
}

/// Checks a step's or action's options and packs them for the core.
///
/// `uses` and `sequences` (its alias) are lists of keys; `trigger` a rule's name (`all_done`, …);
/// `cost` seconds (≥ 0) for the run's `critical_path` priority; `conditional` says the step has
/// a `when` predicate (the driver calls it, the core asks when).
#[pyfunction]
#[pyo3(signature = (retries = None, backoff = None, timeout = None, sequences = None, uses = None, trigger = None, cost = None, conditional = false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn task_options(
    retries: Option<&Bound<'_, PyAny>>,
    backoff: Option<&Bound<'_, PyAny>>,
    timeout: Option<&Bound<'_, PyAny>>,
    sequences: Option<&Bound<'_, PyAny>>,
    uses: Option<&Bound<'_, PyAny>>,
    trigger: Option<&Bound<'_, PyAny>>,
    cost: Option<&Bound<'_, PyAny>>,
    conditional: bool,
) -> PyResult<Options> {
    let mut o = TaskOptions::default();
    if let Some(r) = retries {
        if r.is_instance_of::<PyBool>() || !r.is_instance_of::<PyInt>() {
            return Err(type_error(
                "retries",
                format!("expected an int, got {}", type_name(r)),
            ));
        }
        o = o.retries(policy::retries("retries", int_as_f64(r)).map_err(|e| int_error(e, r))?);
    }
    if let Some(b) = backoff {
        let b = b.cast::<Backoff>().map_err(|_| {
            type_error(
                "backoff",
                format!("expected legato.Backoff, got {}", type_name(b)),
            )
        })?;
        o = o.backoff(b.get().inner);
    }
    if let Some(t) = timeout {
        if let Some(d) = self::timeout("timeout", t)? {
            o = o.timeout(d);
        }
    }
    for (arg, given) in [("uses", uses), ("sequences", sequences)] {
        if let Some(s) = given {
            for k in keys(arg, s)? {
                if !o.uses.contains(&k) {
                    o = o.uses(k);
                }
            }
        }
    }
    if let Some(t) = trigger {
        o = o.trigger(self::trigger(t)?);
    }
    if let Some(c) = cost {
        o = o.cost(delay("cost", c)?);
    }
    o = o.conditional(conditional);
    o.validate().map_err(option_error)?;
    Ok(Options { inner: Arc::new(o) })
}

#[pymethods]
impl Options {
    /// These options with the keys `keys` held too: an action call's keys, from its `uses`
    /// function (`keys` must be a list of str, not a bare str).
    fn with_uses(&self, keys: &Bound<'_, PyAny>) -> PyResult<Options> {
        let keys = self::keys("uses", keys)?;
        if keys.iter().all(|k| self.inner.uses.contains(k)) {
            return Ok(self.clone());
        }
        let mut o = (*self.inner).clone();
        for k in keys {
            if !o.uses.contains(&k) {
                o = o.uses(k);
            }
        }
        Ok(Options { inner: Arc::new(o) })
    }
}

/// A list (any iterable but a str) of keys, each a str.
fn keys(arg: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if v.is_instance_of::<PyString>() {
        return Err(type_error(
            arg,
            format!("expected a list of keys, got a str: write [{}]", v.repr()?),
        ));
    }
    let mut out = Vec::new();
    for k in v.try_iter().map_err(|_| {
        type_error(
            arg,
            format!("expected a list of keys, got {}", type_name(v)),
        )
    })? {
        let k = k?;
        let k: String = k
            .extract()
            .map_err(|_| type_error(arg, format!("keys must be str, got {}", type_name(&k))))?;
        out.push(k);
    }
    Ok(out)
}

/// A trigger rule's name (`all_succeeded`, `all_done`, `any_succeeded`, `none_failed`), parsed
/// by the core (an unknown name: `ValueError` with the closest name suggested).
fn trigger(v: &Bound<'_, PyAny>) -> PyResult<Trigger> {
    let s = v
        .cast::<PyString>()
        .map_err(|_| type_error("trigger", format!("expected a str, got {}", type_name(v))))?;
    s.to_cow()?.parse().map_err(option_error)
}

/// The run's scheduling rules beyond `max_parallel` (internal; made by [`run_rules`]).
#[pyclass(module = "legato._legato", frozen)]
pub struct Rules {
    limits: Vec<(String, u32)>,
    priority: Priority,
    costs: HashMap<Arc<str>, Duration>,
}

impl Rules {
    /// `o` with these rules.
    pub(crate) fn apply(&self, mut o: RunOptions) -> RunOptions {
        for (k, c) in &self.limits {
            o = o.limit(k.clone(), *c);
        }
        o = o.priority(self.priority);
        if !self.costs.is_empty() {
            o = o.costs(self.costs.clone());
        }
        o
    }
}

/// Checks the run options `limits` (a mapping of key → capacity, a whole number ≥ 1),
/// `priority` (`"fifo"` or `"critical_path"`) and `costs` (a previous run's `RunReport`) with
/// the core's validation; `None` when all are the defaults.
#[pyfunction]
#[pyo3(signature = (limits = None, priority = None, costs = None))]
pub(crate) fn run_rules(
    limits: Option<&Bound<'_, PyAny>>,
    priority: Option<&Bound<'_, PyAny>>,
    costs: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Rules>> {
    let mut rules = Rules {
        limits: Vec::new(),
        priority: Priority::default(),
        costs: HashMap::new(),
    };
    if let Some(l) = limits {
        let m = l.cast::<PyMapping>().map_err(|_| {
            type_error(
                "limits",
                format!("expected a dict of key -> capacity, got {}", type_name(l)),
            )
        })?;
        for item in m.items()?.iter() {
            let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let key: String = k.extract().map_err(|_| {
                type_error("limits", format!("keys must be str, got {}", type_name(&k)))
            })?;
            let arg = format!("limits[{key:?}]");
            if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
                return Err(type_error(
                    &arg,
                    format!("expected an int, got {}", type_name(&v)),
                ));
            }
            let c = policy::capacity(&key, int_as_f64(&v)).map_err(|e| int_error(e, &v))?;
            rules.limits.retain(|(k, _)| *k != key);
            rules.limits.push((key, c));
        }
    }
    if let Some(p) = priority {
        let s = p
            .cast::<PyString>()
            .map_err(|_| type_error("priority", format!("expected a str, got {}", type_name(p))))?;
        rules.priority = s.to_cow()?.parse().map_err(option_error)?;
    }
    if let Some(c) = costs {
        let r = c.cast::<crate::report::RunReport>().map_err(|_| {
            type_error(
                "costs",
                format!(
                    "expected a legato.RunReport (a previous run's report), got {}",
                    type_name(c)
                ),
            )
        })?;
        rules.costs = r.get().core().costs();
    }
    let default = rules.limits.is_empty()
        && rules.priority == Priority::default()
        && rules.costs.is_empty()
        && costs.is_none();
    Ok((!default).then_some(rules))
}
