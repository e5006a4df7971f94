//! Options from Python values, checked once at definition time: seconds → `Duration`,
//! `Backoff`, retries, sequences. Errors are `TypeError` / `ValueError` naming the argument.

use crate::errors::{type_error, value_error};
use legato::policy::{self, Backoff as CoreBackoff, OptionError, OptionErrorKind, TaskOptions};
use legato::scheduler::RunOptions;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
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
#[pyfunction]
#[pyo3(signature = (retries = None, backoff = None, timeout = None, sequences = None))]
pub(crate) fn task_options(
    retries: Option<&Bound<'_, PyAny>>,
    backoff: Option<&Bound<'_, PyAny>>,
    timeout: Option<&Bound<'_, PyAny>>,
    sequences: Option<&Bound<'_, PyAny>>,
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
    if let Some(s) = sequences {
        if s.is_instance_of::<PyString>() {
            return Err(type_error(
                "sequences",
                "expected a list of keys, got a str",
            ));
        }
        for k in s
            .try_iter()
            .map_err(|_| type_error("sequences", "expected a list of keys"))?
        {
            let k = k?;
            let k: String = k.extract().map_err(|_| {
                type_error(
                    "sequences",
                    format!("keys must be str, got {}", type_name(&k)),
                )
            })?;
            o = o.sequence(k);
        }
    }
    o.validate().map_err(option_error)?;
    Ok(Options { inner: Arc::new(o) })
}
