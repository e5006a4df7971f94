//! A [`RunReport`] built from a run's [`Scheduler`]: copied for a snapshot, or moved out at the
//! end. The report reads the scheduler's facts of each task; the scheduler knows nothing of
//! reports.

use super::{RunReport, TaskReport};
use crate::event::Status;
use crate::graph::Graph;
use crate::graph::TaskId;
use crate::scheduler::facts::{RunFacts, TaskFacts};
use crate::scheduler::Scheduler;

impl<V> Scheduler<V> {
    /// A snapshot of the run for reports: every selected and dynamic task.
    #[must_use]
    pub fn report(&self) -> RunReport {
        let mut tasks = Vec::with_capacity(self.task_count());
        let run = self.each_task_facts(|f| tasks.push(task_report(self.graph(), f)));
        run_report(tasks, run)
    }

    /// The report, as [`Scheduler::report`], for the end of a run: each task's error, skip
    /// reason and attempt log are moved out instead of copied.
    ///
    /// The tasks' states are consumed from the last one back, and their vector gives its
    /// memory back as it empties, so that the report, the largest thing a run makes (a million
    /// `TaskReport`s in `wide-1m`), mostly takes the place of the states rather than adding to
    /// them. The run's queues are freed first.
    #[must_use]
    pub fn into_report(self) -> RunReport {
        let graph = self.graph().clone();
        let mut tasks = Vec::with_capacity(self.reported_count());
        let run = self.into_task_facts(|f| tasks.push(task_report(&graph, f)));
        tasks.reverse();
        run_report(tasks, run)
    }

    /// The report and every task's value (indexed by [`TaskId::index`]; `None` for tasks that
    /// did not succeed or whose value was taken), moved out at the end of a run, so that a
    /// driver can hand results to its host without cloning host objects.
    #[must_use]
    pub fn into_parts(mut self) -> (RunReport, Vec<Option<V>>) {
        let n = self.task_count() as u32;
        let values = (0..n).map(|i| self.take_value(TaskId(i))).collect();
        (self.into_report(), values)
    }
}

fn run_report(tasks: Vec<TaskReport>, run: RunFacts) -> RunReport {
    RunReport {
        tasks,
        total: run.total,
        stop: run.stop,
        started_at: None,
        values: Default::default(),
    }
}

/// The report of one task, from the scheduler's facts.
fn task_report(graph: &Graph, f: TaskFacts) -> TaskReport {
    let mut report = TaskReport::new(f.id, f.name);
    report.status = f.status;
    report.attempts = f.attempts;
    report.started = f.started;
    report.finished = f.finished;
    // A task that succeeded after failed attempts has no error: those are in its log.
    report.error = f
        .error
        .filter(|_| f.status != Status::Succeeded)
        .map(Box::new);
    // A restored task ends `succeeded`: it is marked resumed, not skipped.
    match f.skip {
        Some(crate::event::SkipReason::Resumed) => report.resumed = true,
        skip => report.skip_reason = skip.map(Box::new),
    }
    // An implied log stays implied: the report makes its one record when asked, from the
    // same fields.
    if let Some(log) = f.log {
        report.set_attempt_log_thin(log);
    }
    if f.id.index() < graph.len() {
        report.deps = graph.deps(f.id).into();
    }
    report.parent = f.parent;
    report.waited_for = f.waited_for;
    report
}
