//! Reports: what the scheduler knows of a run, copied for a snapshot or moved out at the end.

use super::task::{Stage, Task, NONE};
use super::Scheduler;
use crate::event::{SkipReason, Status, TaskError};
use crate::graph::{Graph, TaskId};
use crate::report::{AttemptRecord, RunReport, TaskReport};

/// `into_report` gives back the emptied part of the task states every this many tasks.
const RELEASE_EVERY: usize = 32 * 1024;

impl<V> Scheduler<V> {
    /// A snapshot of the run for reports: every selected and dynamic task.
    pub fn report(&self) -> RunReport {
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for (i, tk) in self.tasks.iter().enumerate() {
            if tk.stage != Stage::Excluded {
                let skip = tk.rare.as_ref().and_then(|r| r.skip.clone());
                let log = tk
                    .rare
                    .as_ref()
                    .map(|r| r.log.clone())
                    .filter(|l| !l.is_empty());
                let error = tk.error().cloned();
                tasks.push(task_report(&self.graph, i, tk, error, skip, log));
            }
        }
        RunReport {
            tasks,
            total: self.now,
            stop: self.stop.clone(),
            started_at: None,
            values: Default::default(),
        }
    }

    /// The report, as [`Scheduler::report`], for the end of a run: each task's error, skip
    /// reason and attempt log are moved out instead of copied.
    ///
    /// The tasks' states are consumed from the last one back, and their vector gives its
    /// memory back as it empties, so that the report, the largest thing a run makes (a million
    /// `TaskReport`s in `wide-1m`), mostly takes the place of the states rather than adding to
    /// them. The run's queues are freed first.
    pub fn into_report(mut self) -> RunReport {
        self.free_run_buffers();
        let included = self
            .tasks
            .iter()
            .filter(|t| t.stage != Stage::Excluded)
            .count();
        let mut tasks = Vec::with_capacity(included);
        while let Some(mut tk) = self.tasks.pop() {
            let i = self.tasks.len();
            if tk.stage != Stage::Excluded {
                // Nothing else needs the rare part any more: move its parts out.
                let (error, skip, log, waited_for) = match tk.rare.take() {
                    Some(rare) => {
                        let rare = *rare;
                        let log = Some(rare.log).filter(|l| !l.is_empty());
                        (rare.error, rare.skip, log, rare.waited_for)
                    }
                    None => (None, None, None, None),
                };
                let mut report = task_report(&self.graph, i, &tk, error, skip, log);
                report.waited_for = waited_for;
                tasks.push(report);
            }
            // Give the emptied part back as the report grows, a slice at a time (for a large
            // vector, the allocator shrinks it in place), so that the two never add up.
            if self.tasks.capacity() - self.tasks.len() >= RELEASE_EVERY {
                self.tasks.shrink_to_fit();
            }
        }
        tasks.reverse();
        RunReport {
            tasks,
            total: self.now,
            stop: self.stop.take(),
            started_at: None,
            values: Default::default(),
        }
    }

    /// The report and every task's value (indexed by [`TaskId::index`]; `None` for tasks that
    /// did not succeed or whose value was taken), moved out at the end of a run, so that a
    /// driver can hand results to its host without cloning host objects.
    pub fn into_parts(mut self) -> (RunReport, Vec<Option<V>>) {
        let values = self.tasks.iter_mut().map(|t| t.value.take()).collect();
        (self.into_report(), values)
    }
}

/// The report of task `i`, given the parts that [`Scheduler::report`] copies and
/// [`Scheduler::into_report`] moves.
fn task_report<V>(
    graph: &Graph,
    i: usize,
    tk: &Task<V>,
    error: Option<TaskError>,
    skip_reason: Option<SkipReason>,
    attempt_log: Option<thin_vec::ThinVec<AttemptRecord>>,
) -> TaskReport {
    let id = TaskId(i as u32);
    let mut report = TaskReport::new(id, tk.name.clone());
    report.status = tk.status;
    report.attempts = tk.attempt;
    report.started = tk.first_start.get();
    report.finished = tk.end.get();
    // A task that succeeded after failed attempts has no error: those are in its log.
    report.error = error
        .filter(|_| tk.status != Status::Succeeded)
        .map(Box::new);
    report.skip_reason = skip_reason.map(Box::new);
    // An implied log (see `Rare::log`) stays implied: the report makes its one record when
    // asked, from the same fields.
    if let Some(log) = attempt_log {
        report.set_attempt_log_thin(log);
    }
    if i < graph.len() {
        report.deps = graph.deps(id).into();
    }
    report.parent = (tk.parent != NONE).then_some(TaskId(tk.parent));
    report.waited_for = tk.rare.as_ref().and_then(|r| r.waited_for);
    report
}
