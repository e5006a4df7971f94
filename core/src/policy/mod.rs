//! Per-task policies: retry backoff, the options a task carries, trigger rules and the run's
//! priority order.

use std::time::Duration;

mod rules;
pub use rules::{capacity, Priority, Trigger};

/// How long to wait before retrying a failed attempt.
///
/// # Examples
///
/// ```
/// use legato::policy::Backoff;
/// use std::time::Duration;
///
/// let b = Backoff::exponential(Duration::from_millis(100))
///     .factor(2.0)
///     .max(Duration::from_secs(5));
/// assert_eq!(b.base_delay(1), Duration::from_millis(100));
/// assert_eq!(b.base_delay(2), Duration::from_millis(200));
/// assert_eq!(b.base_delay(3), Duration::from_millis(400));
/// assert_eq!(b.base_delay(30), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Backoff {
    /// Retry at once.
    #[default]
    None,
    /// Wait the same delay before every retry.
    Fixed(Duration),
    /// The first retry waits `initial`, each next one `factor` times more, never more than `max`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The growth factor between consecutive retries (at least 1).
        factor: f64,
        /// The cap on any single delay.
        max: Duration,
        /// Randomize each delay uniformly in `[0, delay]` ("full jitter").
        jitter: bool,
    },
}

impl Backoff {
    /// A fixed delay before every retry.
    #[must_use]
    pub fn fixed(delay: Duration) -> Self {
        Backoff::Fixed(delay)
    }

    /// Exponential backoff starting at `initial`, doubling, capped at one hour, without jitter.
    #[must_use]
    pub fn exponential(initial: Duration) -> Self {
        Backoff::Exponential {
            initial,
            factor: 2.0,
            max: Duration::from_secs(3600),
            jitter: false,
        }
    }

    /// Sets the growth factor of an exponential backoff (no effect on other kinds). It must be
    /// a finite number ≥ 1: [`Backoff::validate`] (called when a task is added) refuses others.
    #[must_use]
    pub fn factor(mut self, f: f64) -> Self {
        if let Backoff::Exponential { factor, .. } = &mut self {
            *factor = f;
        }
        self
    }

    /// Sets the cap of an exponential backoff (no effect on other kinds).
    #[must_use]
    pub fn max(mut self, cap: Duration) -> Self {
        if let Backoff::Exponential { max, .. } = &mut self {
            *max = cap;
        }
        self
    }

    /// Turns on full jitter for an exponential backoff (no effect on other kinds).
    #[must_use]
    pub fn jitter(mut self, on: bool) -> Self {
        if let Backoff::Exponential { jitter, .. } = &mut self {
            *jitter = on;
        }
        self
    }

    /// The delay before retry number `retry` (1 for the first retry), before any jitter.
    pub fn base_delay(&self, retry: u32) -> Duration {
        match *self {
            Backoff::None => Duration::ZERO,
            Backoff::Fixed(d) => d,
            Backoff::Exponential {
                initial,
                factor,
                max,
                ..
            } => {
                let exp = retry.saturating_sub(1).min(1024) as i32;
                let secs = initial.as_secs_f64() * factor.powi(exp);
                if !secs.is_finite() || secs >= max.as_secs_f64() {
                    max
                } else {
                    Duration::from_secs_f64(secs)
                }
            }
        }
    }

    /// Whether delays are randomized.
    pub fn has_jitter(&self) -> bool {
        matches!(self, Backoff::Exponential { jitter: true, .. })
    }

    /// Checks the policy: every delay at most [`MAX_DELAY`], a factor that is a finite number
    /// ≥ 1.
    ///
    /// # Errors
    ///
    /// [`OptionError`] ([`OptionErrorKind::InvalidValue`]) naming `backoff`.
    pub fn validate(&self) -> Result<(), OptionError> {
        match *self {
            Backoff::None => Ok(()),
            Backoff::Fixed(d) => check_delay("backoff", d),
            Backoff::Exponential {
                initial,
                factor,
                max,
                ..
            } => {
                check_delay("backoff initial delay", initial)?;
                check_delay("backoff max", max)?;
                if !(factor.is_finite() && factor >= 1.0) {
                    return Err(OptionError::value(
                        "backoff factor",
                        format!("must be a finite number >= 1, got {factor}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The longest delay a backoff may ask for (about 31 years): longer ones are refused, since a
/// retry that never comes would keep the run open for ever.
pub const MAX_DELAY: Duration = Duration::from_secs(1_000_000_000);

/// The most retries a task may have: its attempts (`retries + 1`) are counted in a `u32`.
pub const MAX_RETRIES: u32 = u32::MAX - 1;

fn check_delay(argument: &'static str, d: Duration) -> Result<(), OptionError> {
    if d > MAX_DELAY {
        return Err(OptionError::value(
            argument,
            format!("must be at most {} seconds", MAX_DELAY.as_secs()),
        ));
    }
    Ok(())
}

/// What is wrong with an option: the error kind every front door maps to its own error type
/// by matching this enum (never a string compared across a language boundary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionErrorKind {
    /// A value of the wrong type, or an unknown option: `TypeError` (Python and Node).
    InvalidType,
    /// A value of the right type that is not allowed: `ValueError` in Python, `RangeError`
    /// in Node.
    InvalidValue,
}

impl OptionErrorKind {
    /// A stable name: `"invalid_type"`, `"invalid_value"`.
    pub fn as_str(self) -> &'static str {
        match self {
            OptionErrorKind::InvalidType => "invalid_type",
            OptionErrorKind::InvalidValue => "invalid_value",
        }
    }
}

/// An option refused by the core's one validation; every front door maps
/// [`OptionError::kind`] to its own error type ([`OptionErrorKind::InvalidType`] →
/// `TypeError`, [`OptionErrorKind::InvalidValue`] → `ValueError` in Python, `RangeError` in
/// Node).
///
/// The message names the argument: `timeout must be greater than zero, got -1`.
///
/// # Examples
///
/// ```
/// use legato::policy::{self, OptionError, OptionErrorKind};
///
/// let e = policy::timeout_secs("timeout", -1.0).unwrap_err();
/// assert_eq!(e.kind(), OptionErrorKind::InvalidValue);
/// assert_eq!(e.kind().as_str(), "invalid_value");
/// assert_eq!(e.argument(), "timeout");
/// assert_eq!(e.to_string(), "timeout must be a number of seconds greater than zero, got -1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{argument} {message}")]
pub struct OptionError {
    argument: std::borrow::Cow<'static, str>,
    message: String,
    kind: OptionErrorKind,
}

impl OptionError {
    fn new(
        kind: OptionErrorKind,
        argument: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        OptionError {
            argument: argument.into(),
            message: message.into(),
            kind,
        }
    }

    /// A value of the right type that is not allowed (→ `ValueError` / `RangeError`).
    pub fn value(
        argument: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        OptionError::new(OptionErrorKind::InvalidValue, argument, message)
    }

    /// A value of the wrong type, or an unknown option (→ `TypeError`).
    pub fn type_error(
        argument: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        OptionError::new(OptionErrorKind::InvalidType, argument, message)
    }

    /// What kind of error it is.
    pub fn kind(&self) -> OptionErrorKind {
        self.kind
    }

    /// The argument's name, as the caller spelled it.
    pub fn argument(&self) -> &str {
        &self.argument
    }

    /// What is wrong with it (the text after the argument's name).
    pub fn message(&self) -> &str {
        &self.message
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A per-attempt or run timeout given in seconds by a host (Python), checked: it must be a
/// number greater than zero. Infinity, and any timeout too long to represent, means no limit
/// (`None`).
///
/// # Errors
///
/// [`OptionError`] for NaN, zero or a negative number.
pub fn timeout_secs(argument: &'static str, secs: f64) -> Result<Option<Duration>, OptionError> {
    timeout_scaled(argument, secs, 1.0, "seconds")
}

/// As [`timeout_secs`], for a timeout in milliseconds (Node).
///
/// # Errors
///
/// [`OptionError`] for NaN, zero or a negative number.
pub fn timeout_millis(argument: &'static str, ms: f64) -> Result<Option<Duration>, OptionError> {
    timeout_scaled(argument, ms, 1e-3, "milliseconds")
}

fn timeout_scaled(
    argument: &'static str,
    x: f64,
    scale: f64,
    unit: &str,
) -> Result<Option<Duration>, OptionError> {
    if x.is_nan() || x <= 0.0 {
        return Err(OptionError::value(
            argument,
            format!(
                "must be a number of {unit} greater than zero, got {}",
                fmt_num(x)
            ),
        ));
    }
    Ok(to_duration(x, scale))
}

/// `x` units of `scale` seconds as a duration, exact for whole milliseconds (or whole
/// seconds), `None` when it is too long for a `Duration`.
fn to_duration(x: f64, scale: f64) -> Option<Duration> {
    let nanos = x * scale * 1e9;
    if !nanos.is_finite() || nanos >= u64::MAX as f64 {
        return Duration::try_from_secs_f64(x * scale).ok();
    }
    Some(Duration::from_nanos(nanos.round() as u64))
}

/// A delay (backoff) given in seconds by a host, checked: a finite number ≥ 0, at most
/// [`MAX_DELAY`].
///
/// # Errors
///
/// [`OptionError`] for NaN, infinity, a negative number or a delay beyond [`MAX_DELAY`].
pub fn delay_secs(argument: &'static str, secs: f64) -> Result<Duration, OptionError> {
    delay_scaled(argument, secs, 1.0, "seconds")
}

/// As [`delay_secs`], for a delay in milliseconds (Node).
///
/// # Errors
///
/// As [`delay_secs`].
pub fn delay_millis(argument: &'static str, ms: f64) -> Result<Duration, OptionError> {
    delay_scaled(argument, ms, 1e-3, "milliseconds")
}

fn delay_scaled(
    argument: &'static str,
    x: f64,
    scale: f64,
    unit: &str,
) -> Result<Duration, OptionError> {
    if !x.is_finite() || x < 0.0 {
        return Err(OptionError::value(
            argument,
            format!("must be a finite number of {unit} >= 0, got {}", fmt_num(x)),
        ));
    }
    let d = to_duration(x, scale).unwrap_or(Duration::MAX);
    check_delay(argument, d)?;
    Ok(d)
}

/// A retry count given by a host, checked: a whole number from 0 to [`MAX_RETRIES`].
///
/// # Errors
///
/// [`OptionError`] for a fraction, a negative number or too many retries.
pub fn retries(argument: &'static str, n: f64) -> Result<u32, OptionError> {
    if !(n.is_finite() && n.fract() == 0.0 && n >= 0.0 && n <= f64::from(MAX_RETRIES)) {
        return Err(OptionError::value(
            argument,
            format!(
                "must be a whole number from 0 to {MAX_RETRIES}, got {}",
                fmt_num(n)
            ),
        ));
    }
    Ok(n as u32)
}

/// A concurrency limit given by a host, checked: a whole number ≥ 1.
///
/// # Errors
///
/// [`OptionError`] for a fraction, zero or a negative number.
pub fn max_parallel(argument: &'static str, n: f64) -> Result<usize, OptionError> {
    if !(n.is_finite() && n.fract() == 0.0 && n >= 1.0) {
        return Err(OptionError::value(
            argument,
            format!("must be a whole number >= 1, got {}", fmt_num(n)),
        ));
    }
    Ok(if n >= usize::MAX as f64 {
        usize::MAX
    } else {
        n as usize
    })
}

/// A call depth limit given by a host (`max_depth`), checked as the run's own validation
/// checks it: a whole number ≥ 1; one beyond `u32` means no practical limit (`u32::MAX`).
///
/// # Errors
///
/// [`OptionError`] for a fraction, zero or a negative number, with the text
/// [`RunOptions::validate`](crate::scheduler::RunOptions::validate) gives.
pub fn max_depth(argument: &'static str, n: f64) -> Result<u32, OptionError> {
    let n = max_parallel(argument, n)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The options of one task. Defaults: no retries, no backoff, no timeout, no sequences.
///
/// # Examples
///
/// ```
/// use legato::policy::{Backoff, TaskOptions};
/// use std::time::Duration;
///
/// let o = TaskOptions::default()
///     .retries(3)
///     .backoff(Backoff::fixed(Duration::from_millis(50)))
///     .timeout(Duration::from_secs(30))
///     .sequence("db");
/// assert_eq!(o.retries, 3);
/// assert!(!o.is_default());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TaskOptions {
    /// How many times a failed attempt is retried (so at most `retries + 1` attempts).
    pub retries: u32,
    /// The delay policy between attempts.
    pub backoff: Backoff,
    /// The time limit of each attempt.
    pub timeout: Option<Duration>,
    /// The keys the task holds while it runs (DESIGN "Per-key limits"): at most the key's
    /// capacity (the run's `limits`, else 1) tasks holding a key run at once. Barista's
    /// sequences are keys of capacity 1.
    pub uses: Vec<String>,
    /// When the task may run once its dependencies ended.
    pub trigger: Trigger,
    /// The task's cost for [`Priority::CriticalPath`] (else a previous report's duration, or
    /// the mean of the known costs, or one second).
    pub cost: Option<Duration>,
    /// Whether the task has a condition (a `when` predicate): once it is ready, the scheduler
    /// asks the driver to evaluate it ([`Command::Evaluate`](crate::scheduler::Command::Evaluate)),
    /// and a false condition skips the task with reason `condition false`.
    pub conditional: bool,
}

impl TaskOptions {
    /// Sets the number of retries.
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Sets the backoff policy.
    #[must_use]
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Adds a key the task holds while it runs (see [`TaskOptions::uses`]).
    #[must_use]
    pub fn uses(mut self, key: impl Into<String>) -> Self {
        self.uses.push(key.into());
        self
    }

    /// Adds a sequence key: exactly [`TaskOptions::uses`] (Barista's name, kept as an alias).
    #[must_use]
    pub fn sequence(self, key: impl Into<String>) -> Self {
        self.uses(key)
    }

    /// Sets the trigger rule.
    #[must_use]
    pub fn trigger(mut self, rule: Trigger) -> Self {
        self.trigger = rule;
        self
    }

    /// Sets the task's cost for [`Priority::CriticalPath`].
    #[must_use]
    pub fn cost(mut self, cost: Duration) -> Self {
        self.cost = Some(cost);
        self
    }

    /// Marks the task as having a condition the driver evaluates once it is ready.
    #[must_use]
    pub fn conditional(mut self, on: bool) -> Self {
        self.conditional = on;
        self
    }

    /// Checks the options: at most [`MAX_RETRIES`] retries, a timeout greater than zero (any
    /// longer than the clock can count means no limit), a valid backoff.
    ///
    /// # Errors
    ///
    /// [`OptionError`] naming the option.
    pub fn validate(&self) -> Result<(), OptionError> {
        if self.retries > MAX_RETRIES {
            return Err(OptionError::value(
                "retries",
                format!("must be at most {MAX_RETRIES}, got {}", self.retries),
            ));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(OptionError::value("timeout", "must be greater than zero"));
        }
        self.backoff.validate()
    }

    /// Whether these are the default options (lets the graph store them out of line).
    pub fn is_default(&self) -> bool {
        self.retries == 0
            && self.backoff == Backoff::None
            && self.timeout.is_none()
            && self.uses.is_empty()
            && self.trigger == Trigger::AllSucceeded
            && self.cost.is_none()
            && !self.conditional
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_none() {
        assert_eq!(Backoff::None.base_delay(3), Duration::ZERO);
        let f = Backoff::fixed(Duration::from_millis(7));
        assert_eq!(f.base_delay(1), Duration::from_millis(7));
        assert_eq!(f.base_delay(9), Duration::from_millis(7));
        assert!(!f.has_jitter());
    }

    #[test]
    fn exponential_grows_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(10))
            .factor(3.0)
            .max(Duration::from_millis(100))
            .jitter(true);
        assert_eq!(b.base_delay(1), Duration::from_millis(10));
        assert_eq!(b.base_delay(2), Duration::from_millis(30));
        assert_eq!(b.base_delay(3), Duration::from_millis(90));
        assert_eq!(b.base_delay(4), Duration::from_millis(100));
        assert_eq!(b.base_delay(u32::MAX), Duration::from_millis(100));
        assert!(b.has_jitter());
    }

    #[test]
    fn validation_names_the_argument() {
        assert!(TaskOptions::default().validate().is_ok());
        let e = TaskOptions::default()
            .timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(e.to_string(), "timeout must be greater than zero");
        assert_eq!(e.kind(), OptionErrorKind::InvalidValue);
        let e = TaskOptions::default()
            .retries(u32::MAX)
            .validate()
            .unwrap_err();
        assert_eq!(e.argument(), "retries");
        let e = Backoff::exponential(Duration::from_millis(1))
            .factor(0.5)
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "backoff factor must be a finite number >= 1, got 0.5"
        );
        let e = Backoff::exponential(Duration::from_millis(1))
            .factor(f64::NAN)
            .validate();
        assert!(e.is_err());
        assert!(Backoff::fixed(Duration::MAX).validate().is_err());
        // A timeout too long for the clock is accepted: it means no limit.
        assert!(TaskOptions::default()
            .timeout(Duration::MAX)
            .validate()
            .is_ok());
    }

    #[test]
    fn host_numbers() {
        assert_eq!(
            timeout_secs("timeout", 1.5),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert_eq!(timeout_secs("timeout", f64::INFINITY), Ok(None));
        assert_eq!(timeout_secs("timeout", 1e300), Ok(None));
        for bad in [0.0, -1.0, f64::NAN, f64::NEG_INFINITY] {
            assert!(timeout_secs("timeout", bad).is_err(), "{bad}");
        }
        assert_eq!(
            timeout_millis("timeout", 250.0),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(
            timeout_millis("timeout", 0.0).unwrap_err().to_string(),
            "timeout must be a number of milliseconds greater than zero, got 0"
        );
        assert_eq!(delay_secs("backoff", 0.0), Ok(Duration::ZERO));
        assert!(delay_secs("backoff", -0.5).is_err());
        assert!(delay_secs("backoff", f64::INFINITY).is_err());
        assert!(delay_secs("backoff", 1e12).is_err());
        assert_eq!(
            delay_millis("backoff", 100.0),
            Ok(Duration::from_millis(100))
        );
        assert_eq!(retries("retries", 3.0), Ok(3));
        assert!(retries("retries", -1.0).is_err());
        assert!(retries("retries", 1.5).is_err());
        assert!(retries("retries", 4294967295.0).is_err());
        assert_eq!(retries("retries", 4294967294.0), Ok(MAX_RETRIES));
        assert_eq!(max_parallel("max_parallel", 4.0), Ok(4));
        assert!(max_parallel("max_parallel", 0.0).is_err());
        assert!(max_parallel("max_parallel", f64::NAN).is_err());
        assert_eq!(
            max_parallel("max_parallel", f64::INFINITY)
                .unwrap_err()
                .kind(),
            OptionErrorKind::InvalidValue
        );
    }
}
