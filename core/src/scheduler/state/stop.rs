//! Stop and cancel: a task's end propagated to its dependents (readied, or skipped naming
//! the task that failed: rule 4) and its callers, cancels of one task and its calls, and
//! stopping the whole run (fail-fast, the run timeout, an outside cancel, a hook that raised).
//!
//! Every walk here is iterative — a queue for `done`, an explicit stack for cancels — so a
//! chain of a million tasks failing at its head needs no deeper a native stack (rule 14).

use super::super::Command;
use super::dispatch::release_burst;
use super::{Scheduler, Wake};
use crate::event::{Event, SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
use crate::scheduler::task::{Deferred, Stage, NONE};

/// One step of [`Scheduler::cancel_all`]'s walk over a task and its calls.
#[derive(Debug)]
enum CancelStep {
    /// Cancel this task: if it runs, its calls first.
    Enter(u32, TaskError),
    /// Its calls are cancelled: end the task.
    Exit(u32, TaskError),
}

impl<V> Scheduler<V> {
    /// Whether nothing is left to cancel: every task's outcome is decided (only its hooks may
    /// still run) and the driver holds the run open no longer.
    pub(super) fn all_decided(&self) -> bool {
        self.begun
            && self.holds == 0
            && self.tasks.iter().all(|t| {
                matches!(
                    t.stage,
                    Stage::Excluded
                        | Stage::OutcomeHook
                        | Stage::CompletionHook
                        | Stage::SkipHook
                        | Stage::Done
                )
            })
    }

    /// The task's end is final: ready or skip its dependents, or hand a dynamic task's outcome
    /// to its caller. Iterative: a task ended while another's end is being handled (a
    /// dependent skipped without a hook) is queued and handled in the same loop, in order.
    pub(super) fn done(&mut self, t: u32) {
        if self.in_done {
            self.done_queue.push_back(t);
            return;
        }
        self.in_done = true;
        self.done_one(t);
        while let Some(t) = self.done_queue.pop_front() {
            self.done_one(t);
        }
        self.in_done = false;
        release_burst(&mut self.done_queue);
    }

    pub(super) fn done_one(&mut self, t: u32) {
        let statics = self.graph.len();
        let tk = &mut self.tasks[t as usize];
        if tk.stage == Stage::Done {
            return;
        }
        tk.stage = Stage::Done;
        self.unfinished -= 1;
        let status = tk.status;
        if (t as usize) >= statics {
            // A dynamic task: its outcome goes to its caller, now or once the caller holds a
            // slot again (only while the attempt that called is current).
            let p = self.tasks[t as usize].parent;
            let current = p != NONE && {
                let called_by = self.tasks[t as usize]
                    .rare
                    .as_ref()
                    .map_or(0, |r| r.caller_attempt);
                let pk = &self.tasks[p as usize];
                pk.stage == Stage::Running && pk.attempt == called_by
            };
            let w = Wake {
                task: p,
                child: t,
                join: NONE,
            };
            if current {
                self.wake(p, w);
            } else {
                self.push_wake(w);
            }
            self.route_outcome(t);
            return;
        }
        self.route_outcome(t);
        // By index, not through a clone of the graph's `Arc` (two atomic operations a task).
        let n = self.graph.dependents(TaskId(t)).len();
        if status == Status::Succeeded {
            for k in 0..n {
                let d = self.graph.dependents(TaskId(t))[k];
                let dk = &mut self.tasks[d.index()];
                if dk.stage == Stage::Pending {
                    dk.pending -= 1;
                    if dk.pending == 0 {
                        self.make_ready(d.0);
                    }
                }
            }
        } else {
            // Skip the dependents, naming the task whose failure started it all.
            let tk = &self.tasks[t as usize];
            let cause = tk
                .rare
                .as_ref()
                .and_then(|r| r.root_cause.clone())
                .unwrap_or_else(|| tk.name.clone());
            for k in 0..n {
                let d = self.graph.dependents(TaskId(t))[k];
                if self.tasks[d.index()].stage == Stage::Pending {
                    let reason = match &self.stop {
                        Some(stop) => SkipReason::Stopped(stop.clone()),
                        None => SkipReason::DependencyFailed {
                            dependency: cause.clone(),
                        },
                    };
                    self.tasks[d.index()].rare().root_cause = Some(cause.clone());
                    self.skip(d.0, reason);
                }
            }
        }
    }

    pub(super) fn skip(&mut self, t: u32, reason: SkipReason) {
        let tk = &mut self.tasks[t as usize];
        tk.hook_seq = tk.hook_seq.wrapping_add(1);
        tk.status = Status::Skipped;
        tk.stage = Stage::SkipHook;
        tk.rare().skip = Some(reason.clone());
        if !self.emit(
            t,
            Event::TaskSkip {
                task: TaskId(t),
                reason,
            },
        ) {
            self.done(t);
        }
    }

    /// Cancels one unfinished task (whatever its stage), with `error` as its final error. A
    /// running task's unfinished calls are cancelled before it, each call's own calls before
    /// that call (with an explicit stack: a chain of calls a hundred thousand deep needs no
    /// deeper a native stack here).
    pub(super) fn cancel_one(&mut self, t: u32, error: TaskError) {
        self.cancel_all(vec![CancelStep::Enter(t, error)]);
    }

    /// Cancels the unfinished dynamic children of a task whose attempt ended without success.
    pub(super) fn cancel_children(&mut self, t: u32) {
        let mut stack = Vec::new();
        self.push_children(t, &mut stack);
        self.cancel_all(stack);
    }

    /// Pushes a cancel of each of `t`'s calls, the first on top.
    fn push_children(&self, t: u32, stack: &mut Vec<CancelStep>) {
        let Some(children) = self.tasks[t as usize].rare.as_ref().map(|r| &r.children) else {
            return;
        };
        if children.is_empty() {
            return;
        }
        let error = TaskError::cancelled(format!(
            "parent task \"{}\" ended",
            self.tasks[t as usize].name
        ));
        stack.extend(
            children
                .iter()
                .rev()
                .map(|c| CancelStep::Enter(c.0, error.clone())),
        );
    }

    fn cancel_all(&mut self, mut stack: Vec<CancelStep>) {
        while let Some(step) = stack.pop() {
            let (t, error) = match step {
                CancelStep::Exit(t, error) => {
                    // Its calls are cancelled: the task itself ends now.
                    self.bump_hook_seq(t);
                    self.fail(t, error);
                    continue;
                }
                CancelStep::Enter(t, error) => (t, error),
            };
            match self.tasks[t as usize].stage {
                Stage::Running => {
                    let attempt = self.tasks[t as usize].attempt;
                    self.commands.push_back(Command::Cancel {
                        task: TaskId(t),
                        attempt,
                        timed_out: false,
                    });
                    self.end_attempt(t, Some(error.clone()));
                    stack.push(CancelStep::Exit(t, error));
                    self.push_children(t, &mut stack);
                }
                // A hook of the task is running: cancel once it is done.
                Stage::ReadyHook | Stage::BeginHook | Stage::RetryHook => {
                    self.release_slot_and_keys(t);
                    self.tasks[t as usize].rare().deferred = Some(Deferred::Cancel(error));
                }
                Stage::Backoff | Stage::Pending | Stage::Queued | Stage::KeyWait => {
                    self.bump_hook_seq(t);
                    self.fail(t, error);
                }
                Stage::Excluded
                | Stage::OutcomeHook
                | Stage::CompletionHook
                | Stage::SkipHook
                | Stage::Done => {}
            }
        }
    }

    /// Drops the continuation of any event of `t` still out (its hooks' ends are ignored).
    pub(super) fn bump_hook_seq(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.hook_seq = tk.hook_seq.wrapping_add(1);
    }

    /// Stops the run: running attempts are cancelled, tasks not started are skipped.
    pub(super) fn stop_run(&mut self, reason: StopReason) {
        if self.stop.is_some() {
            return;
        }
        self.stop = Some(reason.clone());
        if self.begun {
            // Before that, begin() does it once process_begin's hooks are done.
            self.stop_tasks(reason);
            self.stop_main();
        }
    }

    pub(super) fn stop_tasks(&mut self, reason: StopReason) {
        // Tasks waiting for a slot to get an outcome get it now: the waiter must not be lost
        // (a blocked sync caller would wait for ever).
        while let Some(w) = self.resumes.pop_front() {
            self.push_wake(w);
        }
        let error = TaskError::cancelled(reason.to_string());
        for t in 0..self.tasks.len() as u32 {
            match self.tasks[t as usize].stage {
                Stage::Running | Stage::BeginHook | Stage::RetryHook | Stage::Backoff => {
                    self.cancel_one(t, error.clone());
                }
                // Queued for a retry: it did start, so it ends cancelled, not skipped.
                Stage::Queued | Stage::KeyWait if self.tasks[t as usize].attempt > 0 => {
                    self.cancel_one(t, error.clone());
                }
                Stage::ReadyHook => {
                    // Its task_ready hook is running: skip once it is done.
                    self.tasks[t as usize].rare().deferred =
                        Some(Deferred::Skip(SkipReason::Stopped(reason.clone())));
                }
                Stage::Pending | Stage::Queued | Stage::KeyWait => {
                    self.skip(t, SkipReason::Stopped(reason.clone()));
                }
                _ => {}
            }
        }
    }
}
