//! A finished run's report, held natively until JS drops it; JSON, Gantt and HTML on demand.

use crate::driver::{ms, status_code};
use legato::report::RunReport;

/// The report of a finished run (wrapped by the facade's `RunReport`).
#[napi]
#[derive(Debug)]
pub struct NativeReport {
    report: RunReport,
}

impl NativeReport {
    pub(crate) fn new(report: RunReport) -> Self {
        NativeReport { report }
    }
}

#[napi]
impl NativeReport {
    /// Whether every task succeeded and the run was not stopped.
    #[napi(getter)]
    pub fn ok(&self) -> bool {
        self.report.ok()
    }

    /// The run's duration, ms.
    #[napi(getter)]
    pub fn total_ms(&self) -> f64 {
        ms(self.report.total)
    }

    /// Why the run stopped early, if it did.
    #[napi(getter)]
    pub fn stop(&self) -> Option<String> {
        self.report.stop.as_ref().map(|s| s.to_string())
    }

    /// The report as JSON (the one shape shared by every door and the CLI).
    #[napi]
    pub fn json(&self, pretty: bool) -> String {
        if pretty {
            self.report.to_json()
        } else {
            self.report.to_json_value().to_string()
        }
    }

    /// The run as a Mermaid Gantt chart.
    #[napi]
    pub fn mermaid(&self) -> String {
        self.report.to_mermaid_gantt()
    }

    /// A self-contained HTML page with the run's timeline.
    #[napi]
    pub fn html(&self, title: String) -> String {
        self.report.to_html(&title)
    }

    /// Task ids in report order (the ids the facade keeps values and errors under).
    #[napi]
    pub fn ids(&self) -> Vec<u32> {
        self.report.tasks.iter().map(|t| t.id.as_u32()).collect()
    }

    /// Status codes in report order (0 pending … 3 succeeded, 4 failed, 5 timed out,
    /// 6 skipped, 7 cancelled).
    #[napi]
    pub fn statuses(&self) -> Vec<u32> {
        self.report
            .tasks
            .iter()
            .map(|t| status_code(t.status))
            .collect()
    }
}
