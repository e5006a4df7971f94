//! A finished run's report, held natively until JS drops it; JSON, Gantt and HTML on demand.
//!
//! A run that is over keeps its scheduler here and makes the report of every task only when
//! something reads it (`json`, `mermaid`, `html`, `ids`, `statuses`): `ok`, the total and the
//! stop reason need no report, and most runs are only asked whether they succeeded.

use crate::driver::{epoch_ms, ms};
use crate::errors::{coded, guard};
use legato::event::{Status, StopReason};
use legato::host::code;
use legato::report::RunReport;
use legato::scheduler::Scheduler;
use std::time::{Duration, SystemTime};

enum State {
    /// The finished run, its total and when it started: the report is not made yet.
    Finished(Box<Scheduler<()>>, Duration, Option<SystemTime>),
    Report(RunReport),
    /// Only while the report is being made.
    Making,
}

/// The report of a finished run (wrapped by the facade's `RunReport`).
#[napi]
pub struct NativeReport {
    state: State,
}

thread_local! {
    static LIVE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many reports JS still holds (see [`crate::flow::live_counts`]).
pub(crate) fn live_reports() -> u32 {
    LIVE.get()
}

impl Drop for NativeReport {
    fn drop(&mut self) {
        LIVE.set(LIVE.get().saturating_sub(1));
    }
}

impl std::fmt::Debug for NativeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeReport").finish_non_exhaustive()
    }
}

impl NativeReport {
    pub(crate) fn new(report: RunReport) -> Self {
        LIVE.set(LIVE.get() + 1);
        NativeReport {
            state: State::Report(report),
        }
    }

    /// The report of a finished run, made when first read. `total` is the run's duration.
    pub(crate) fn finished(
        sched: Scheduler<()>,
        total: Duration,
        started_at: Option<SystemTime>,
    ) -> Self {
        LIVE.set(LIVE.get() + 1);
        NativeReport {
            state: State::Finished(Box::new(sched), total, started_at),
        }
    }

    fn stop_reason(&self) -> Option<&StopReason> {
        match &self.state {
            State::Finished(s, ..) => s.stop_reason(),
            State::Report(r) => r.stop.as_ref(),
            State::Making => None,
        }
    }

    /// The report (made now if the run's is not yet): what a resumed run reads.
    pub(crate) fn report(&mut self) -> &RunReport {
        if let State::Finished(..) = self.state {
            let State::Finished(s, _, started_at) =
                std::mem::replace(&mut self.state, State::Making)
            else {
                unreachable!()
            };
            let mut r = s.into_report();
            r.started_at = started_at;
            self.state = State::Report(r);
        }
        match &self.state {
            State::Report(r) => r,
            _ => unreachable!(),
        }
    }
}

#[napi]
impl NativeReport {
    /// Whether the run was not stopped and every task succeeded or was skipped by a condition
    /// or a trigger rule (a branch not taken): the core's [`RunReport::ok`].
    #[napi(getter)]
    pub fn ok(&self) -> bool {
        match &self.state {
            // Every selected task is decided once the run is over; a task the targets left
            // out is never started (it stays pending) and is not in the report.
            State::Finished(s, ..) => {
                s.stop_reason().is_none()
                    && (0..s.task_count() as u32).all(|t| {
                        s.task_id(t).is_some_and(|id| match s.status(id) {
                            Status::Succeeded | Status::Pending => true,
                            Status::Skipped => s.skip_reason(id).is_some_and(|r| r.is_not_taken()),
                            _ => false,
                        })
                    })
            }
            State::Report(r) => r.ok(),
            State::Making => false,
        }
    }

    /// The run's duration, ms.
    #[napi(getter)]
    pub fn total_ms(&self) -> f64 {
        match &self.state {
            State::Finished(_, total, _) => ms(*total),
            State::Report(r) => ms(r.total),
            State::Making => 0.0,
        }
    }

    /// When the run started, epoch ms (null when the report does not say: a report read back
    /// from a JSON text whose `started_at` is null).
    #[napi(getter)]
    pub fn started_at_ms(&self) -> Option<f64> {
        let at = match &self.state {
            State::Finished(_, _, at) => *at,
            State::Report(r) => r.started_at,
            State::Making => None,
        }?;
        Some(epoch_ms(at))
    }

    /// Why the run stopped early, if it did.
    #[napi(getter)]
    pub fn stop(&self) -> Option<String> {
        self.stop_reason().map(|s| s.to_string())
    }

    /// Why the run did not succeed, worded as in every door (`task "build" failed: <message>`,
    /// `run timed out after 100ms`, …); null for a run that succeeded.
    #[napi]
    pub fn failure_reason(&mut self) -> Option<String> {
        self.report().failure_reason()
    }

    /// The report as JSON (the one shape shared by every door and the CLI).
    #[napi]
    pub fn json(&mut self, pretty: bool) -> String {
        if pretty {
            self.report().to_json()
        } else {
            self.report().to_json_value().to_string()
        }
    }

    /// The run as a Mermaid Gantt chart.
    #[napi]
    pub fn mermaid(&mut self) -> String {
        self.report().to_mermaid_gantt()
    }

    /// A self-contained HTML page with the run's timeline.
    #[napi]
    pub fn html(&mut self, title: String) -> String {
        self.report().to_html(&title)
    }

    /// Task ids in report order (the ids the facade keeps values and errors under).
    #[napi]
    pub fn ids(&mut self) -> Vec<u32> {
        self.report().tasks.iter().map(|t| t.id.as_u32()).collect()
    }

    /// Status codes in report order (0 pending … 3 succeeded, 4 failed, 5 timed out,
    /// 6 skipped, 7 cancelled).
    #[napi]
    pub fn statuses(&mut self) -> Vec<u32> {
        self.report()
            .tasks
            .iter()
            .map(|t| code::status(t.status))
            .collect()
    }
}

/// A report read back from its JSON text (`RunReport.fromJSON`: the text `JSON.stringify(report)`
/// or the CLI's `--report` writes), by the core's one reader ([`RunReport::from_json`]): every
/// task's status, attempts, times, error, skip reason and result (a JSON value). A text that
/// is not a report's JSON is refused with code `ERR_LEGATO_INVALID_REPORT` (a `SyntaxError`
/// in the facade) saying what is wrong.
#[napi]
pub fn report_from_json(text: String) -> napi::Result<NativeReport, String> {
    guard(|| {
        RunReport::from_json(&text)
            .map(NativeReport::new)
            .map_err(|e| coded("ERR_LEGATO_INVALID_REPORT", format!("text: {e}")))
    })
}
