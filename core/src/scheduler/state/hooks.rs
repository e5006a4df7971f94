//! Hooks: events emitted for the kinds the run has hooks for, each awaited before the task
//! moves on (rule 9); hooks done or raised; the hook stages a task passes through.

use super::super::{Command, HookToken, ProtocolError};
use super::{Scheduler, PROCESS};
use crate::event::{Event, EventKind, Status, StopReason, TaskError};
use crate::graph::TaskId;
use crate::scheduler::task::{Deferred, Stage};
use std::sync::Arc;
use std::time::Duration;

impl<V> Scheduler<V> {
    /// Says the hooks of an emitted event are done; the task moves on.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the token was not handed out by this run.
    pub fn hook_done(&mut self, token: HookToken, now: Duration) -> Result<(), ProtocolError> {
        self.tick(now);
        let r = self.hook_done_one(token, None);
        self.settle();
        r
    }

    /// Says a hook raised: the run fails with an error naming the event, running tasks are
    /// cancelled, and the task moves on as if the hook had returned.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the token was not handed out by this run.
    pub fn hook_failed(
        &mut self,
        token: HookToken,
        message: impl Into<Arc<str>>,
        now: Duration,
    ) -> Result<(), ProtocolError> {
        self.tick(now);
        let r = self.hook_done_one(token, Some(TaskError::failed(message)));
        self.settle();
        r
    }

    /// Says a hook raised `error`, which keeps the hook's own exception object as its source:
    /// as [`Scheduler::hook_failed`] with `error`'s message, and the run's error
    /// ([`Scheduler::stop_error`]) keeps that object as its source — the cause a door shows
    /// (Python `__cause__`, Node `cause`, Rust `source()`).
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the token was not handed out by this run.
    pub fn hook_raised(
        &mut self,
        token: HookToken,
        error: TaskError,
        now: Duration,
    ) -> Result<(), ProtocolError> {
        self.tick(now);
        let r = self.hook_done_one(token, Some(error));
        self.settle();
        r
    }

    pub(super) fn hook_done_one(
        &mut self,
        token: HookToken,
        failed: Option<TaskError>,
    ) -> Result<(), ProtocolError> {
        if token.task != PROCESS && token.task as usize >= self.tasks.len() {
            return Err(ProtocolError::UnknownToken(token.task));
        }
        if let Some(error) = failed {
            let reason = StopReason::HookFailed {
                event: token.kind,
                message: error.message.clone(),
            };
            if self.stop.is_none() {
                self.hook_error = Some(error);
            }
            if token.kind == EventKind::ProcessCompletion {
                // Nothing left to cancel: record it and finish.
                if self.stop.is_none() {
                    self.stop = Some(reason);
                }
            } else {
                self.stop_run(reason);
            }
        }
        self.outstanding_hooks = self.outstanding_hooks.saturating_sub(1);
        if token.task == PROCESS {
            match token.kind {
                EventKind::ProcessBegin => self.begin(),
                EventKind::ProcessCompletion => self.finish(),
                _ => {}
            }
        } else if self.tasks[token.task as usize].hook_seq == token.seq {
            let deferred = self.tasks[token.task as usize]
                .rare
                .as_mut()
                .and_then(|r| r.deferred.take());
            match deferred {
                Some(Deferred::Cancel(error)) => self.fail(token.task, error),
                Some(Deferred::Skip(reason)) => self.skip(token.task, reason),
                None => self.continue_after_hook(token.task),
            }
        }
        Ok(())
    }

    /// Emits `event` for `task` if it has hooks. Returns whether the caller must wait.
    pub(super) fn emit(&mut self, task: u32, event: Event) -> bool {
        let kind = event.kind();
        if !self.hooks.contains(kind) {
            return false;
        }
        let seq = if task == PROCESS {
            0
        } else {
            let tk = &mut self.tasks[task as usize];
            tk.hook_seq = tk.hook_seq.wrapping_add(1);
            tk.hook_seq
        };
        self.outstanding_hooks += 1;
        self.commands.push_back(Command::Emit {
            event: Box::new(event),
            token: HookToken { task, seq, kind },
        });
        true
    }

    pub(super) fn continue_after_hook(&mut self, t: u32) {
        match self.tasks[t as usize].stage {
            Stage::ReadyHook => self.after_ready(t),
            Stage::BeginHook => self.start_attempt(t),
            Stage::RetryHook => self.after_retry_hook(t),
            Stage::OutcomeHook => self.enter_completion_hook(t),
            Stage::CompletionHook | Stage::SkipHook => self.done(t),
            _ => {}
        }
    }

    /// From the first attempt's start to the end (or now); zero if it never started.
    pub(super) fn duration(&self, t: u32) -> Duration {
        let tk = &self.tasks[t as usize];
        let end = tk.end.get().unwrap_or(self.now);
        tk.first_start
            .get()
            .map_or(Duration::ZERO, |s| end.saturating_sub(s))
    }

    pub(super) fn enter_outcome_hook(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::OutcomeHook;
        let kind = if tk.status == Status::Succeeded {
            EventKind::TaskSuccess
        } else {
            EventKind::TaskFailure
        };
        if kind == EventKind::TaskSuccess
            && (self.hooks.contains(kind) || self.hooks.contains(EventKind::TaskCompletion))
        {
            self.expect_dependents(t);
        }
        if !self.hooks.contains(kind) {
            // No hook: the event is not even made (the path every task of a hook-free run
            // takes).
            self.enter_completion_hook(t);
            return;
        }
        let duration = self.duration(t);
        let tk = &self.tasks[t as usize];
        let event = if tk.status == Status::Succeeded {
            Event::TaskSuccess {
                task: TaskId(t),
                duration,
            }
        } else {
            Event::TaskFailure {
                task: TaskId(t),
                duration,
                error: tk
                    .error()
                    .cloned()
                    .unwrap_or_else(|| TaskError::failed("failed")),
            }
        };
        if !self.emit(t, event) {
            self.enter_completion_hook(t);
        }
    }

    pub(super) fn enter_completion_hook(&mut self, t: u32) {
        self.tasks[t as usize].stage = Stage::CompletionHook;
        if !self.hooks.contains(EventKind::TaskCompletion) {
            self.done(t);
            return;
        }
        let duration = self.duration(t);
        let tk = &self.tasks[t as usize];
        // The last attempt's error: none for a task that succeeded, even after failed
        // attempts (rule 12).
        let error = match tk.status {
            Status::Succeeded => None,
            _ => tk.error().cloned(),
        };
        let event = Event::TaskCompletion {
            task: TaskId(t),
            duration,
            status: tk.status,
            error,
        };
        if !self.emit(t, event) {
            self.done(t);
        }
    }
}
