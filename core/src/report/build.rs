//! A [`RunReport`] built from a run's [`Scheduler`]: copied for a snapshot, or moved out at the
//! end. The report reads the scheduler's facts of each task; the scheduler knows nothing of
//! reports.

use super::{RunReport, RunShape, TaskReport};
use crate::event::Status;
use crate::graph::TaskId;
use crate::scheduler::facts::{RunFacts, TaskFacts};
use crate::scheduler::{Scheduler, Spare};
use std::mem::MaybeUninit;

impl<V> Scheduler<V> {
    /// A snapshot of the run for reports: every selected and dynamic task.
    #[must_use]
    pub fn report(&self) -> RunReport {
        let count = self.reported_count();
        let mut shape = RunShape::new(self.graph().clone(), self.dynamic_names().to_vec(), count);
        let mut tasks = Vec::with_capacity(count);
        let run = self.each_task_facts(|f| tasks.push(task_report(&mut shape, f)));
        run_report(tasks, run)
    }

    /// The report, as [`Scheduler::report`], for the end of a run: each task's error, skip
    /// reason and attempt log are moved out instead of copied, and its name and dependencies
    /// are views of the run's (one shared allocation for the whole report).
    ///
    /// The tasks' states are consumed from the last one back, and their vector gives its
    /// memory back as it empties, so that the report, the largest thing a run makes (a million
    /// `TaskReport`s in `wide-1m`), mostly takes the place of the states rather than adding to
    /// them. The run's queues are freed first. Each record is written straight into its place,
    /// from the last one back, so the report is never reversed.
    #[must_use]
    pub fn into_report(self) -> RunReport {
        self.into_report_and_spare().0
    }

    /// [`Scheduler::into_report`], and the run's working memory for a later run
    /// ([`Scheduler::with_spare`]).
    #[must_use]
    pub fn into_report_and_spare(mut self) -> (RunReport, Spare<V>) {
        let count = self.reported_count();
        let dynamic = self.take_dynamic_names();
        let mut shape = RunShape::new(self.graph().clone(), dynamic, count);
        let mut tasks: Vec<TaskReport> = Vec::with_capacity(count);
        let mut filled = Backfill {
            slots: &mut tasks.spare_capacity_mut()[..count],
            next: count,
        };
        let (run, spare) = self.into_task_facts(|f| filled.push(task_report(&mut shape, f)));
        debug_assert_eq!(filled.next, 0, "as many facts as counted");
        // Not reached (as many facts come as `reported_count` counts) unless fewer came: then
        // keep what was written, in order, without reading a slot that was not.
        let short = (filled.next != 0).then(|| {
            filled.slots[filled.next..]
                .iter_mut()
                // SAFETY: the slots from `next` on were written by `push`, and each is read
                // once (the vector's length stays 0, so nothing else drops them).
                .map(|slot| unsafe { slot.assume_init_read() })
                .collect::<Vec<_>>()
        });
        match short {
            // SAFETY: every slot below `count` (within the capacity) was written, once.
            None => unsafe { tasks.set_len(count) },
            Some(kept) => tasks = kept,
        }
        (run_report(tasks, run), spare)
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

/// Writes records into a vector's spare capacity from its end back (the facts of a run's
/// end come from the last task back).
struct Backfill<'a> {
    slots: &'a mut [MaybeUninit<TaskReport>],
    /// The slots from here on are written.
    next: usize,
}

impl Backfill<'_> {
    #[inline]
    fn push(&mut self, t: TaskReport) {
        // More facts than counted cannot come; if they did, the extra one is dropped.
        if let Some(at) = self.next.checked_sub(1) {
            self.slots[at].write(t);
            self.next = at;
        }
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
#[inline]
fn task_report(shape: &mut RunShape, f: TaskFacts) -> TaskReport {
    // A restored task ends `succeeded`: it is marked resumed, not skipped.
    let (resumed, skip_reason) = match f.skip {
        Some(crate::event::SkipReason::Resumed) => (true, None),
        skip => (false, skip.map(Box::new)),
    };
    TaskReport {
        id: f.id,
        name: shape.name(f.id),
        status: f.status,
        attempts: f.attempts,
        started: f.started,
        finished: f.finished,
        // A task that succeeded after failed attempts has no error: those are in its log.
        error: f
            .error
            .filter(|_| f.status != Status::Succeeded)
            .map(Box::new),
        skip_reason,
        resumed,
        // An implied log stays implied: the report makes its one record when asked, from
        // the same fields.
        log: f.log,
        deps: shape.deps(f.id),
        parent: f.parent,
        waited_for: f.waited_for,
    }
}
