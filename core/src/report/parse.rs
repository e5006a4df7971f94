//! A report read back from its JSON (`RunReport::to_json`'s shape, the CLI's `--report`, the
//! run history): statuses, attempts, times, errors and reasons as they were, and each result
//! the JSON holds, as a `serde_json::Value`.

use super::time::parse_rfc3339;
use super::{AttemptRecord, RunReport, TaskReport};
use crate::event::{ErrorKind, SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A text that is not a report's JSON, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a legato run report: {0}")]
pub struct ReportParseError(String);

#[derive(Deserialize)]
struct ReportIn {
    total_ms: f64,
    started_at: Option<String>,
    stop: Option<String>,
    tasks: Vec<TaskIn>,
}

#[derive(Deserialize)]
struct TaskIn {
    id: u32,
    name: String,
    status: String,
    attempts: u32,
    started_ms: Option<f64>,
    finished_ms: Option<f64>,
    error: Option<ErrorIn>,
    skip_reason: Option<String>,
    #[serde(default)]
    resumed: bool,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    deps: Vec<String>,
    parent: Option<String>,
    waited_for: Option<String>,
    #[serde(default)]
    attempt_log: Vec<AttemptIn>,
}

#[derive(Deserialize)]
struct ErrorIn {
    kind: String,
    message: String,
}

#[derive(Deserialize)]
struct AttemptIn {
    start_ms: f64,
    end_ms: Option<f64>,
    error: Option<ErrorIn>,
}

fn duration(ms: f64, what: &str) -> Result<Duration, ReportParseError> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
        ReportParseError(format!(
            "{what} must be a number of milliseconds >= 0, got {ms}"
        ))
    })
}

fn error(e: &ErrorIn) -> Result<TaskError, ReportParseError> {
    let kind = match e.kind.as_str() {
        "failed" => ErrorKind::Failed,
        "panicked" => ErrorKind::Panicked,
        "timed_out" => ErrorKind::TimedOut,
        "cancelled" => ErrorKind::Cancelled,
        "depth" => ErrorKind::Depth,
        other => return Err(ReportParseError(format!("unknown error kind {other:?}"))),
    };
    Ok(TaskError::new(kind, e.message.as_str()))
}

impl RunReport {
    /// Reads a report back from its JSON ([`RunReport::to_json`]): every task's status,
    /// attempts, times, error and skip reason, the run's stop reason, start and length, and
    /// each result the JSON holds, as a `serde_json::Value` (`report.result::<serde_json::Value>(name)`;
    /// a result JSON could not hold was written `null` and does not come back).
    ///
    /// # Errors
    ///
    /// [`ReportParseError`] for a text that is not JSON or not a report's shape (a field
    /// missing, an unknown status), naming what is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::{BoxError, Flow, RunReport};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut flow = Flow::new();
    /// flow.task("build", |_| async { Ok::<_, BoxError>(()) })?;
    /// flow.task("test", |_| async { Err::<(), _>("boom") })?.after(["build"]);
    /// let report = flow.run().await.unwrap_err().report().unwrap().clone();
    /// let back = RunReport::from_json(&report.to_json()).unwrap();
    /// assert_eq!(back.to_json(), report.to_json());
    /// assert!(RunReport::from_json("{}").unwrap_err().to_string().starts_with("not a legato run report"));
    /// # Ok::<(), legato::FlowError>(())
    /// # }).unwrap();
    /// ```
    pub fn from_json(text: &str) -> Result<RunReport, ReportParseError> {
        let r: ReportIn =
            serde_json::from_str(text).map_err(|e| ReportParseError(e.to_string()))?;
        // Names stand for tasks: a dependency is the task of that name; a call's parent, the
        // task of that name that ran when the call started (the latest such before it: a
        // dynamic name may repeat, and the JSON names the parent only).
        let mut first: HashMap<&str, u32> = HashMap::new();
        for t in &r.tasks {
            first.entry(t.name.as_str()).or_insert(t.id);
        }
        let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut tasks = Vec::with_capacity(r.tasks.len());
        let mut results: Vec<(usize, super::AnyValue)> = Vec::new();
        // Ids index the results: a made-up huge one must not allocate for it.
        let id_bound = r.tasks.len().saturating_mul(4).saturating_add(1 << 16);
        if let Some(t) = r.tasks.iter().find(|t| t.id as usize > id_bound) {
            return Err(ReportParseError(format!(
                "task id {} of task {:?} is out of range",
                t.id, t.name
            )));
        }
        for (i, t) in r.tasks.iter().enumerate() {
            let id = |name: &str, what: &str| {
                first
                    .get(name)
                    .map(|&k| TaskId::from_report_index(k))
                    .ok_or_else(|| {
                        ReportParseError(format!(
                            "{what} {name:?} of task {:?} is not in the report",
                            t.name
                        ))
                    })
            };
            let mut tr = TaskReport::new(
                TaskId::from_report_index(t.id),
                Arc::<str>::from(t.name.as_str()),
            );
            tr.status = Status::ALL
                .into_iter()
                .find(|s| s.as_str() == t.status)
                .ok_or_else(|| {
                    ReportParseError(format!(
                        "unknown status {:?} of task {:?}",
                        t.status, t.name
                    ))
                })?;
            tr.attempts = t.attempts;
            tr.resumed = t.resumed;
            if !t.result.is_null() {
                results.push((t.id as usize, Arc::new(t.result.clone())));
            }
            tr.started = t
                .started_ms
                .map(|ms| duration(ms, "started_ms"))
                .transpose()?;
            tr.finished = t
                .finished_ms
                .map(|ms| duration(ms, "finished_ms"))
                .transpose()?;
            tr.error = t
                .error
                .as_ref()
                .map(|e| error(e).map(Box::new))
                .transpose()?;
            tr.skip_reason = t
                .skip_reason
                .as_deref()
                .map(|s| {
                    s.parse::<SkipReason>()
                        .map(Box::new)
                        .map_err(|e| ReportParseError(e.to_string()))
                })
                .transpose()?;
            tr.deps = t
                .deps
                .iter()
                .map(|d| id(d, "dependency"))
                .collect::<Result<_, _>>()?;
            tr.parent = match &t.parent {
                Some(p) => {
                    let before = by_name.get(p.as_str()).map_or(&[][..], Vec::as_slice);
                    let at = t.started_ms.unwrap_or(f64::INFINITY);
                    let running = |k: &&usize| {
                        let c = &r.tasks[**k];
                        c.started_ms.is_some_and(|s| s <= at)
                            && c.finished_ms.is_none_or(|f| f >= at)
                    };
                    let k = before
                        .iter()
                        .rev()
                        .find(running)
                        .or(before.last())
                        .ok_or_else(|| {
                            ReportParseError(format!(
                                "parent {p:?} of task {:?} is not before it",
                                t.name
                            ))
                        })?;
                    Some(TaskId::from_report_index(r.tasks[*k].id))
                }
                None => None,
            };
            tr.waited_for = t
                .waited_for
                .as_deref()
                .map(|w| id(w, "waited_for"))
                .transpose()?;
            let log = t
                .attempt_log
                .iter()
                .map(|a| {
                    Ok(AttemptRecord {
                        start: duration(a.start_ms, "start_ms")?,
                        end: a.end_ms.map(|ms| duration(ms, "end_ms")).transpose()?,
                        error: a.error.as_ref().map(error).transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, ReportParseError>>()?;
            tr.set_attempt_log(log);
            by_name.entry(t.name.as_str()).or_default().push(i);
            tasks.push(tr);
        }
        Ok(RunReport {
            tasks,
            total: duration(r.total_ms, "total_ms")?,
            stop: r
                .stop
                .as_deref()
                .map(|s| {
                    s.parse::<StopReason>()
                        .map_err(|e| ReportParseError(e.to_string()))
                })
                .transpose()?,
            started_at: r
                .started_at
                .as_deref()
                .map(|s| {
                    parse_rfc3339(s).ok_or_else(|| {
                        ReportParseError(format!("started_at is not an RFC 3339 time: {s:?}"))
                    })
                })
                .transpose()?,
            values: super::Values::from_pairs(results),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(extra: &str) -> String {
        format!(
            r#"{{"total_ms": 5, "started_at": null, "stop": null, "tasks": [{{"id": 0, "name": "a",
            "status": "succeeded", "attempts": 1, "started_ms": 0, "finished_ms": 5,
            "error": null, "skip_reason": null, "deps": [], "parent": null, "attempt_log": []{extra}}}]}}"#
        )
    }

    #[test]
    fn a_malformed_report_names_what_is_wrong() {
        assert!(RunReport::from_json(&task("")).is_ok());
        let err = |text: &str| RunReport::from_json(text).unwrap_err().to_string();
        assert!(err("not json").starts_with("not a legato run report: expected"));
        assert!(err(r#"{"tasks": []}"#).contains("missing field `total_ms`"));
        let bad = task("").replace("\"succeeded\"", "\"fine\"");
        assert_eq!(
            err(&bad),
            "not a legato run report: unknown status \"fine\" of task \"a\""
        );
        let bad = task("").replace("\"deps\": []", "\"deps\": [\"zz\"]");
        assert_eq!(
            err(&bad),
            "not a legato run report: dependency \"zz\" of task \"a\" is not in the report"
        );
        let bad = task("").replace("\"skip_reason\": null", "\"skip_reason\": \"why not\"");
        assert_eq!(
            err(&bad),
            "not a legato run report: not a skip reason: \"why not\""
        );
        let bad = task("").replace("\"started_ms\": 0", "\"started_ms\": -3");
        assert!(err(&bad).contains("started_ms must be a number of milliseconds >= 0"));
    }
}
