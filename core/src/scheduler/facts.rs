//! What the scheduler knows of each task, in its own terms, for the [`report`](crate::report)
//! module to build a run report from: the report depends on the scheduler, not the reverse.

use super::task::{AttemptRecord, Stage, Task, NONE};
use super::{Scheduler, Spare};
use crate::event::{SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
use std::sync::Arc;
use std::time::Duration;

/// `into_task_facts` gives back the emptied part of the task states every this many tasks.
const RELEASE_EVERY: usize = 32 * 1024;

/// The facts of one task of a run (a selected or a dynamic one).
#[derive(Debug)]
pub(crate) struct TaskFacts {
    pub(crate) id: TaskId,
    pub(crate) status: Status,
    /// Attempts started so far.
    pub(crate) attempts: u32,
    pub(crate) started: Option<Duration>,
    pub(crate) finished: Option<Duration>,
    /// The last error (also that of a failed attempt before a success).
    pub(crate) error: Option<TaskError>,
    pub(crate) skip: Option<SkipReason>,
    /// The attempt log when it is explicit; `None` while it is implied by `attempts`,
    /// `started` and `finished` (see the scheduler's `Rare::log`).
    pub(crate) log: Option<thin_vec::ThinVec<AttemptRecord>>,
    /// The task that spawned a dynamic task.
    pub(crate) parent: Option<TaskId>,
    /// The task that held a sequence key this task last waited for.
    pub(crate) waited_for: Option<TaskId>,
}

/// The run-level facts that outlive the scheduler.
#[derive(Debug)]
pub(crate) struct RunFacts {
    /// The run's time at its latest input.
    pub(crate) total: Duration,
    pub(crate) stop: Option<StopReason>,
}

impl TaskFacts {
    /// The facts of task `i`, given the parts that are copied for a snapshot or moved at the
    /// end.
    fn new<V>(
        i: usize,
        tk: &Task<V>,
        error: Option<TaskError>,
        skip: Option<SkipReason>,
        log: Option<thin_vec::ThinVec<AttemptRecord>>,
        waited_for: Option<TaskId>,
    ) -> Self {
        TaskFacts {
            id: TaskId(i as u32),
            status: tk.status,
            attempts: tk.attempt,
            started: tk.first_start.get(),
            finished: tk.end.get(),
            error,
            skip,
            log,
            parent: (tk.parent != NONE).then_some(TaskId(tk.parent)),
            waited_for,
        }
    }
}

impl<V> Scheduler<V> {
    /// How many tasks a report of the run holds: the selected and the dynamic ones.
    pub(crate) fn reported_count(&self) -> usize {
        // Only `new` excludes tasks, and it counts them.
        self.tasks.len() - self.excluded
    }

    /// The names of the dynamic tasks (ids from the graph's length on), in id order.
    pub(crate) fn dynamic_names(&self) -> &[Arc<str>] {
        &self.dyn_names
    }

    /// Moves the dynamic tasks' names out (the run is ending: nothing asks for them again).
    pub(crate) fn take_dynamic_names(&mut self) -> Vec<Arc<str>> {
        std::mem::take(&mut self.dyn_names)
    }

    /// Calls `f` with a copy of the facts of every selected and dynamic task, in id order.
    pub(crate) fn each_task_facts(&self, mut f: impl FnMut(TaskFacts)) -> RunFacts {
        for (i, tk) in self.tasks.iter().enumerate() {
            if tk.stage != Stage::Excluded {
                let rare = tk.rare.as_ref();
                let log = rare.map(|r| r.log.clone()).filter(|l| !l.is_empty());
                f(TaskFacts::new(
                    i,
                    tk,
                    tk.error().cloned(),
                    rare.and_then(|r| r.skip.clone()),
                    log,
                    rare.and_then(|r| r.waited_for),
                ));
            }
        }
        RunFacts {
            total: self.now,
            stop: self.stop.clone(),
        }
    }

    /// Ends the run: calls `f` with the facts of every selected and dynamic task, moved out
    /// rather than copied, from the last task back.
    ///
    /// The run's queues are freed first, and the tasks' vector gives its memory back as it
    /// empties, so that what `f` builds (a million `TaskReport`s in `wide-1m`, the largest
    /// thing a run makes) mostly takes the place of the task states rather than adding to them.
    ///
    /// What is left of the states' vector (emptied) and the command queue is given back for
    /// the next run ([`Spare`]).
    pub(crate) fn into_task_facts(mut self, mut f: impl FnMut(TaskFacts)) -> (RunFacts, Spare<V>) {
        let mut commands = std::mem::take(&mut self.commands);
        commands.clear();
        self.free_run_buffers();
        // Each state is read where it is (not moved out), from the last one back.
        let mut i = self.tasks.len();
        while i > 0 {
            i -= 1;
            let tk = &mut self.tasks[i];
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
                f(TaskFacts::new(i, tk, error, skip, log, waited_for));
            }
            // Give the emptied part back as the report grows, a slice at a time (for a large
            // vector, the allocator shrinks it in place), so that the two never add up.
            if self.tasks.capacity() - i >= RELEASE_EVERY {
                self.tasks.truncate(i);
                self.tasks.shrink_to_fit();
            }
        }
        self.tasks.clear();
        let run = RunFacts {
            total: self.now,
            stop: self.stop.take(),
        };
        let spare = Spare {
            tasks: std::mem::take(&mut self.tasks),
            commands,
        };
        (run, spare)
    }
}
