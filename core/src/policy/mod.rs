//! Per-task policies: retry backoff and the options a task carries.

use std::time::Duration;

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
    pub fn fixed(delay: Duration) -> Self {
        Backoff::Fixed(delay)
    }

    /// Exponential backoff starting at `initial`, doubling, capped at one hour, without jitter.
    pub fn exponential(initial: Duration) -> Self {
        Backoff::Exponential {
            initial,
            factor: 2.0,
            max: Duration::from_secs(3600),
            jitter: false,
        }
    }

    /// Sets the growth factor of an exponential backoff (no effect on other kinds).
    ///
    /// # Panics
    ///
    /// Panics if `factor` is not a finite number ≥ 1. Bindings validate before calling.
    pub fn factor(mut self, f: f64) -> Self {
        assert!(f.is_finite() && f >= 1.0, "backoff factor must be >= 1");
        if let Backoff::Exponential { factor, .. } = &mut self {
            *factor = f;
        }
        self
    }

    /// Sets the cap of an exponential backoff (no effect on other kinds).
    pub fn max(mut self, cap: Duration) -> Self {
        if let Backoff::Exponential { max, .. } = &mut self {
            *max = cap;
        }
        self
    }

    /// Turns on full jitter for an exponential backoff (no effect on other kinds).
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
    /// Mutual-exclusion keys: two tasks sharing a key never run at the same time.
    pub sequences: Vec<String>,
}

impl TaskOptions {
    /// Sets the number of retries.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Sets the backoff policy.
    pub fn backoff(mut self, b: Backoff) -> Self {
        self.backoff = b;
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Adds a sequence key.
    pub fn sequence(mut self, key: impl Into<String>) -> Self {
        self.sequences.push(key.into());
        self
    }

    /// Whether these are the default options (lets the graph store them out of line).
    pub fn is_default(&self) -> bool {
        self.retries == 0
            && self.backoff == Backoff::None
            && self.timeout.is_none()
            && self.sequences.is_empty()
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
}
