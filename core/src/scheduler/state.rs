//! The state machine itself: readiness, slots, retries, timeouts, skips, stops, dynamic
//! calls and hooks. Task storage, sequence keys, timers and reports live beside it.

mod calls;

pub use calls::{GroupId, JoinId, DEFAULT_MAX_DEPTH};
use calls::{GroupRec, JoinRec, MainStage};

use super::keys::Keys;
use super::task::{Deferred, OptTime, Stage, Task, NONE};
use super::timers::{Timer, Timers};
use super::{Command, HookToken, Input, Outcome, ProtocolError, RunOptions};
use crate::event::{
    ErrorKind, Event, EventKind, HookMask, SkipReason, Status, StopReason, TaskError,
};
use crate::graph::{Graph, Selection, TaskId};
use crate::policy::{OptionError, TaskOptions};
use crate::report::AttemptRecord;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// `dispatch` stops starting tasks once this many commands wait for the driver, and goes on
/// as the driver takes them.
const DISPATCH_BURST: usize = 1024;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The pseudo-task index of run-level hook tokens.
const PROCESS: u32 = u32::MAX;

/// One step of [`Scheduler::cancel_all`]'s walk over a task and its calls.
#[derive(Debug)]
enum CancelStep {
    /// Cancel this task: if it runs, its calls first.
    Enter(u32, TaskError),
    /// Its calls are cancelled: end the task.
    Exit(u32, TaskError),
}

/// A task waiting in [`Scheduler::resumes`] for a slot, and what it gets then.
#[derive(Debug, Clone, Copy)]
struct Wake {
    task: u32,
    /// The task whose outcome it gets ([`Command::Deliver`], [`Command::Joined`]), or
    /// [`NONE`] for a plain [`Command::Resume`].
    child: u32,
    /// The join that waits, or [`NONE`] for the call's own caller.
    join: u32,
}

/// The scheduler of one run. `V` is the driver's handle for task results; the core only stores
/// and hands it back.
///
/// See the [module docs](super) for the protocol. All methods are O(1) amortised per task and
/// per edge, except [`Scheduler::cancel`] (one pass over the tasks) and timers (a heap).
#[derive(Debug)]
pub struct Scheduler<V> {
    pub(super) graph: Arc<Graph>,
    pub(super) tasks: Vec<Task<V>>,
    opts: RunOptions,
    hooks: HookMask,
    max_parallel: usize,
    running: usize,
    pub(super) now: Duration,
    /// Tasks dequeued in the order they became ready (sequence numbers increase).
    ready: VecDeque<(u64, u32)>,
    /// Tasks back from a sequence-key wait, by their original ready order.
    returned: BinaryHeap<Reverse<(u64, u32)>>,
    ready_seq: Vec<u64>,
    next_seq: u64,
    /// Suspended tasks whose waits are over, waiting for a slot (served first).
    resumes: VecDeque<Wake>,
    keys: Keys,
    timers: Timers,
    commands: VecDeque<Command>,
    /// Whether `dispatch` stopped with work left because the driver has a burst of commands
    /// to perform first (see [`DISPATCH_BURST`]): it goes on when they are taken.
    dispatch_more: bool,
    /// Tasks of this run not yet `Done`.
    unfinished: usize,
    outstanding_hooks: usize,
    holds: usize,
    started: bool,
    begun: bool,
    completion_emitted: bool,
    finished: bool,
    pub(super) stop: Option<StopReason>,
    first_failure: Option<TaskId>,
    rng: u64,
    /// Tasks whose end still has to be handled (dependents readied or skipped, the caller
    /// woken): [`Scheduler::done`] works through it in a loop rather than recursing, so a
    /// chain of a million tasks failing at its head skips them all without a deep stack.
    done_queue: VecDeque<u32>,
    /// Whether [`Scheduler::done`] is working through `done_queue` (a nested call queues).
    in_done: bool,
    /// Every [`Scheduler::join`], by [`JoinId`].
    joins: Vec<JoinRec>,
    /// Every fail-fast [`Scheduler::group`], by [`GroupId`].
    groups: Vec<GroupRec>,
    /// An Orchestrator's `main`, if the run has one.
    main: MainStage,
    /// Whether [`Command::StartMain`] was handed out.
    main_began: bool,
    /// Calls nested deeper fail at once.
    max_depth: u32,
    /// The error of the hook whose failure stopped the run (its source is the hook's own
    /// exception object).
    hook_error: Option<TaskError>,
}

/// The default options, for every task that has no options of its own.
pub(super) fn default_opts() -> &'static TaskOptions {
    static D: OnceLock<TaskOptions> = OnceLock::new();
    D.get_or_init(TaskOptions::default)
}

impl<V> Scheduler<V> {
    /// A scheduler for the selected tasks of `graph` (a selection from [`Graph::select`] or
    /// [`Graph::all`], closed under dependencies).
    ///
    /// # Errors
    ///
    /// [`OptionError`] for invalid run options (see [`RunOptions::validate`]).
    pub fn new(
        graph: Arc<Graph>,
        selection: &Selection,
        opts: RunOptions,
    ) -> Result<Self, OptionError> {
        opts.validate()?;
        let mut s = Scheduler {
            tasks: Vec::with_capacity(graph.len()),
            hooks: opts.get_hooks(),
            max_parallel: opts.get_max_parallel().unwrap_or(usize::MAX),
            running: 0,
            now: Duration::ZERO,
            ready: VecDeque::new(),
            returned: BinaryHeap::new(),
            ready_seq: Vec::with_capacity(graph.len()),
            next_seq: 0,
            resumes: VecDeque::new(),
            keys: Keys::default(),
            timers: Timers::default(),
            commands: VecDeque::new(),
            dispatch_more: false,
            unfinished: selection.len(),
            outstanding_hooks: 0,
            holds: 0,
            started: false,
            begun: false,
            completion_emitted: false,
            finished: false,
            stop: None,
            first_failure: None,
            rng: opts.seed ^ 0x9E37_79B9_7F4A_7C15,
            done_queue: VecDeque::new(),
            in_done: false,
            joins: Vec::new(),
            groups: Vec::new(),
            main: MainStage::Absent,
            main_began: false,
            max_depth: opts.get_max_depth(),
            hook_error: None,
            opts,
            graph,
        };
        let g = s.graph.clone();
        for id in g.ids() {
            let selected = selection.contains(id);
            let o = g.options(id);
            let (opts, keys) = if o.is_default() {
                (None, Box::default())
            } else {
                (Some(Arc::new(o.clone())), s.keys.intern(&o.sequences))
            };
            s.tasks.push(Task::new(
                g.name_arc(id),
                opts,
                keys,
                NONE,
                if selected {
                    Stage::Pending
                } else {
                    Stage::Excluded
                },
                g.deps(id).len() as u32,
            ));
            s.ready_seq.push(0);
        }
        Ok(s)
    }

    // ----- outputs -------------------------------------------------------------------------

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

    // ----- queries -------------------------------------------------------------------------

    /// The id of task number `raw` of this run (static or dynamic), if there is one: how an
    /// id that crossed to a host as [`TaskId::as_u32`] comes back.
    pub fn task_id(&self, raw: u32) -> Option<TaskId> {
        ((raw as usize) < self.tasks.len()).then_some(TaskId(raw))
    }

    /// Checks that `task` belongs to this run.
    fn check(&self, task: TaskId) -> Result<usize, ProtocolError> {
        let i = task.index();
        if i < self.tasks.len() {
            Ok(i)
        } else {
            Err(ProtocolError::UnknownTask(task.0))
        }
    }

    /// Whether the run is over ([`Command::Finished`] was emitted).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The graph this run schedules.
    pub fn graph(&self) -> &Arc<Graph> {
        &self.graph
    }

    /// The name of a task (static or dynamic).
    pub fn name(&self, task: TaskId) -> &str {
        &self.tasks[task.index()].name
    }

    /// The name of a task as a shared string (no copy).
    pub fn name_arc(&self, task: TaskId) -> &Arc<str> {
        &self.tasks[task.index()].name
    }

    /// The current status of a task.
    pub fn status(&self, task: TaskId) -> Status {
        self.tasks[task.index()].status
    }

    /// The attempt currently running or last run (0 before the first).
    pub fn attempt(&self, task: TaskId) -> u32 {
        self.tasks[task.index()].attempt
    }

    /// The options of a task.
    pub fn options(&self, task: TaskId) -> &TaskOptions {
        self.tasks[task.index()].opts()
    }

    /// The value a succeeded task produced.
    pub fn value(&self, task: TaskId) -> Option<&V> {
        self.tasks[task.index()].value.as_ref()
    }

    /// The task's error, if it failed, timed out or was cancelled (a task that succeeded after
    /// failed attempts has none: its attempts' errors are in the report's attempt log).
    pub fn error(&self, task: TaskId) -> Option<&TaskError> {
        let tk = &self.tasks[task.index()];
        if tk.status == Status::Succeeded {
            return None;
        }
        tk.error()
    }

    /// The task that spawned a dynamic task.
    pub fn parent(&self, task: TaskId) -> Option<TaskId> {
        let p = self.tasks[task.index()].parent;
        (p != NONE).then_some(TaskId(p))
    }

    /// Why the run stopped early, if it did.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.as_ref()
    }

    /// The error a run that stopped early gives its caller (what an Orchestrator's `run()`
    /// raises when the run stopped `main`), decided here once for every door: on the run
    /// timeout a timeout error `run timed out after 100ms`; on an outside cancel a
    /// cancellation `run cancelled`; on fail-fast the failed task's own error; on a hook that
    /// raised an error naming the hook's event. `None` if the run did not stop early, or
    /// stopped because `main` raised (main's own error is the run's).
    pub fn stop_error(&self) -> Option<TaskError> {
        let reason = self.stop.as_ref()?;
        match reason {
            StopReason::TimedOut(_) => Some(TaskError::timed_out(reason.to_string())),
            StopReason::Cancelled => Some(TaskError::cancelled(reason.to_string())),
            StopReason::FailFast { .. } => self
                .first_failure
                .and_then(|t| self.tasks[t.index()].error().cloned()),
            StopReason::HookFailed { .. } => {
                let e = TaskError::failed(reason.to_string());
                match self.hook_error.as_ref().and_then(|h| h.source_obj()) {
                    Some(source) => Some(e.with_source(source.clone())),
                    None => Some(e),
                }
            }
            _ => None,
        }
    }

    /// The run's time: that of the latest input (since the run started).
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Why a task was skipped, if it was (`None` too for an id the run does not know).
    pub fn skip_reason(&self, task: TaskId) -> Option<&SkipReason> {
        self.tasks.get(task.index())?.rare.as_ref()?.skip.as_ref()
    }

    /// The number of tasks known to the run (static and dynamic, selected or not).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// How many attempts are running now (holding a slot).
    pub fn running(&self) -> usize {
        self.running
    }

    /// Takes the outcome of a finished task for its caller: its value if it succeeded, else its
    /// error — for a task that never ran (skipped, or cancelled before it started), a
    /// cancellation error saying so. The value is moved out (a second call finds none and
    /// gives the error); the report keeps the error.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn take_outcome(&mut self, task: TaskId) -> Result<Result<V, TaskError>, ProtocolError> {
        let i = self.check(task)?;
        let tk = &mut self.tasks[i];
        if tk.status == Status::Succeeded {
            if let Some(v) = tk.value.take() {
                return Ok(Ok(v));
            }
        }
        Ok(Err(self.outcome_error(i)))
    }

    /// The outcome of a finished task, as [`Scheduler::take_outcome`] gives it, without moving
    /// the value out: what each waiter of a [`Command::Joined`] gets.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn outcome(&self, task: TaskId) -> Result<Result<&V, TaskError>, ProtocolError> {
        let i = self.check(task)?;
        let tk = &self.tasks[i];
        match (&tk.value, tk.status) {
            (Some(v), Status::Succeeded) => Ok(Ok(v)),
            _ => Ok(Err(self.outcome_error(i))),
        }
    }

    /// The error a caller gets from task `i`: its own, or why it never ran.
    fn outcome_error(&self, i: usize) -> TaskError {
        let tk = &self.tasks[i];
        if let Some(e) = tk.error() {
            return e.clone();
        }
        let why = match tk.rare.as_ref().and_then(|r| r.skip.as_ref()) {
            Some(reason) => format!("task \"{}\" was skipped: {reason}", tk.name),
            None => format!("task \"{}\" did not run", tk.name),
        };
        TaskError::cancelled(why)
    }

    /// Moves a task's value out (the report does not hold values), e.g. to hand the results of
    /// a finished run to the host without cloning host objects.
    pub fn take_value(&mut self, task: TaskId) -> Option<V> {
        self.tasks.get_mut(task.index())?.value.take()
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Starts the run at `now` (normally zero): emits `process_begin`, then the first tasks.
    pub fn start(&mut self, now: Duration) {
        if self.started {
            return;
        }
        self.started = true;
        self.now = now;
        if let Some(t) = self.opts.get_timeout() {
            self.timers.set(now, t, Timer::Run);
        }
        if !self.emit(PROCESS, Event::ProcessBegin) {
            self.begin();
        }
        self.settle();
    }

    /// Keeps the run open while the driver may still spawn tasks (an Orchestrator's `main`).
    pub fn hold(&mut self) {
        self.holds += 1;
    }

    /// Undoes one [`Scheduler::hold`]; the run may finish once nothing is left.
    pub fn release(&mut self, now: Duration) {
        self.tick(now);
        self.release_one();
        self.settle();
    }

    pub(super) fn release_one(&mut self) {
        self.holds = self.holds.saturating_sub(1);
    }

    /// Moves the clock forward (never back).
    fn tick(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    /// Reports the end of an attempt. A report for an attempt that is no longer current (it was
    /// cancelled or timed out) is ignored and its value dropped.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn attempt_finished(
        &mut self,
        task: TaskId,
        attempt: u32,
        outcome: Outcome<V>,
        now: Duration,
    ) -> Result<(), ProtocolError> {
        self.check(task)?;
        self.tick(now);
        self.finished_one(task, attempt, outcome);
        self.settle();
        Ok(())
    }

    fn finished_one(&mut self, task: TaskId, attempt: u32, outcome: Outcome<V>) {
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

    /// Takes several inputs that happened at the same instant `now`, in any order, and orders
    /// them as the contract says: attempts that finished and hooks that are done first (in the
    /// order given), then resumes, releases and single-task cancels, then an outside cancel of
    /// the whole run, and the clock's advance ([`Input::Advance`]) last — so work that finished
    /// by the time a cancel arrived counts as finished, and an attempt that finished at the
    /// instant of its deadline succeeded.
    ///
    /// # Errors
    ///
    /// The first [`ProtocolError`] among the inputs; the valid ones are taken all the same.
    pub fn handle(
        &mut self,
        now: Duration,
        inputs: impl IntoIterator<Item = Input<V>>,
    ) -> Result<(), ProtocolError> {
        self.tick(now);
        let mut first_err = None;
        let mut later = Vec::new();
        let mut cancel = false;
        let mut advance = false;
        for input in inputs {
            let r = match input {
                Input::Finished {
                    task,
                    attempt,
                    outcome,
                } => self
                    .check(task)
                    .map(|_| self.finished_one(task, attempt, outcome)),
                Input::HookDone(token) => self.hook_done_one(token, None),
                Input::HookFailed(token, message) => {
                    self.hook_done_one(token, Some(TaskError::failed(message)))
                }
                Input::Cancel => {
                    cancel = true;
                    Ok(())
                }
                Input::Advance => {
                    advance = true;
                    Ok(())
                }
                other => {
                    later.push(other);
                    Ok(())
                }
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        for input in later {
            let r = match input {
                Input::Resume(task) => self.check(task).map(|_| self.resume_one(task)),
                Input::CancelTask(task) => self.check(task).map(|_| {
                    self.cancel_one(task.0, TaskError::cancelled("cancelled"));
                }),
                Input::Release => {
                    self.release_one();
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        if cancel && !self.completion_emitted && !self.all_decided() {
            self.stop_run(StopReason::Cancelled);
        }
        if advance {
            self.fire_timers();
        }
        self.settle();
        first_err.map_or(Ok(()), Err)
    }

    /// Advances the clock to `now`: fires timeouts, ends backoff waits, enforces the run timeout.
    ///
    /// To have attempts that finished at the same instant count first, pass them together with
    /// [`Input::Advance`] to [`Scheduler::handle`].
    pub fn advance(&mut self, now: Duration) {
        // `handle` never fails without task ids.
        let _ = self.handle(now, [Input::Advance]);
    }

    /// Fires every timer due by now: timeouts, backoff ends, the run timeout.
    fn fire_timers(&mut self) {
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
                        let limit = tk.opts().timeout.unwrap_or_default();
                        self.commands.push_back(Command::Cancel {
                            task: TaskId(task),
                            attempt,
                            timed_out: true,
                        });
                        let error = TaskError::timed_out(format!(
                            "task \"{}\" timed out after {}",
                            tk.name,
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

    fn hook_done_one(
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

    /// Whether nothing is left to cancel: every task's outcome is decided (only its hooks may
    /// still run) and the driver holds the run open no longer.
    fn all_decided(&self) -> bool {
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

    /// Cancels the whole run: running attempts are cancelled, everything not started is skipped.
    /// A cancel that comes once every task's outcome is decided (only hooks may still run)
    /// changes nothing: the run is over. To have attempts that finished at the same instant count as
    /// finished, pass them together with [`Input::Cancel`] to [`Scheduler::handle`].
    pub fn cancel(&mut self, now: Duration) {
        // `handle` never fails without task ids.
        let _ = self.handle(now, [Input::Cancel]);
    }

    /// Cancels one task: if it runs, its attempt is cancelled; either way it ends `cancelled`
    /// and its dependents are skipped. No effect on a finished task.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn cancel_task(&mut self, task: TaskId, now: Duration) -> Result<(), ProtocolError> {
        self.handle(now, [Input::CancelTask(task)])
    }

    // ----- internals -----------------------------------------------------------------------

    /// Frees the queues and indexes that only a running run needs (the report needs none of
    /// them).
    pub(super) fn free_run_buffers(&mut self) {
        self.commands = VecDeque::new();
        self.ready = VecDeque::new();
        self.returned = BinaryHeap::new();
        self.ready_seq = Vec::new();
        self.resumes = VecDeque::new();
        self.timers = Timers::default();
    }

    fn begin(&mut self) {
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
        for i in 0..self.tasks.len() as u32 {
            let tk = &self.tasks[i as usize];
            if tk.stage == Stage::Pending && tk.pending == 0 {
                self.make_ready(i);
            }
        }
    }

    /// Emits `event` for `task` if it has hooks. Returns whether the caller must wait.
    fn emit(&mut self, task: u32, event: Event) -> bool {
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

    fn make_ready(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::ReadyHook;
        tk.status = Status::Ready;
        if !self.emit(t, Event::TaskReady { task: TaskId(t) }) {
            self.enqueue(t);
        }
    }

    fn enqueue(&mut self, t: u32) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.ready_seq[t as usize] = seq;
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::Queued;
        tk.status = Status::Ready;
        self.ready.push_back((seq, t));
    }

    fn continue_after_hook(&mut self, t: u32) {
        match self.tasks[t as usize].stage {
            Stage::ReadyHook => self.enqueue(t),
            Stage::BeginHook => self.start_attempt(t),
            Stage::RetryHook => self.after_retry_hook(t),
            Stage::OutcomeHook => self.enter_completion_hook(t),
            Stage::CompletionHook | Stage::SkipHook => self.done(t),
            _ => {}
        }
    }

    /// Starts whatever can start, then finishes the run if nothing is left.
    fn settle(&mut self) {
        self.dispatch();
        self.maybe_finish();
    }

    fn dispatch(&mut self) {
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

    fn pop_ready(&mut self) -> Option<u32> {
        let a = self.ready.front().map(|&(s, _)| s);
        let b = self.returned.peek().map(|Reverse((s, _))| *s);
        match (a, b) {
            (None, None) => None,
            (Some(_), None) => self.ready.pop_front().map(|(_, t)| t),
            (None, Some(_)) => self.returned.pop().map(|Reverse((_, t))| t),
            (Some(x), Some(y)) => {
                if x < y {
                    self.ready.pop_front().map(|(_, t)| t)
                } else {
                    self.returned.pop().map(|Reverse((_, t))| t)
                }
            }
        }
    }

    fn start_attempt(&mut self, t: u32) {
        let now = self.now;
        let tk = &mut self.tasks[t as usize];
        if tk.attempt > 0 {
            // A retry: the log is explicit already (the attempt before ended with an error).
            tk.explicit_log().push(AttemptRecord {
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
        if let Some(limit) = tk.opts().timeout {
            self.timers
                .set(now, limit, Timer::Timeout { task: t, attempt });
        }
        self.commands.push_back(Command::Start {
            task: TaskId(t),
            attempt,
        });
    }

    /// Closes the current attempt's record and gives back its slot and keys.
    fn end_attempt(&mut self, t: u32, error: Option<TaskError>) {
        let now = self.now;
        let tk = &mut self.tasks[t as usize];
        // A successful attempt while the log is implied needs nothing: its record ends with the
        // task, and the caller sets the task's end to now.
        if error.is_some() || !tk.log_is_implied() {
            if let Some(rec) = tk.explicit_log().last_mut() {
                if rec.end.is_none() {
                    rec.end = Some(now);
                    rec.error = error;
                }
            }
        }
        self.release_slot_and_keys(t);
    }

    fn release_slot_and_keys(&mut self, t: u32) {
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
        let (tasks, returned, ready_seq) = (&mut self.tasks, &mut self.returned, &self.ready_seq);
        self.keys.release(t, &keys, |w| {
            if tasks[w as usize].stage == Stage::KeyWait {
                tasks[w as usize].stage = Stage::Queued;
                returned.push(Reverse((ready_seq[w as usize], w)));
            }
        });
        self.tasks[t as usize].rare().keys = keys;
    }

    fn attempt_failed(&mut self, t: u32, error: TaskError, retryable: bool) {
        self.end_attempt(t, Some(error.clone()));
        self.cancel_children(t);
        let tk = &mut self.tasks[t as usize];
        let can_retry = retryable
            && tk.attempt <= tk.opts().retries
            && self.stop.is_none()
            && error.kind != ErrorKind::Cancelled;
        if can_retry {
            let backoff = tk.opts().backoff;
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

    fn after_retry_hook(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::Backoff;
        // Ready now if the delay is over (zero delay, or a hook slower than the delay);
        // otherwise the backoff timer enqueues it.
        if tk.next_at() <= self.now {
            self.enqueue(t);
        }
    }

    /// Final failure of a started task (failed, timed out, cancelled).
    fn fail(&mut self, t: u32, error: TaskError) {
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
        let cause = tk.name.clone();
        let fail_fast =
            self.opts.get_fail_fast() && tk.status != Status::Cancelled && self.stop.is_none();
        self.enter_outcome_hook(t);
        if fail_fast {
            self.stop_run(StopReason::FailFast { task: cause });
        }
    }

    /// From the first attempt's start to the end (or now); zero if it never started.
    fn duration(&self, t: u32) -> Duration {
        let tk = &self.tasks[t as usize];
        let end = tk.end.get().unwrap_or(self.now);
        tk.first_start
            .get()
            .map_or(Duration::ZERO, |s| end.saturating_sub(s))
    }

    fn enter_outcome_hook(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::OutcomeHook;
        let kind = if tk.status == Status::Succeeded {
            EventKind::TaskSuccess
        } else {
            EventKind::TaskFailure
        };
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

    fn enter_completion_hook(&mut self, t: u32) {
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

    /// The task's end is final: ready or skip its dependents, or hand a dynamic task's outcome
    /// to its caller. Iterative: a task ended while another's end is being handled (a
    /// dependent skipped without a hook) is queued and handled in the same loop, in order.
    fn done(&mut self, t: u32) {
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

    fn done_one(&mut self, t: u32) {
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

    fn skip(&mut self, t: u32, reason: SkipReason) {
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
    fn cancel_one(&mut self, t: u32, error: TaskError) {
        self.cancel_all(vec![CancelStep::Enter(t, error)]);
    }

    /// Cancels the unfinished dynamic children of a task whose attempt ended without success.
    fn cancel_children(&mut self, t: u32) {
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
    fn bump_hook_seq(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        tk.hook_seq = tk.hook_seq.wrapping_add(1);
    }

    /// Stops the run: running attempts are cancelled, tasks not started are skipped.
    fn stop_run(&mut self, reason: StopReason) {
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

    fn stop_tasks(&mut self, reason: StopReason) {
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

    fn maybe_finish(&mut self) {
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

    fn finish(&mut self) {
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
