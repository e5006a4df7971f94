//! Attempts and retries: an attempt starts, finishes, fails; a failed attempt is retried
//! after its backoff delay (rule 5) or fails the task; timers fire (attempt timeouts, backoff
//! ends, the run timeout).

use super::super::{Command, Outcome};
use super::{opts_of, Scheduler};
use crate::event::{ErrorKind, Event, EventKind, Status, StopReason, TaskError};
use crate::graph::TaskId;
use crate::scheduler::task::AttemptRecord;
use crate::scheduler::task::{OptTime, Stage};
use crate::scheduler::timers::Timer;

impl<V> Scheduler<V> {
    pub(super) fn finished_one(&mut self, task: TaskId, attempt: u32, outcome: Outcome<V>) {
        if self.completion_emitted {
            // A late report after the run ended: nothing to decide.
            return;
        }
        let t = task.0;
        {
            let tk = &self.tasks[t as usize];
            if tk.stage != Stage::Running || tk.attempt != attempt {
                return;
            }
        }
        match outcome {
            Outcome::Ok(v) => {
                self.end_attempt(t, None);
                let tk = &mut self.tasks[t as usize];
                tk.value = Some(v);
                tk.status = Status::Succeeded;
                tk.end = OptTime::new(self.now);
                self.enter_outcome_hook(t);
            }
            Outcome::Err { error, retryable } => self.attempt_failed(t, error, retryable),
        }
    }

    /// Fires every timer due by now: timeouts, backoff ends, the run timeout.
    pub(super) fn fire_timers(&mut self) {
        if self.completion_emitted {
            return;
        }
        while let Some(timer) = self.timers.pop_due(self.now) {
            match timer {
                Timer::Run => {
                    let d = self.opts.get_timeout().unwrap_or_default();
                    self.stop_run(StopReason::TimedOut(d));
                }
                Timer::Timeout { task, attempt } => {
                    let tk = &self.tasks[task as usize];
                    if tk.stage == Stage::Running && tk.attempt == attempt {
                        let limit = self.task_opts(task).timeout.unwrap_or_default();
                        self.commands.push_back(Command::Cancel {
                            task: TaskId(task),
                            attempt,
                            timed_out: true,
                        });
                        let error = TaskError::timed_out(format!(
                            "task \"{}\" timed out after {}",
                            self.name(TaskId(task)),
                            crate::event::fmt_duration(limit)
                        ));
                        self.attempt_failed(task, error, true);
                    }
                }
                Timer::Backoff { task, attempt } => {
                    let tk = &self.tasks[task as usize];
                    if tk.stage == Stage::Backoff && tk.attempt == attempt {
                        self.enqueue(task);
                    }
                }
            }
        }
    }

    pub(super) fn start_attempt(&mut self, t: u32) {
        let now = self.now;
        let retries = opts_of(&self.graph, &self.dyn_opts, self.any_opts, t).retries;
        let tk = &mut self.tasks[t as usize];
        if tk.attempt > 0 {
            // A retry: the log is explicit already (the attempt before ended with an error).
            tk.explicit_log(retries).push(AttemptRecord {
                start: now,
                end: None,
                error: None,
            });
        }
        // The first attempt's record is implied: it starts at `first_start`.
        tk.attempt += 1;
        tk.stage = Stage::Running;
        tk.status = Status::Running;
        tk.waits = 0;
        if tk.first_start.is_none() {
            tk.first_start = OptTime::new(now);
        }
        let attempt = tk.attempt;
        let timeout = match self.any_opts {
            true => opts_of(&self.graph, &self.dyn_opts, true, t).timeout,
            false => None,
        };
        if let Some(limit) = timeout {
            self.timers
                .set(now, limit, Timer::Timeout { task: t, attempt });
        }
        self.commands.push_back(Command::Start {
            task: TaskId(t),
            attempt,
        });
    }

    /// Closes the current attempt's record and gives back its slot and keys.
    pub(super) fn end_attempt(&mut self, t: u32, error: Option<TaskError>) {
        let now = self.now;
        let tk = &mut self.tasks[t as usize];
        // A successful attempt while the log is implied needs nothing: its record ends with the
        // task, and the caller sets the task's end to now.
        if error.is_some() || !tk.log_is_implied() {
            let retries = opts_of(&self.graph, &self.dyn_opts, self.any_opts, t).retries;
            if let Some(rec) = tk.explicit_log(retries).last_mut() {
                if rec.end.is_none() {
                    rec.end = Some(now);
                    rec.error = error;
                }
            }
        }
        self.release_slot_and_keys(t);
    }

    pub(super) fn attempt_failed(&mut self, t: u32, error: TaskError, retryable: bool) {
        self.end_attempt(t, Some(error.clone()));
        self.cancel_children(t);
        let tk = &mut self.tasks[t as usize];
        let opts = opts_of(&self.graph, &self.dyn_opts, self.any_opts, t);
        let can_retry = retryable
            && tk.attempt <= opts.retries
            && self.stop.is_none()
            && error.kind != ErrorKind::Cancelled;
        if can_retry {
            let backoff = opts.backoff;
            let mut delay = backoff.base_delay(tk.attempt);
            if backoff.has_jitter() && !delay.is_zero() {
                let r = next_rand(&mut self.rng);
                delay = delay.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64);
            }
            let tk = &mut self.tasks[t as usize];
            tk.stage = Stage::RetryHook;
            tk.status = Status::Ready;
            let attempt = tk.attempt;
            // The event is only made when a hook wants it; otherwise the error moves.
            let for_hook = self
                .hooks
                .contains(EventKind::TaskRetry)
                .then(|| error.clone());
            let rare = tk.rare();
            rare.error = Some(error);
            rare.next_at = self.now + delay;
            if !delay.is_zero() {
                self.timers
                    .set(self.now, delay, Timer::Backoff { task: t, attempt });
            }
            let waits = match for_hook {
                Some(error) => self.emit(
                    t,
                    Event::TaskRetry {
                        task: TaskId(t),
                        attempt,
                        error,
                        delay,
                    },
                ),
                None => false,
            };
            if !waits {
                self.after_retry_hook(t);
            }
            return;
        }
        self.fail(t, error);
    }

    pub(super) fn after_retry_hook(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::Backoff;
        // Ready now if the delay is over (zero delay, or a hook slower than the delay);
        // otherwise the backoff timer enqueues it.
        if tk.next_at() <= self.now {
            self.enqueue(t);
        }
    }

    /// Final failure of a started task (failed, timed out, cancelled).
    pub(super) fn fail(&mut self, t: u32, error: TaskError) {
        let now = self.now;
        let tk = &mut self.tasks[t as usize];
        tk.status = match error.kind {
            ErrorKind::TimedOut => Status::TimedOut,
            ErrorKind::Cancelled => Status::Cancelled,
            ErrorKind::Failed | ErrorKind::Panicked | ErrorKind::Depth => Status::Failed,
        };
        tk.end = OptTime::new(now);
        tk.rare().error = Some(error);
        if tk.status != Status::Cancelled && self.first_failure.is_none() {
            self.first_failure = Some(TaskId(t));
        }
        let fail_fast =
            self.opts.get_fail_fast() && tk.status != Status::Cancelled && self.stop.is_none();
        self.enter_outcome_hook(t);
        if fail_fast {
            let cause = std::sync::Arc::from(self.name(TaskId(t)));
            self.stop_run(StopReason::FailFast { task: cause });
        }
    }
}

/// splitmix64: a tiny, well-distributed generator for backoff jitter.
fn next_rand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, TaskSpec};
    use crate::scheduler::{Command, Outcome, RunOptions};
    use std::sync::Arc;
    use std::time::Duration;

    /// Runs `s` by hand: attempt `n` of a task ends 10 ms after it starts, with
    /// `outcome(name, n)`.
    fn drive(s: &mut Scheduler<()>, outcome: impl Fn(&str, u32) -> Outcome<()>) {
        let mut now = Duration::ZERO;
        s.start(now);
        loop {
            match s.next_command() {
                Some(Command::Start { task, attempt }) => {
                    now += Duration::from_millis(10);
                    let o = outcome(s.name(task), attempt);
                    s.attempt_finished(task, attempt, o, now).unwrap();
                }
                Some(_) => {}
                None => match s.next_deadline() {
                    Some(at) => {
                        now = now.max(at);
                        s.advance(now);
                    }
                    None => break,
                },
            }
        }
        assert!(s.is_finished());
    }

    /// A task that succeeds at once allocates no rare part, and its implied attempt log reads
    /// as the stored one did; a retried task's log is explicit, one record per attempt.
    #[test]
    fn attempt_logs_implied_and_explicit() {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("ok")).unwrap();
        b.add(TaskSpec::new("flaky").retries(2)).unwrap();
        b.add(TaskSpec::new("after").after(["ok"])).unwrap();
        let graph = Arc::new(b.build().unwrap());
        let mut s: Scheduler<()> =
            Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).unwrap();
        drive(&mut s, |name, attempt| {
            if name == "flaky" && attempt < 3 {
                Outcome::fail("not yet")
            } else {
                Outcome::Ok(())
            }
        });
        let ok = graph.get("ok").unwrap();
        let flaky = graph.get("flaky").unwrap();
        assert!(s.tasks[ok.index()].rare.is_none());
        assert!(s.tasks[flaky.index()].rare.is_some());

        let report = s.report();
        assert_eq!(report, s.into_report());
        let ok = &report.tasks[ok.index()];
        assert_eq!(ok.attempts, 1);
        assert_eq!(
            ok.attempt_log()[..],
            [AttemptRecord {
                start: ok.started.unwrap(),
                end: ok.finished,
                error: None,
            }]
        );
        let flaky = &report.tasks[flaky.index()];
        assert_eq!(flaky.attempts, 3);
        assert_eq!(flaky.attempt_log().len(), 3);
        assert_eq!(flaky.attempt_log()[0].start, flaky.started.unwrap());
        assert_eq!(flaky.attempt_log()[2].end, flaky.finished);
        let statuses: Vec<Status> = flaky.attempt_log().iter().map(|a| a.status()).collect();
        assert_eq!(
            statuses,
            [Status::Failed, Status::Failed, Status::Succeeded]
        );
    }
}
