//! Outputs and dispatch: the commands a driver takes, the ready queue, slots and sequence
//! keys, and the run's begin and end.
//!
//! After every input the scheduler `settle`s: it starts whatever can start — tasks back from
//! a wait first, then the ready queue in the order tasks became ready (rule 2) — or, under
//! `critical_path`, by decreasing rank, then that order — each within `max_parallel` and the
//! capacities of its keys (rule 3) — and finishes the run once nothing is left.

use super::super::{Command, Input, ProtocolError};
use super::{Scheduler, PROCESS};
use crate::event::{Event, SkipReason, Status, TaskError};
use crate::graph::TaskId;
use crate::scheduler::task::Stage;
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::time::Duration;

/// `dispatch` stops starting tasks once this many commands wait for the driver, and goes on
/// as the driver takes them.
const DISPATCH_BURST: usize = 1024;

impl<V> Scheduler<V> {
    /// The next command for the driver, if any. Call until `None` after every input.
    #[must_use]
    pub fn next_command(&mut self) -> Option<Command> {
        let mut command = self.commands.pop_front();
        if command.is_none() && self.dispatch_more {
            self.dispatch_more = false;
            self.settle();
            command = self.commands.pop_front();
        }
        if command.is_none() {
            release_burst(&mut self.commands);
        }
        command
    }

    /// Moves every pending command into `out` (keeps `out`'s allocation; cheaper in hot loops).
    pub fn drain_commands(&mut self, out: &mut Vec<Command>) {
        loop {
            out.extend(self.commands.drain(..));
            if !self.dispatch_more {
                break;
            }
            self.dispatch_more = false;
            self.settle();
        }
        release_burst(&mut self.commands);
    }

    /// The earliest instant at which [`Scheduler::advance`] has something to do: arm one host
    /// timer for it. (It may be a timer that turns out to be stale; advancing to it is
    /// harmless.)
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.next_deadline()
    }

    pub(super) fn begin(&mut self) {
        if self.begun {
            return;
        }
        self.begun = true;
        self.begin_main();
        if let Some(reason) = self.stop.clone() {
            // Stopped before the run began (process_begin's hook failed, or a cancel or the
            // run timeout came while it ran): nothing runs.
            self.stop_tasks(reason);
            return;
        }
        // Tasks restored from a resumed run end first, as successes: all are marked before
        // any ends, so that one's end does not ready another restored task.
        let restored = std::mem::take(&mut self.restored);
        let now = crate::scheduler::task::OptTime::new(self.now);
        for &t in &restored {
            let tk = &mut self.tasks[t as usize];
            tk.status = Status::Succeeded;
            tk.stage = Stage::SkipHook;
            tk.end = now;
            tk.rare().skip = Some(SkipReason::Resumed);
        }
        for t in restored {
            if !self.emit(
                t,
                Event::TaskSkip {
                    task: TaskId(t),
                    reason: SkipReason::Resumed,
                },
            ) {
                self.done(t);
            }
        }
        for i in 0..self.tasks.len() as u32 {
            let tk = &self.tasks[i as usize];
            if tk.stage == Stage::Pending && tk.pending == 0 {
                self.make_ready(i);
            }
        }
    }

    pub(super) fn make_ready(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::ReadyHook;
        tk.status = Status::Ready;
        if !self.emit(t, Event::TaskReady { task: TaskId(t) }) {
            self.after_ready(t);
        } else if !self.rank_key.is_empty() {
            // Under `critical_path` a slot waits for it if it outranks every queued task.
            let key = self.order_key(t);
            self.becoming_ready.push(Reverse((key, t)));
        }
    }

    /// The task is ready and its `task_ready` hooks are done: its condition is evaluated if it
    /// has one, else it joins the ready queue.
    pub(super) fn after_ready(&mut self, t: u32) {
        if self.any_opts && self.task_opts(t).conditional {
            self.tasks[t as usize].stage = Stage::Condition;
            self.commands
                .push_back(Command::Evaluate { task: TaskId(t) });
        } else {
            self.enqueue(t);
        }
    }

    /// Gives the value of the condition [`Command::Evaluate`] asked for: `Ok(true)` queues the
    /// task, `Ok(false)` skips it with reason `condition false` (a branch not taken), and an
    /// error (the predicate raised) fails it with that error. A condition given for a task
    /// that no longer waits for one (the run stopped meanwhile) is ignored.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn evaluated(
        &mut self,
        task: TaskId,
        condition: Result<bool, TaskError>,
        now: Duration,
    ) -> Result<(), ProtocolError> {
        self.handle(now, [Input::Evaluated(task, condition)])
    }

    pub(super) fn evaluated_one(&mut self, t: u32, condition: Result<bool, TaskError>) {
        if self.tasks[t as usize].stage != Stage::Condition {
            return;
        }
        match condition {
            Ok(true) => self.enqueue(t),
            Ok(false) => self.skip(t, SkipReason::ConditionFalse),
            // It never started: no attempt, a zero duration.
            Err(error) => self.fail(t, error),
        }
    }

    pub(super) fn enqueue(&mut self, t: u32) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let tk = &mut self.tasks[t as usize];
        if !tk.keys().is_empty() {
            // Only a task that may wait for a key needs its place kept (a run without keys
            // keeps none).
            let i = t as usize;
            if self.ready_seq.len() <= i {
                self.ready_seq.resize(i + 1, 0);
            }
            self.ready_seq[i] = seq;
        }
        tk.stage = Stage::Queued;
        tk.status = Status::Ready;
        if self.rank_key.is_empty() {
            self.ready.push_back((seq, t));
        } else {
            let key = self.order_key(t);
            self.returned.push(Reverse((key, seq, t)));
        }
    }

    /// The first part of a ready task's place in the queue: 0 for `fifo`; its rank key for
    /// `critical_path` (a dynamic task, which has none, goes after every static one).
    fn order_key(&self, t: u32) -> u64 {
        self.rank_key.get(t as usize).copied().unwrap_or(u64::MAX)
    }

    /// Starts whatever can start, then finishes the run if nothing is left.
    pub(super) fn settle(&mut self) {
        self.dispatch();
        self.maybe_finish();
    }

    pub(super) fn dispatch(&mut self) {
        if !self.begun {
            return;
        }
        while self.running < self.max_parallel {
            if self.commands.len() >= DISPATCH_BURST {
                // The driver takes these first; the rest starts as it does, at the same
                // instant (a million ready tasks are never a million queued commands).
                self.dispatch_more = true;
                break;
            }
            if let Some(w) = self.resumes.pop_front() {
                let tk = &mut self.tasks[w.task as usize];
                if tk.stage == Stage::Running {
                    if tk.waits == 1 {
                        tk.waits = 0;
                        tk.holds_slot = true;
                        self.running += 1;
                    } else if tk.waits > 1 {
                        // It began another wait meanwhile: it goes on waiting, slot-less.
                        tk.waits -= 1;
                    }
                }
                self.push_wake(w);
                continue;
            }
            if !self.becoming_ready.is_empty() && self.outranked_by_one_becoming_ready() {
                // Its hooks or condition are done soon; the slot waits for it.
                break;
            }
            let Some(t) = self.pop_ready() else {
                release_burst(&mut self.ready);
                break;
            };
            if self.tasks[t as usize].stage != Stage::Queued {
                continue;
            }
            if let Err(holder) = self.keys.try_acquire(t, self.tasks[t as usize].keys()) {
                let tk = &mut self.tasks[t as usize];
                tk.stage = Stage::KeyWait;
                tk.rare().waited_for = Some(TaskId(holder));
                continue;
            }
            let tk = &mut self.tasks[t as usize];
            tk.holds_slot = true;
            self.running += 1;
            tk.stage = Stage::BeginHook;
            let attempt = tk.attempt + 1;
            if !self.emit(
                t,
                Event::TaskBegin {
                    task: TaskId(t),
                    attempt,
                },
            ) {
                self.start_attempt(t);
            }
        }
    }

    /// Under `critical_path`: whether a task whose `task_ready` hooks or condition are still
    /// out (or that waits only for a task whose outcome hooks are out) outranks every queued
    /// task (so the next free slot is kept for it, as it would be
    /// had it no hooks). Entries of tasks that moved on are dropped here.
    fn outranked_by_one_becoming_ready(&mut self) -> bool {
        while let Some(&Reverse((key, t))) = self.becoming_ready.peek() {
            if !matches!(
                self.tasks[t as usize].stage,
                Stage::Pending | Stage::ReadyHook | Stage::Condition
            ) {
                self.becoming_ready.pop();
                continue;
            }
            let best_queued = self.returned.peek().map(|Reverse((k, _, _))| *k);
            return best_queued.is_none_or(|q| key < q);
        }
        false
    }

    /// Under `critical_path`, when `t` succeeded but its outcome hooks are out: the dependents
    /// that wait for `t` alone become ready once they are done, so a slot waits for them as
    /// for a task whose `task_ready` hooks are out.
    pub(super) fn expect_dependents(&mut self, t: u32) {
        if self.rank_key.is_empty() || (t as usize) >= self.graph.len() {
            return;
        }
        for k in 0..self.graph.dependents(TaskId(t)).len() {
            let d = self.graph.dependents(TaskId(t))[k].0;
            let dk = &self.tasks[d as usize];
            if dk.stage == Stage::Pending && dk.pending == 1 {
                let key = self.order_key(d);
                self.becoming_ready.push(Reverse((key, d)));
            }
        }
    }

    pub(super) fn pop_ready(&mut self) -> Option<u32> {
        // `ready` holds only `fifo` tasks (order key 0); `returned` key waiters back, and every
        // ready task under `critical_path`.
        let a = self.ready.front().map(|&(s, _)| (0, s));
        let b = self.returned.peek().map(|Reverse((k, s, _))| (*k, *s));
        match (a, b) {
            (None, None) => None,
            (Some(_), None) => self.ready.pop_front().map(|(_, t)| t),
            (None, Some(_)) => self.returned.pop().map(|Reverse((_, _, t))| t),
            (Some(x), Some(y)) => {
                if x < y {
                    self.ready.pop_front().map(|(_, t)| t)
                } else {
                    self.returned.pop().map(|Reverse((_, _, t))| t)
                }
            }
        }
    }

    pub(super) fn release_slot_and_keys(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        if tk.holds_slot {
            tk.holds_slot = false;
            self.running -= 1;
        }
        tk.waits = 0;
        let keys = match tk.rare.as_mut() {
            Some(r) if !r.keys.is_empty() => std::mem::take(&mut r.keys),
            _ => return,
        };
        let (tasks, returned, ready_seq, rank_key) = (
            &mut self.tasks,
            &mut self.returned,
            &self.ready_seq,
            &self.rank_key,
        );
        self.keys.release(t, &keys, |w| {
            if tasks[w as usize].stage == Stage::KeyWait {
                tasks[w as usize].stage = Stage::Queued;
                let key = if rank_key.is_empty() {
                    0
                } else {
                    rank_key.get(w as usize).copied().unwrap_or(u64::MAX)
                };
                let seq = ready_seq.get(w as usize).copied().unwrap_or_default();
                returned.push(Reverse((key, seq, w)));
            }
        });
        self.tasks[t as usize].rare().keys = keys;
    }

    pub(super) fn maybe_finish(&mut self) {
        if self.completion_emitted || !self.begun || self.holds > 0 {
            return;
        }
        if self.unfinished > 0 || self.outstanding_hooks > 0 {
            return;
        }
        self.completion_emitted = true;
        self.timers.clear();
        if !self.emit(PROCESS, Event::ProcessCompletion { total: self.now }) {
            self.finish();
        }
    }

    pub(super) fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.commands.push_back(Command::Finished);
        }
    }
}

/// Above this many slots, an empty queue gives its memory back: a burst (a million tasks
/// ready at once) must not hold its peak for the rest of the run.
const BURST: usize = 4096;

/// Frees an empty queue's buffer if a burst made it large.
pub(super) fn release_burst<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > BURST {
        *queue = VecDeque::new();
    }
}
