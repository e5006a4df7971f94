//! Reading back the texts of stop and skip reasons (a report read from its JSON): each
//! `FromStr` is the exact inverse of the reason's `Display`.

use super::{EventKind, SkipReason, StopReason};
use std::str::FromStr;
use std::time::Duration;

/// A reason's text that no reason writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {what}: {text:?}")]
pub struct ReasonParseError {
    what: &'static str,
    text: String,
}

impl FromStr for StopReason {
    type Err = ReasonParseError;

    /// # Examples
    ///
    /// ```
    /// use legato::event::StopReason;
    /// use std::time::Duration;
    ///
    /// for r in [
    ///     StopReason::Cancelled,
    ///     StopReason::MainFailed,
    ///     StopReason::FailFast { task: "db".into() },
    ///     StopReason::TimedOut(Duration::from_millis(1500)),
    /// ] {
    ///     assert_eq!(r.to_string().parse::<StopReason>(), Ok(r));
    /// }
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReasonParseError {
            what: "stop reason",
            text: s.to_owned(),
        };
        match s {
            "run cancelled" => return Ok(StopReason::Cancelled),
            "main failed" => return Ok(StopReason::MainFailed),
            _ => {}
        }
        if let Some(task) = s
            .strip_prefix("fail-fast: task \"")
            .and_then(|r| r.strip_suffix("\" failed"))
        {
            return Ok(StopReason::FailFast { task: task.into() });
        }
        if let Some(d) = s.strip_prefix("run timed out after ") {
            return parse_duration(d).map(StopReason::TimedOut).ok_or_else(bad);
        }
        if let Some((event, message)) = s
            .strip_prefix("hook for event \"")
            .and_then(|r| r.split_once("\" failed: "))
        {
            let event = EventKind::ALL
                .into_iter()
                .find(|k| k.as_str() == event)
                .ok_or_else(bad)?;
            return Ok(StopReason::HookFailed {
                event,
                message: message.into(),
            });
        }
        Err(bad())
    }
}

impl FromStr for SkipReason {
    type Err = ReasonParseError;

    /// # Examples
    ///
    /// ```
    /// use legato::event::{SkipReason, StopReason};
    /// use legato::policy::Trigger;
    ///
    /// for r in [
    ///     SkipReason::DependencyFailed { dependency: "build".into() },
    ///     SkipReason::Stopped(StopReason::Cancelled),
    ///     SkipReason::ConditionFalse,
    ///     SkipReason::Resumed,
    ///     SkipReason::NotTriggered { rule: Trigger::AnySucceeded },
    /// ] {
    ///     assert_eq!(r.to_string().parse::<SkipReason>(), Ok(r));
    /// }
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "condition false" => return Ok(SkipReason::ConditionFalse),
            "resumed" => return Ok(SkipReason::Resumed),
            _ => {}
        }
        if let Some(dependency) = s
            .strip_prefix("dependency \"")
            .and_then(|r| r.strip_suffix("\" failed"))
        {
            return Ok(SkipReason::DependencyFailed {
                dependency: dependency.into(),
            });
        }
        if let Some(rule) = s
            .strip_prefix("trigger rule ")
            .and_then(|r| r.strip_suffix(" not met"))
        {
            if let Ok(rule) = rule.parse() {
                return Ok(SkipReason::NotTriggered { rule });
            }
        }
        s.parse::<StopReason>()
            .map(SkipReason::Stopped)
            .map_err(|_| ReasonParseError {
                what: "skip reason",
                text: s.to_owned(),
            })
    }
}

/// A duration as [`fmt_duration`](super::fmt_duration) writes it: `250ms`, `1.5s`, `2m05s`.
/// Exact for what it writes (milliseconds below a second, hundredths below a minute, whole
/// seconds above).
fn parse_duration(s: &str) -> Option<Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    if let Some((m, rest)) = s.split_once('m') {
        let secs: u64 = rest.strip_suffix('s')?.parse().ok()?;
        let mins: u64 = m.parse().ok()?;
        return Some(Duration::from_secs(
            mins.checked_mul(60)?.checked_add(secs)?,
        ));
    }
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_and_skip_text_reads_back() {
        let stops = [
            StopReason::HookFailed {
                event: EventKind::TaskSuccess,
                message: "log full: \"x\" failed: y".into(),
            },
            StopReason::TimedOut(Duration::from_millis(250)),
            StopReason::TimedOut(Duration::from_secs(125)),
        ];
        for r in stops {
            assert_eq!(r.to_string().parse::<StopReason>(), Ok(r.clone()));
            let skip = SkipReason::Stopped(r);
            assert_eq!(skip.to_string().parse::<SkipReason>(), Ok(skip));
        }
        assert!("nonsense".parse::<StopReason>().is_err());
        assert_eq!(
            "nonsense".parse::<SkipReason>().unwrap_err().to_string(),
            "not a skip reason: \"nonsense\""
        );
        assert!("run timed out after soon".parse::<StopReason>().is_err());
    }
}
