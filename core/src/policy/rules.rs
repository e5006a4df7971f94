//! Scheduling rules beyond the seeds (DESIGN "Beyond the seeds"): a task's trigger rule and
//! the run's priority order. Each is named the same in every door.

use super::OptionError;
use std::fmt;
use std::str::FromStr;

/// When a task whose dependencies have ended may run (Airflow's trigger rules).
///
/// A dependency's end counts as *succeeded*, *skipped by a condition or trigger rule* (the
/// branch not taken), or *failed* (failed, timed out, cancelled, or skipped because something
/// upstream failed or the run stopped).
///
/// # Examples
///
/// ```
/// use legato::policy::Trigger;
///
/// let t: Trigger = "all_done".parse().unwrap();
/// assert_eq!(t, Trigger::AllDone);
/// assert_eq!(t.to_string(), "all_done");
/// let e = "alldone".parse::<Trigger>().unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "trigger must be one of all_succeeded, all_done, any_succeeded, none_failed, got \"alldone\" (did you mean \"all_done\"?)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Trigger {
    /// Every dependency succeeded (the default). A dependency that failed skips the task
    /// naming it; one skipped by a condition skips it as a branch not taken.
    #[default]
    AllSucceeded,
    /// Every dependency ended, whatever its status: cleanup and teardown. With fail-fast such a
    /// task still runs once its dependencies ended.
    AllDone,
    /// Every dependency ended and at least one succeeded.
    AnySucceeded,
    /// Every dependency succeeded or was skipped by a condition or trigger rule.
    NoneFailed,
}

impl Trigger {
    /// Every rule, in the order the docs list them.
    pub const ALL: [Trigger; 4] = [
        Trigger::AllSucceeded,
        Trigger::AllDone,
        Trigger::AnySucceeded,
        Trigger::NoneFailed,
    ];

    /// The rule's name, as every door spells it (`all_succeeded`, `all_done`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::AllSucceeded => "all_succeeded",
            Trigger::AllDone => "all_done",
            Trigger::AnySucceeded => "any_succeeded",
            Trigger::NoneFailed => "none_failed",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = OptionError;

    /// Parses a rule's name; an unknown one is an [`OptionError`] naming `trigger`, with the
    /// closest name suggested.
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let names = Trigger::ALL.map(Trigger::as_str);
        match Trigger::ALL.iter().find(|t| t.as_str() == s) {
            Some(&t) => Ok(t),
            None => Err(unknown_name("trigger", s, &names)),
        }
    }
}

/// The order in which ready tasks start when there are fewer slots than ready tasks.
///
/// # Examples
///
/// ```
/// use legato::policy::Priority;
///
/// assert_eq!("critical_path".parse::<Priority>().unwrap(), Priority::CriticalPath);
/// assert_eq!(Priority::default().to_string(), "fifo");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Priority {
    /// In the order tasks became ready; tasks ready at the same instant in declaration order
    /// (rule 2). The default.
    #[default]
    Fifo,
    /// First the ready task with the longest remaining path to a sink, counting its own cost
    /// (HEFT's upward rank); ties by readiness, then declaration order.
    CriticalPath,
}

impl Priority {
    /// Every order.
    pub const ALL: [Priority; 2] = [Priority::Fifo, Priority::CriticalPath];

    /// The order's name, as every door spells it (`fifo`, `critical_path`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Fifo => "fifo",
            Priority::CriticalPath => "critical_path",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = OptionError;

    /// Parses an order's name; an unknown one is an [`OptionError`] naming `priority`.
    fn from_str(s: &str) -> Result<Self, OptionError> {
        let names = Priority::ALL.map(Priority::as_str);
        match Priority::ALL.iter().find(|p| p.as_str() == s) {
            Some(&p) => Ok(p),
            None => Err(unknown_name("priority", s, &names)),
        }
    }
}

/// `<argument> must be one of a, b, got "x"`, with ` (did you mean "y"?)` when a name is close.
fn unknown_name(argument: &'static str, got: &str, names: &[&str]) -> OptionError {
    let close = names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(got, n), *n))
        .filter(|&(d, n)| d <= 2.max(n.len() / 3))
        .min();
    let hint = close.map_or(String::new(), |(_, n)| format!(" (did you mean \"{n}\"?)"));
    OptionError::value(
        argument,
        format!("must be one of {}, got {got:?}{hint}", names.join(", ")),
    )
}

/// A key's capacity given by a host (`limits={"db": 2}`), checked: a whole number ≥ 1.
///
/// # Errors
///
/// [`OptionError`] naming `limits["<key>"]` for zero, a negative number or a fraction.
///
/// # Examples
///
/// ```
/// use legato::policy::capacity;
///
/// assert_eq!(capacity("db", 2.0).unwrap(), 2);
/// assert_eq!(
///     capacity("db", 0.0).unwrap_err().to_string(),
///     "limits[\"db\"] must be a whole number >= 1, got 0"
/// );
/// ```
pub fn capacity(key: &str, n: f64) -> Result<u32, OptionError> {
    if n.is_finite() && n.fract() == 0.0 && n >= 1.0 {
        Ok(if n > f64::from(u32::MAX) {
            u32::MAX
        } else {
            n as u32
        })
    } else {
        Err(OptionError::value(
            format!("limits[{key:?}]"),
            format!("must be a whole number >= 1, got {}", super::fmt_num(n)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), t);
        }
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
    }

    #[test]
    fn unknown_names_name_the_argument() {
        let e = "critical".parse::<Priority>().unwrap_err();
        assert_eq!(e.argument(), "priority");
        assert!(e
            .message()
            .starts_with("must be one of fifo, critical_path"));
        let e = "nope".parse::<Trigger>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "trigger must be one of all_succeeded, all_done, any_succeeded, none_failed, got \"nope\""
        );
    }

    #[test]
    fn capacities_are_whole_and_positive() {
        assert_eq!(capacity("db", 1.0), Ok(1));
        assert_eq!(capacity("db", 1e12), Ok(u32::MAX));
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                capacity("db", bad).unwrap_err().argument(),
                "limits[\"db\"]"
            );
        }
    }
}
