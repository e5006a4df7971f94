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
use crate::policy::Trigger;
use crate::scheduler::task::{Deferred, Stage, DEP_FAILED, DEP_NOT_TAKEN, DEP_SUCCEEDED, NONE};

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
        let tk = &self.tasks[t as usize];
        let end = match status {
            Status::Succeeded => DEP_SUCCEEDED,
            Status::Skipped
                if tk
                    .rare
                    .as_ref()
                    .and_then(|r| r.skip.as_ref())
                    .is_some_and(SkipReason::is_not_taken) =>
            {
                DEP_NOT_TAKEN
            }
            _ => DEP_FAILED,
        };
        // The task whose failure started it all, named by the skips it causes.
        let cause = (end == DEP_FAILED).then(|| {
            tk.rare
                .as_ref()
                .and_then(|r| r.root_cause.clone())
                .unwrap_or_else(|| std::sync::Arc::from(self.name(TaskId(t))))
        });
        for k in 0..n {
            let d = self.graph.dependents(TaskId(t))[k].0;
            let dk = &mut self.tasks[d as usize];
            if dk.stage != Stage::Pending {
                continue;
            }
            // The fast path: no task of the run has options, none is read.
            let rule = if self.any_opts {
                super::opts_of(&self.graph, &self.dyn_opts, true, d).trigger
            } else {
                Trigger::AllSucceeded
            };
            match (rule, end) {
                (Trigger::AllSucceeded, DEP_SUCCEEDED) => {
                    dk.pending -= 1;
                    if dk.pending == 0 {
                        if dk.dep_ends == 0 {
                            self.make_ready(d);
                        } else {
                            self.triggered(d, rule);
                        }
                    }
                }
                // A failure skips at once (rule 4), naming the task that failed first.
                (Trigger::AllSucceeded | Trigger::NoneFailed, DEP_FAILED) => {
                    let cause = cause.clone().expect("a failed end has a cause");
                    self.skip_after_failure(d, cause);
                }
                _ => {
                    // The rule waits for every dependency's end.
                    dk.pending -= 1;
                    dk.dep_ends |= end;
                    if end == DEP_FAILED && dk.rare.as_ref().is_none_or(|r| r.root_cause.is_none())
                    {
                        dk.rare().root_cause = cause.clone();
                    }
                    if dk.pending == 0 {
                        self.triggered(d, rule);
                    }
                }
            }
        }
    }

    /// Every dependency of `d` ended: run it, or skip it, as its trigger rule says.
    fn triggered(&mut self, d: u32, rule: Trigger) {
        let dk = &self.tasks[d as usize];
        let ends = dk.dep_ends;
        let run = match rule {
            Trigger::AllDone => true,
            Trigger::AnySucceeded => ends & DEP_SUCCEEDED != 0,
            // A failed dependency skipped these at once; a branch not taken upstream skips an
            // `all_succeeded` task only once every dependency ended (so a failure, if any,
            // is named instead).
            Trigger::NoneFailed => ends & DEP_FAILED == 0,
            Trigger::AllSucceeded => ends & (DEP_FAILED | DEP_NOT_TAKEN) == 0,
        };
        if run {
            self.make_ready(d);
        } else if ends & DEP_FAILED != 0 {
            let cause = match dk.rare.as_ref().and_then(|r| r.root_cause.clone()) {
                Some(cause) => cause,
                None => std::sync::Arc::from(self.name(TaskId(d))),
            };
            self.skip_after_failure(d, cause);
        } else {
            self.skip(d, SkipReason::NotTriggered { rule });
        }
    }

    /// Skips `d` because `cause` failed upstream (or the run stopped).
    fn skip_after_failure(&mut self, d: u32, cause: std::sync::Arc<str>) {
        let reason = match &self.stop {
            Some(stop) => SkipReason::Stopped(stop.clone()),
            None => SkipReason::DependencyFailed {
                dependency: cause.clone(),
            },
        };
        self.tasks[d as usize].rare().root_cause = Some(cause);
        self.skip(d, reason);
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
        let error = TaskError::cancelled(format!("parent task \"{}\" ended", self.name(TaskId(t))));
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
                Stage::Backoff
                | Stage::Pending
                | Stage::Condition
                | Stage::Queued
                | Stage::KeyWait => {
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
        let fail_fast = matches!(reason, StopReason::FailFast { .. });
        for t in 0..self.tasks.len() as u32 {
            if fail_fast && self.task_opts(t).trigger == Trigger::AllDone {
                // Cleanup and teardown run even after a failure stopped the run: once its
                // dependencies ended (they are being stopped now), it runs.
                continue;
            }
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
                Stage::Pending | Stage::Condition | Stage::Queued | Stage::KeyWait => {
                    self.skip(t, SkipReason::Stopped(reason.clone()));
                }
                _ => {}
            }
        }
    }
}
