//! Errors raised while building, validating or selecting from a task graph.

use std::fmt;

/// An error in the shape of a task graph.
///
/// The `Display` text of each variant is part of legato's contract: every front door
/// (Rust, Python, Node and the CLI) shows exactly these messages. Bindings map errors by
/// [`GraphError::kind`], never by parsing the message.
///
/// # Examples
///
/// ```
/// use legato::graph::{GraphBuilder, GraphError, TaskSpec};
///
/// let mut b = GraphBuilder::new();
/// b.add(TaskSpec::new("task-a").after(["task-b"])).unwrap();
/// b.add(TaskSpec::new("task-b").after(["task-a"])).unwrap();
/// let err = b.build().unwrap_err();
/// assert_eq!(err.kind(), "cycle");
/// assert_eq!(err.to_string(), "Circular dependency detected: task-a → task-b → task-a");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// The dependencies form a cycle. `path` starts and ends with the same task; each task
    /// in it depends on the next one. The message lists at most 20 names, then how many it
    /// leaves out, then the closing name: `a0 → a1 → … → a19 → … (4980 more) … → a0`.
    #[error("Circular dependency detected: {}", CyclePath(.path))]
    Cycle {
        /// The tasks on the cycle, the first repeated at the end.
        path: Vec<String>,
    },
    /// A task depends on a name that no task has.
    #[error("Task \"{dependency}\" referenced by \"{task}\" does not exist{}", DidYouMean(.suggestion))]
    MissingDependency {
        /// The task that declared the dependency.
        task: String,
        /// The name that does not exist.
        dependency: String,
        /// The closest existing name, if one is close enough.
        suggestion: Option<String>,
    },
    /// A target (or a name looked up) does not exist.
    #[error("Task \"{name}\" not found{}", DidYouMean(.suggestion))]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The closest existing name, if one is close enough.
        suggestion: Option<String>,
    },
    /// Two tasks have the same name.
    #[error("Task \"{name}\" is defined twice")]
    DuplicateTask {
        /// The repeated name.
        name: String,
    },
    /// A task name is empty or contains characters that cannot be shown on one line.
    #[error("Invalid task name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A task's options are invalid (a zero timeout, a backoff factor below 1, …).
    #[error("Task \"{task}\": {error}")]
    InvalidOption {
        /// The task.
        task: String,
        /// What is wrong, naming the option.
        error: crate::policy::OptionError,
    },
}

impl GraphError {
    /// A stable, machine-readable name for the kind of error.
    ///
    /// One of `"cycle"`, `"missing_dependency"`, `"unknown_task"`, `"duplicate_task"`,
    /// `"invalid_name"`, `"invalid_option"`. Bindings map these to their own exception classes
    /// and error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            GraphError::Cycle { .. } => "cycle",
            GraphError::MissingDependency { .. } => "missing_dependency",
            GraphError::UnknownTask { .. } => "unknown_task",
            GraphError::DuplicateTask { .. } => "duplicate_task",
            GraphError::InvalidName { .. } => "invalid_name",
            GraphError::InvalidOption { .. } => "invalid_option",
        }
    }
}

/// How many names of a cycle its message lists before it says how many more there are (a cycle
/// of 5,000 tasks would make a message of 40 KB).
const CYCLE_SHOWN: usize = 20;

struct CyclePath<'a>(&'a [String]);

impl fmt::Display for CyclePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0;
        // Shown whole while that is no longer than the cut form would be.
        let (head, left_out) = if path.len() <= CYCLE_SHOWN + 2 {
            (path, 0)
        } else {
            (&path[..CYCLE_SHOWN], path.len() - 1 - CYCLE_SHOWN)
        };
        for (i, name) in head.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            f.write_str(name)?;
        }
        if left_out > 0 {
            write!(f, " → … ({left_out} more) … → {}", path[path.len() - 1])?;
        }
        Ok(())
    }
}

struct DidYouMean<'a>(&'a Option<String>);

impl fmt::Display for DidYouMean<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " (did you mean \"{s}\"?)"),
            None => Ok(()),
        }
    }
}

/// The closest of `candidates` to `name`, if any is close enough to be a likely typo.
///
/// A candidate is close when its Damerau–Levenshtein distance to `name` is at most a third of
/// the longer name's length (at least 1: one typo in a short name), or when the shorter of the
/// two is a prefix of the other and at least half its length (`build` → `build-app`). The
/// closest wins; ties go to the earliest candidate, so the answer is deterministic.
pub(crate) fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let distance = strsim::damerau_levenshtein(name, c);
        let (short, long) = if name.len() <= c.len() {
            (name, c)
        } else {
            (c, name)
        };
        let longest = long.chars().count();
        let typo = distance <= (longest / 3).max(1);
        let prefix = long.starts_with(short) && short.chars().count() * 2 >= longest;
        if (typo || prefix) && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, c));
        }
    }
    best.map(|(_, c)| c.to_owned())
}

/// Checks that `name` can be a task name: non-empty, no control characters, no
/// leading or trailing whitespace. Declared steps are checked when added; a host checks the
/// names of dynamic tasks (spawned children, actions) with this, the same rule.
///
/// # Examples
///
/// ```
/// use legato::graph::validate_name;
///
/// assert!(validate_name("build-app").is_ok());
/// assert_eq!(validate_name(" build").unwrap_err().kind(), "invalid_name");
/// ```
///
/// # Errors
///
/// [`GraphError::InvalidName`] naming the reason.
#[inline]
pub fn validate_name(name: &str) -> Result<(), GraphError> {
    // Fast path, inlined where a task is declared: printable ASCII without a space at either
    // end (nearly every real name).
    let bytes = name.as_bytes();
    if bytes.first().is_some_and(u8::is_ascii_graphic)
        && bytes.last().is_some_and(u8::is_ascii_graphic)
        && bytes.iter().all(|&b| b.is_ascii_graphic() || b == b' ')
    {
        return Ok(());
    }
    refuse_name(name)
}

/// [`validate_name`] for a name off its fast path: why it is refused, if it is.
#[inline(never)]
fn refuse_name(name: &str) -> Result<(), GraphError> {
    let reason = if name.is_empty() {
        Some("a task name must not be empty")
    } else if name.chars().any(char::is_control) {
        Some("a task name must not contain control characters")
    } else if name.trim() != name {
        Some("a task name must not start or end with whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(GraphError::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_cycle_lists_twenty_names_how_many_more_and_the_closing_one() {
        let path =
            |n: usize| -> Vec<String> { (0..n).chain([0]).map(|i| format!("t{i}")).collect() };
        // Short cycles: DESIGN's format, whole (up to 21 tasks, 22 names with the closing one).
        let e = GraphError::Cycle { path: path(21) };
        let whole = path(21).join(" → ");
        assert_eq!(
            e.to_string(),
            format!("Circular dependency detected: {whole}")
        );
        let e = GraphError::Cycle { path: path(5000) };
        let head = path(5000)[..20].join(" → ");
        assert_eq!(
            e.to_string(),
            format!("Circular dependency detected: {head} → … (4980 more) … → t0")
        );
        assert!(e.to_string().len() < 300);
        let e = GraphError::Cycle { path: path(22) };
        assert!(e.to_string().ends_with("t19 → … (2 more) … → t0"));
    }

    #[test]
    fn messages_match_the_contract() {
        let e = GraphError::MissingDependency {
            task: "deploy".into(),
            dependency: "build".into(),
            suggestion: None,
        };
        assert_eq!(
            e.to_string(),
            "Task \"build\" referenced by \"deploy\" does not exist"
        );
        let e = GraphError::MissingDependency {
            task: "deploy".into(),
            dependency: "build".into(),
            suggestion: Some("build-app".into()),
        };
        assert_eq!(
            e.to_string(),
            "Task \"build\" referenced by \"deploy\" does not exist (did you mean \"build-app\"?)"
        );
        let e = GraphError::UnknownTask {
            name: "biuld-app".into(),
            suggestion: Some("build-app".into()),
        };
        assert_eq!(
            e.to_string(),
            "Task \"biuld-app\" not found (did you mean \"build-app\"?)"
        );
        let e = GraphError::DuplicateTask {
            name: "build".into(),
        };
        assert_eq!(e.to_string(), "Task \"build\" is defined twice");
    }

    #[test]
    fn suggestions_pick_the_closest_name() {
        let names = ["install", "build-app", "deploy"];
        assert_eq!(
            did_you_mean("biuld-app", names).as_deref(),
            Some("build-app")
        );
        assert_eq!(did_you_mean("build", names).as_deref(), Some("build-app"));
        assert_eq!(did_you_mean("zzz", names), None);
        // Short names are not "close" to long ones by sharing a letter.
        assert_eq!(did_you_mean("biuld-app", ["a", "b", "c"]), None);
        assert_eq!(
            did_you_mean("tset", ["test", "lint"]).as_deref(),
            Some("test")
        );
        assert_eq!(
            did_you_mean("step4", ["step1", "step3"]).as_deref(),
            Some("step1")
        );
        assert_eq!(did_you_mean("x", std::iter::empty()), None);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("build-app").is_ok());
        assert!(validate_name("send email").is_ok());
        for bad in ["", " x", "x ", "a\nb", "a\tb"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind(), "invalid_name", "{bad:?}");
        }
    }
}
