//! Options from Python values, checked once at definition time: seconds → `Duration`,
//! `Backoff`, retries, sequences. Errors are `TypeError` / `ValueError` naming the argument.

use crate::errors::{type_error, value_error};
use legato::policy::{Backoff as CoreBackoff, TaskOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds (int or float) → `Duration`; refuses bools, NaN, infinities, negatives, and zero
/// unless `allow_zero`.
pub(crate) fn secs(arg: &str, v: &Bound<'_, PyAny>, allow_zero: bool) -> PyResult<Duration> {
    if v.is_instance_of::<PyBool>()
        || !(v.is_instance_of::<PyFloat>() || v.is_instance_of::<PyInt>())
    {
        return Err(type_error(
            arg,
            format!("expected a number of seconds, got {}", type_name(v)),
        ));
    }
    let s: f64 = v.extract()?;
    if s.is_nan() {
        return Err(value_error(arg, "must be a number of seconds, not NaN"));
    }
    if s < 0.0 || (s == 0.0 && !allow_zero) {
        let bound = if allow_zero {
            "zero or more"
        } else {
            "more than zero"
        };
        return Err(value_error(
            arg,
            format!("must be {bound} seconds, got {s}"),
        ));
    }
    Duration::try_from_secs_f64(s).map_err(|_| value_error(arg, format!("{s} seconds is too long")))
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
            inner: CoreBackoff::fixed(secs("seconds", seconds, true)?),
        })
    }

    /// `initial` seconds before the first retry, `factor` times more before each next one,
    /// capped at `max` seconds (default: one hour); `jitter` draws each delay in `[0, delay]`.
    #[staticmethod]
    #[pyo3(signature = (initial, factor = 2.0, max = None, jitter = false))]
    fn exponential(
        initial: &Bound<'_, PyAny>,
        factor: f64,
        max: Option<&Bound<'_, PyAny>>,
        jitter: bool,
    ) -> PyResult<Backoff> {
        let initial = secs("initial", initial, true)?;
        let f = factor;
        if f.is_nan() || f < 1.0 || !f.is_finite() {
            return Err(value_error(
                "factor",
                format!("must be a finite number of at least 1, got {f}"),
            ));
        }
        let mut b = CoreBackoff::exponential(initial).factor(f).jitter(jitter);
        if let Some(m) = max {
            let m = secs("max", m, true)?;
            if m < initial {
                return Err(value_error("max", "must not be less than initial"));
            }
            b = b.max(m);
        }
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
        let n: i64 = r.extract()?;
        if n < 0 || n > u32::MAX as i64 - 1 {
            return Err(value_error(
                "retries",
                format!("must be zero or more, got {n}"),
            ));
        }
        o = o.retries(n as u32);
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
        o = o.timeout(secs("timeout", t, false)?);
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
    Ok(Options { inner: Arc::new(o) })
}
