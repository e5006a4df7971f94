//! The JSON form of a report: one shape for every front door and the CLI's `--report`.

use super::{ms, rfc3339, AttemptRecord, Counts, RunReport, TaskReport};
use crate::event::TaskError;
use serde::{Serialize, Serializer};

#[derive(Serialize)]
struct ReportJson<'a> {
    ok: bool,
    total_ms: f64,
    started_at: Option<String>,
    stop: Option<String>,
    counts: Counts,
    critical_path: Vec<&'a str>,
    tasks: Vec<TaskJson<'a>>,
}

#[derive(Serialize)]
struct TaskJson<'a> {
    id: u32,
    name: &'a str,
    status: &'static str,
    attempts: u32,
    started_ms: Option<f64>,
    finished_ms: Option<f64>,
    duration_ms: f64,
    error: Option<ErrorJson<'a>>,
    skip_reason: Option<String>,
    resumed: bool,
    deps: Vec<&'a str>,
    parent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waited_for: Option<&'a str>,
    attempt_log: Vec<AttemptJson<'a>>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    kind: &'static str,
    message: &'a str,
}

#[derive(Serialize)]
struct AttemptJson<'a> {
    start_ms: f64,
    end_ms: Option<f64>,
    error: Option<ErrorJson<'a>>,
}

fn error(e: &TaskError) -> ErrorJson<'_> {
    ErrorJson {
        kind: e.kind.as_str(),
        message: &e.message,
    }
}

fn attempt(a: &AttemptRecord) -> AttemptJson<'_> {
    AttemptJson {
        start_ms: ms(a.start),
        end_ms: a.end.map(ms),
        error: a.error.as_ref().map(error),
    }
}

impl RunReport {
    fn json_view(&self) -> ReportJson<'_> {
        let name = |id| self.task(id).map(|t: &TaskReport| &*t.name);
        ReportJson {
            ok: self.ok(),
            total_ms: ms(self.total),
            started_at: self.started_at.map(rfc3339),
            stop: self.stop.as_ref().map(ToString::to_string),
            counts: self.counts(),
            critical_path: self.critical_path_names(),
            tasks: self
                .tasks
                .iter()
                .map(|t| TaskJson {
                    id: t.id.0,
                    name: &t.name,
                    status: t.status.as_str(),
                    attempts: t.attempts,
                    started_ms: t.started.map(ms),
                    finished_ms: t.finished.map(ms),
                    duration_ms: ms(t.duration()),
                    error: t.error.as_deref().map(error),
                    skip_reason: t.skip_reason.as_ref().map(ToString::to_string),
                    resumed: t.resumed,
                    deps: t.deps.iter().filter_map(|&d| name(d)).collect(),
                    parent: t.parent.and_then(name),
                    waited_for: t.waited_for.and_then(name),
                    attempt_log: match t.attempt_log() {
                        std::borrow::Cow::Borrowed(log) => log.iter().map(attempt).collect(),
                        // An implied log: its one record has no error to borrow.
                        std::borrow::Cow::Owned(log) => log
                            .iter()
                            .map(|a| AttemptJson {
                                error: None,
                                ..attempt(a)
                            })
                            .collect(),
                    },
                })
                .collect(),
        }
    }

    /// The report as pretty-printed JSON (see [`RunReport::to_json_value`] for the shape).
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("hello"))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         s.attempt_finished(task, attempt, Outcome::Ok(()), Duration::from_micros(2500)).unwrap();
    ///     }
    /// }
    /// let json = s.report().to_json();
    /// assert!(json.starts_with("{\n  \"ok\": true,\n  \"total_ms\": 2.5,\n"));
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes to JSON")
    }

    /// The report as a JSON value. Times are milliseconds (`f64`) from the run's start; names
    /// stand for tasks; `null` marks what is absent:
    ///
    /// ```text
    /// { "ok": bool, "total_ms": f64,
    ///   "started_at": "2024-05-01T12:00:00.000Z" | null,   // RFC 3339, UTC
    ///   "stop": "fail-fast: task \"db\" failed" | null,      // why the run stopped early
    ///   "counts": { "pending": n, "ready": n, "running": n, "succeeded": n,
    ///               "failed": n, "timed_out": n, "skipped": n, "cancelled": n },
    ///   "critical_path": [name, …],
    ///   "tasks": [ { "id": n, "name": str, "status": "succeeded" | …, "attempts": n,
    ///                "started_ms": f64 | null, "finished_ms": f64 | null,
    ///                "duration_ms": f64,                   // 0 if it never started
    ///                "error": { "kind": "failed" | "panicked" | "timed_out" | "cancelled",
    ///                           "message": str } | null,
    ///                "skip_reason": "dependency \"x\" failed" | null,
    ///                "resumed": bool,                      // succeeded in the resumed run
    ///                "deps": [name, …], "parent": name | null,
    ///                "attempt_log": [ { "start_ms": f64, "end_ms": f64 | null,
    ///                                   "error": {…} | null }, … ] }, … ] }
    /// ```
    ///
    /// `id` is the task's [`TaskId`](crate::graph::TaskId); it tells apart dynamic tasks that
    /// share a name. A dependency missing from the report is left out of `deps`.
    /// `RunReport` also implements `serde::Serialize` with this shape.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// use serde_json::json;
    ///
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("build"))?;
    /// b.add(TaskSpec::new("test").after(["build"]))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         s.attempt_finished(task, attempt, Outcome::fail("no compiler"), Duration::from_millis(4)).unwrap();
    ///     }
    /// }
    /// let v = s.report().to_json_value();
    /// assert_eq!(v["ok"], false);
    /// assert_eq!(v["counts"]["failed"], 1);
    /// assert_eq!(v["critical_path"], json!(["build"]));
    /// assert_eq!(v["tasks"][0]["error"], json!({"kind": "failed", "message": "no compiler"}));
    /// assert_eq!(v["tasks"][0]["attempt_log"][0]["end_ms"], 4.0);
    /// assert_eq!(v["tasks"][1]["skip_reason"], "dependency \"build\" failed");
    /// assert_eq!(v["tasks"][1]["deps"], json!(["build"]));
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a report always serializes to JSON")
    }
}

/// Serializes with the shape described at [`RunReport::to_json_value`].
impl Serialize for RunReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json_view().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, sample, Build};
    use crate::event::{ErrorKind, StopReason};
    use crate::graph::TaskId;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn sample_report_snapshot() {
        let mut r = sample();
        r.started_at = Some(UNIX_EPOCH + Duration::from_millis(1_714_564_800_123));
        assert_eq!(
            r.to_json_value(),
            json!({
                "ok": false,
                "total_ms": 40.0,
                "started_at": "2024-05-01T12:00:00.123Z",
                "stop": null,
                "counts": {
                    "pending": 0, "ready": 0, "running": 0, "succeeded": 4,
                    "failed": 0, "timed_out": 1, "skipped": 1, "cancelled": 0
                },
                "critical_path": ["install", "lint", "docs"],
                "tasks": [
                    {
                        "id": 0, "name": "install", "status": "succeeded", "attempts": 1,
                        "started_ms": 0.0, "finished_ms": 10.0, "duration_ms": 10.0,
                        "error": null, "skip_reason": null, "resumed": false, "deps": [], "parent": null,
                        "attempt_log": [{"start_ms": 0.0, "end_ms": 10.0, "error": null}]
                    },
                    {
                        "id": 1, "name": "lint", "status": "succeeded", "attempts": 1,
                        "started_ms": 10.0, "finished_ms": 15.0, "duration_ms": 5.0,
                        "error": null, "skip_reason": null, "resumed": false, "deps": ["install"], "parent": null,
                        "attempt_log": [{"start_ms": 10.0, "end_ms": 15.0, "error": null}]
                    },
                    {
                        "id": 2, "name": "build", "status": "succeeded", "attempts": 2,
                        "started_ms": 10.0, "finished_ms": 30.0, "duration_ms": 20.0,
                        "error": null, "skip_reason": null, "resumed": false, "deps": ["install"], "parent": null,
                        "attempt_log": [
                            {"start_ms": 10.0, "end_ms": 18.0,
                             "error": {"kind": "failed", "message": "oops"}},
                            {"start_ms": 20.0, "end_ms": 30.0, "error": null}
                        ]
                    },
                    {
                        "id": 3, "name": "deploy", "status": "succeeded", "attempts": 1,
                        "started_ms": 30.0, "finished_ms": 32.0, "duration_ms": 2.0,
                        "error": null, "skip_reason": null, "resumed": false, "deps": ["lint", "build"],
                        "parent": null,
                        "attempt_log": [{"start_ms": 30.0, "end_ms": 32.0, "error": null}]
                    },
                    {
                        "id": 4, "name": "docs", "status": "timed_out", "attempts": 1,
                        "started_ms": 15.0, "finished_ms": 40.0, "duration_ms": 25.0,
                        "error": {"kind": "timed_out", "message": "timed out after 25ms"},
                        "skip_reason": null, "resumed": false, "deps": ["lint"], "parent": null,
                        "attempt_log": [
                            {"start_ms": 15.0, "end_ms": 40.0,
                             "error": {"kind": "timed_out", "message": "timed out after 25ms"}}
                        ]
                    },
                    {
                        "id": 5, "name": "publish", "status": "skipped", "attempts": 0,
                        "started_ms": null, "finished_ms": null, "duration_ms": 0.0,
                        "error": null, "skip_reason": "dependency \"docs\" failed", "resumed": false,
                        "deps": ["docs"], "parent": null, "attempt_log": []
                    }
                ]
            })
        );
    }

    #[test]
    fn pretty_text_keeps_field_order() {
        let r = Build::new(1).ran("a", &[], &[(0, 1, None)]).0;
        let text = r.to_json();
        let keys: Vec<usize> = [
            "\"ok\"",
            "\"total_ms\"",
            "\"started_at\"",
            "\"stop\"",
            "\"counts\"",
            "\"critical_path\"",
            "\"tasks\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(text.contains("\n  \"tasks\": [\n    {\n      \"id\": 0,\n      \"name\": \"a\","));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            r.to_json_value()
        );
    }

    #[test]
    fn stop_parent_running_attempt_and_sub_millisecond_times() {
        let mut r = Build::new(3)
            .ran("main", &[], &[(0, 3, None)])
            .ran("child", &[], &[(1, 2, None)])
            .0;
        r.stop = Some(StopReason::FailFast {
            task: "child".into(),
        });
        r.tasks[1].parent = Some(TaskId(0));
        r.tasks[1].attempt_log_mut()[0].end = None;
        r.tasks[1].attempt_log_mut()[0].start = Duration::from_micros(1250);
        r.tasks[1].finished = None;
        r.tasks[0].error = Some(Box::new(err(ErrorKind::Cancelled, "cancelled")));
        let v = r.to_json_value();
        assert_eq!(v["ok"], false);
        assert_eq!(v["stop"], "fail-fast: task \"child\" failed");
        assert_eq!(v["started_at"], json!(null));
        assert_eq!(v["tasks"][1]["parent"], "main");
        assert_eq!(v["tasks"][1]["finished_ms"], json!(null));
        assert_eq!(v["tasks"][1]["duration_ms"], 0.0);
        assert_eq!(
            v["tasks"][1]["attempt_log"],
            json!([{"start_ms": 1.25, "end_ms": null, "error": null}])
        );
        assert_eq!(v["tasks"][0]["error"]["kind"], "cancelled");
        assert_eq!(v["critical_path"], json!(["main"]));
    }
}
