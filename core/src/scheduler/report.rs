//! Reports: what the scheduler knows of a run, copied for a snapshot or moved out at the end.

use super::task::Stage;
use super::Scheduler;
use crate::event::{SkipReason, TaskError};
use crate::graph::TaskId;
use crate::report::{AttemptRecord, RunReport, TaskReport};

impl<V> Scheduler<V> {
    /// A snapshot of the run for reports: every selected and dynamic task.
    pub fn report(&self) -> RunReport {
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for (i, tk) in self.tasks.iter().enumerate() {
            if tk.stage != Stage::Excluded {
                let skip = tk.rare.as_ref().and_then(|r| r.skip.clone());
                let (error, log) = (tk.error().cloned(), tk.attempt_log());
                tasks.push(self.task_report(i, error, skip, log));
            }
        }
        RunReport {
            tasks,
            total: self.now,
            stop: self.stop.clone(),
            started_at: None,
        }
    }

    /// The report, as [`Scheduler::report`], for the end of a run: each task's error, skip
    /// reason and attempt log are moved out instead of copied.
    pub fn into_report(mut self) -> RunReport {
        let mut tasks = Vec::with_capacity(self.tasks.len());
        for i in 0..self.tasks.len() {
            let tk = &mut self.tasks[i];
            if tk.stage != Stage::Excluded {
                // Nothing else needs the rare part any more: move it out whole.
                let rare = tk.rare.take().map(|r| *r).unwrap_or_default();
                let log = if rare.log.is_empty() {
                    tk.implied_log()
                } else {
                    rare.log
                };
                tasks.push(self.task_report(i, rare.error, rare.skip, log));
            }
        }
        RunReport {
            tasks,
            total: self.now,
            stop: self.stop.take(),
            started_at: None,
        }
    }

    /// The report of task `i`, given the parts that [`Scheduler::report`] copies and
    /// [`Scheduler::into_report`] moves.
    fn task_report(
        &self,
        i: usize,
        error: Option<TaskError>,
        skip_reason: Option<SkipReason>,
        attempt_log: Vec<AttemptRecord>,
    ) -> TaskReport {
        let tk = &self.tasks[i];
        let id = TaskId(i as u32);
        TaskReport {
            id,
            name: tk.name.clone(),
            status: tk.status,
            attempts: tk.attempt,
            started: tk.first_start.get(),
            finished: tk.end.get(),
            error,
            skip_reason,
            attempt_log,
            deps: if i < self.graph.len() {
                self.graph.deps(id).to_vec()
            } else {
                Vec::new()
            },
            parent: self.parent(id),
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
