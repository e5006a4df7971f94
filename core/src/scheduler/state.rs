//! The state machine itself.

use super::{Action, HookToken, Outcome, RunOptions};
use crate::event::{
    ErrorKind, Event, EventKind, HookMask, SkipReason, Status, StopReason, TaskError,
};
use crate::graph::{Graph, Selection, TaskId};
use crate::policy::TaskOptions;
use crate::report::{AttemptRecord, RunReport, TaskReport};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const NONE: u32 = u32::MAX;
/// The pseudo-task index of run-level hook tokens.
const PROCESS: u32 = u32::MAX;

/// Where a task is in its lifecycle. Stages ending in `Hook` wait for a hook acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not part of this run (not selected).
    Excluded,
    /// Waiting for dependencies.
    Pending,
    ReadyHook,
    /// In the ready queue.
    Queued,
    /// Dequeued, but a sequence key is held by another task.
    KeyWait,
    BeginHook,
    Running,
    RetryHook,
    /// Waiting out the backoff delay.
    Backoff,
    OutcomeHook,
    CompletionHook,
    SkipHook,
    Done,
}

/// One task's state.
///
/// Kept small, because a run holds one per task (a million in the `wide-1m` benchmark): what
/// most tasks never need lives in [`Rare`], allocated the first time it is needed, times are
/// stored as [`OptTime`], and the attempt log of a task whose only attempt did not fail is
/// implied rather than stored (see [`Rare::log`]). A task with default options that succeeds
/// at its first attempt allocates nothing here.
#[derive(Debug)]
struct Task<V> {
    name: Arc<str>,
    opts: Arc<TaskOptions>,
    parent: u32,
    stage: Stage,
    status: Status,
    /// Dependencies not yet succeeded.
    pending: u32,
    /// Attempts started so far (as many as records in the attempt log).
    attempt: u32,
    /// Outstanding awaits on children; the task holds no slot while > 0.
    waits: u32,
    /// Bumped whenever an emitted event's continuation must be dropped.
    hook_seq: u32,
    holds_slot: bool,
    /// When the first attempt started.
    first_start: OptTime,
    /// When the task finished.
    end: OptTime,
    value: Option<V>,
    /// What few tasks need; `None` until one of its fields is first set.
    rare: Option<Box<Rare>>,
}

/// The part of a [`Task`] that most tasks never need: sequence keys, errors, skips, dynamic
/// children, deferred cancels, retries.
#[derive(Debug, Default)]
struct Rare {
    /// The task's sequence keys (interned).
    keys: Box<[u32]>,
    error: Option<TaskError>,
    skip: Option<SkipReason>,
    /// For skips caused by a failure: the task that failed first.
    root_cause: Option<Arc<str>>,
    children: Vec<TaskId>,
    /// A cancel or skip that arrived while one of the task's hooks was running: applied when
    /// that hook is done, so a task's hooks never overlap (rule 9).
    deferred: Option<Deferred>,
    /// When the next attempt may start (after a failed attempt and its backoff delay).
    next_at: Duration,
    /// The attempt log, once it is explicit; empty while it is implied.
    ///
    /// The log is implied while no attempt has ended with an error: then the task has made
    /// at most one attempt, and that attempt's record is `{ start: first_start, end: end,
    /// error: None }` (a successful attempt is the task's last, so it ends when the task
    /// does). The log is made explicit, with that record, before an attempt ends with an
    /// error; from then on every attempt has its record here.
    log: Vec<AttemptRecord>,
}

impl<V> Task<V> {
    fn new(
        name: Arc<str>,
        opts: Arc<TaskOptions>,
        keys: Box<[u32]>,
        parent: u32,
        stage: Stage,
        pending: u32,
    ) -> Self {
        Task {
            name,
            opts,
            parent,
            stage,
            status: Status::Pending,
            pending,
            attempt: 0,
            waits: 0,
            hook_seq: 0,
            holds_slot: false,
            first_start: OptTime::NONE,
            end: OptTime::NONE,
            value: None,
            rare: (!keys.is_empty()).then(|| {
                Box::new(Rare {
                    keys,
                    ..Rare::default()
                })
            }),
        }
    }

    /// The rare part, allocated if it was not yet.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The task's sequence keys.
    fn keys(&self) -> &[u32] {
        self.rare.as_ref().map_or(&[], |r| &r.keys)
    }

    /// The task's last error.
    fn error(&self) -> Option<&TaskError> {
        self.rare.as_ref().and_then(|r| r.error.as_ref())
    }

    /// When the next attempt may start.
    fn next_at(&self) -> Duration {
        self.rare.as_ref().map_or(Duration::ZERO, |r| r.next_at)
    }

    /// Whether the attempt log is implied (see [`Rare::log`]).
    fn log_is_implied(&self) -> bool {
        self.rare.as_ref().is_none_or(|r| r.log.is_empty())
    }

    /// The implied attempt log (see [`Rare::log`]): empty before the first attempt, then one
    /// record.
    fn implied_log(&self) -> Vec<AttemptRecord> {
        debug_assert!(self.attempt <= 1, "an implied log has at most one attempt");
        match self.first_start.get() {
            Some(start) if self.attempt > 0 => vec![AttemptRecord {
                start,
                end: self.end.get(),
                error: None,
            }],
            _ => Vec::new(),
        }
    }

    /// The explicit attempt log, made so first if it is implied.
    fn explicit_log(&mut self) -> &mut Vec<AttemptRecord> {
        let implied = self.log_is_implied().then(|| self.implied_log());
        let rare = self.rare();
        if let Some(log) = implied {
            rare.log = log;
        }
        &mut rare.log
    }

    /// A copy of the attempt log.
    fn attempt_log(&self) -> Vec<AttemptRecord> {
        match &self.rare {
            Some(r) if !r.log.is_empty() => r.log.clone(),
            _ => self.implied_log(),
        }
    }
}

/// An `Option<Duration>` in 12 bytes aligned to 4 (an `Option<Duration>` takes 16 aligned to
/// 8), so that it packs beside a task's `u32` fields. Lossless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptTime {
    secs_hi: u32,
    secs_lo: u32,
    /// The nanoseconds, or [`OptTime::NONE_NANOS`] for `None` (a `Duration`'s nanoseconds are
    /// below 10⁹).
    nanos: u32,
}

impl OptTime {
    const NONE_NANOS: u32 = u32::MAX;
    const NONE: OptTime = OptTime {
        secs_hi: 0,
        secs_lo: 0,
        nanos: Self::NONE_NANOS,
    };

    fn new(d: Duration) -> Self {
        let secs = d.as_secs();
        OptTime {
            secs_hi: (secs >> 32) as u32,
            secs_lo: secs as u32,
            nanos: d.subsec_nanos(),
        }
    }

    fn get(self) -> Option<Duration> {
        (self.nanos != Self::NONE_NANOS).then(|| {
            let secs = (u64::from(self.secs_hi) << 32) | u64::from(self.secs_lo);
            Duration::new(secs, self.nanos)
        })
    }

    fn is_none(self) -> bool {
        self.nanos == Self::NONE_NANOS
    }
}

/// See `Rare::deferred`.
#[derive(Debug)]
enum Deferred {
    Cancel(TaskError),
    Skip(SkipReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Run,
    Timeout { task: u32, attempt: u32 },
    Backoff { task: u32, attempt: u32 },
}

#[derive(Debug, Default)]
struct Key {
    holder: u32,
    waiters: VecDeque<u32>,
}

/// The scheduler of one run. `V` is the driver's handle for task results; the core only stores
/// and hands it back.
///
/// See the [module docs](super) for the protocol. All methods are O(1) amortised per task and
/// per edge, except [`Scheduler::cancel`] (one pass over the tasks) and timers (a heap).
#[derive(Debug)]
pub struct Scheduler<V> {
    graph: Arc<Graph>,
    tasks: Vec<Task<V>>,
    opts: RunOptions,
    hooks: HookMask,
    max_parallel: usize,
    running: usize,
    now: Duration,
    /// Tasks dequeued in the order they became ready (sequence numbers increase).
    ready: VecDeque<(u64, u32)>,
    /// Tasks back from a sequence-key wait, by their original ready order.
    returned: BinaryHeap<Reverse<(u64, u32)>>,
    ready_seq: Vec<u64>,
    next_seq: u64,
    /// Suspended tasks whose children are done, waiting for a slot (served first).
    resumes: VecDeque<u32>,
    keys: Vec<Key>,
    key_ids: HashMap<Arc<str>, u32>,
    timers: BinaryHeap<Reverse<(Duration, u64, Timer)>>,
    timer_seq: u64,
    actions: VecDeque<Action>,
    /// Tasks of this run not yet `Done`.
    unfinished: usize,
    outstanding_hooks: usize,
    holds: usize,
    started: bool,
    begun: bool,
    completion_emitted: bool,
    finished: bool,
    stop: Option<StopReason>,
    first_failure: Option<TaskId>,
    rng: u64,
}

fn default_opts() -> Arc<TaskOptions> {
    static D: OnceLock<Arc<TaskOptions>> = OnceLock::new();
    D.get_or_init(|| Arc::new(TaskOptions::default())).clone()
}

impl<V> Scheduler<V> {
    /// A scheduler for the selected tasks of `graph` (a selection from [`Graph::select`] or
    /// [`Graph::all`], closed under dependencies).
    pub fn new(graph: Arc<Graph>, selection: &Selection, opts: RunOptions) -> Self {
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
            keys: Vec::new(),
            key_ids: HashMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            actions: VecDeque::new(),
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
            opts,
            graph,
        };
        let g = s.graph.clone();
        for id in g.ids() {
            let selected = selection.contains(id);
            let o = g.options(id);
            let (opts, keys) = if o.is_default() {
                (default_opts(), Box::default())
            } else {
                (Arc::new(o.clone()), s.intern_keys(&o.sequences))
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
        s
    }

    fn intern_keys(&mut self, names: &[String]) -> Box<[u32]> {
        let mut ids: Vec<u32> = Vec::with_capacity(names.len());
        for n in names {
            let id = match self.key_ids.get(n.as_str()) {
                Some(&k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    self.keys.push(Key {
                        holder: NONE,
                        waiters: VecDeque::new(),
                    });
                    self.key_ids.insert(Arc::from(n.as_str()), k);
                    k
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids.into_boxed_slice()
    }

    // ----- queries -------------------------------------------------------------------------

    /// The next action for the driver, if any. Call until `None` after every input.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Moves every pending action into `out` (keeps `out`'s allocation; cheaper in hot loops).
    pub fn drain_actions(&mut self, out: &mut Vec<Action>) {
        out.extend(self.actions.drain(..));
    }

    /// The earliest instant at which [`Scheduler::advance`] has something to do.
    /// (It may be a timer that turns out to be stale; advancing to it is harmless.)
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Whether the run is over ([`Action::Finished`] was emitted).
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
        &self.tasks[task.index()].opts
    }

    /// The value a succeeded task produced.
    pub fn value(&self, task: TaskId) -> Option<&V> {
        self.tasks[task.index()].value.as_ref()
    }

    /// The task's error, if it failed, timed out or was cancelled.
    pub fn error(&self, task: TaskId) -> Option<&TaskError> {
        self.tasks[task.index()].error()
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

    /// The number of tasks known to the run (static and dynamic, selected or not).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// How many attempts are running now (holding a slot).
    pub fn running(&self) -> usize {
        self.running
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
            self.push_timer(now + t, Timer::Run);
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
        self.now = self.now.max(now);
        self.holds = self.holds.saturating_sub(1);
        self.settle();
    }

    /// Reports the end of an attempt. A report for an attempt that is no longer current (it was
    /// cancelled or timed out) is ignored and its value dropped.
    pub fn attempt_finished(
        &mut self,
        task: TaskId,
        attempt: u32,
        outcome: Outcome<V>,
        now: Duration,
    ) {
        if self.completion_emitted {
            // A late report after the run ended: nothing to decide, and the clock stays put.
            return;
        }
        self.now = self.now.max(now);
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
        self.settle();
    }

    /// Advances the clock to `now`: fires timeouts, ends backoff waits, enforces the run timeout.
    pub fn advance(&mut self, now: Duration) {
        if self.completion_emitted {
            return;
        }
        self.now = self.now.max(now);
        while let Some(Reverse((at, _, timer))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Run => {
                    let d = self.opts.get_timeout().unwrap_or_default();
                    self.stop_run(StopReason::TimedOut(d));
                }
                Timer::Timeout { task, attempt } => {
                    let tk = &self.tasks[task as usize];
                    if tk.stage == Stage::Running && tk.attempt == attempt {
                        let limit = tk.opts.timeout.unwrap_or_default();
                        self.actions.push_back(Action::Cancel {
                            task: TaskId(task),
                            attempt,
                            timed_out: true,
                        });
                        let error = TaskError {
                            kind: ErrorKind::TimedOut,
                            message: format!(
                                "task \"{}\" timed out after {}",
                                tk.name,
                                crate::event::fmt_duration(limit)
                            )
                            .into(),
                        };
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
        self.settle();
    }

    /// Says the hooks of an emitted event are done; the task moves on.
    pub fn hook_done(&mut self, token: HookToken, now: Duration) {
        self.now = self.now.max(now);
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
        self.settle();
    }

    /// Says a hook raised: the run fails with an error naming the event, running tasks are
    /// cancelled, and the task moves on as if the hook had returned.
    pub fn hook_failed(&mut self, token: HookToken, message: impl Into<Arc<str>>, now: Duration) {
        self.now = self.now.max(now);
        let reason = StopReason::HookFailed {
            event: token.kind,
            message: message.into(),
        };
        if token.kind == EventKind::ProcessCompletion {
            // Nothing left to cancel: record it and finish.
            if self.stop.is_none() {
                self.stop = Some(reason);
            }
        } else {
            self.stop_run(reason);
        }
        self.hook_done(token, now);
    }

    /// Cancels the whole run: running attempts are cancelled, everything not started is skipped.
    /// A cancel that comes once every task is finished (`process_completion` emitted) changes
    /// nothing: the run is over.
    pub fn cancel(&mut self, now: Duration) {
        if self.completion_emitted {
            return;
        }
        self.now = self.now.max(now);
        self.stop_run(StopReason::Cancelled);
        self.settle();
    }

    /// Cancels one task: if it runs, its attempt is cancelled; either way it ends `cancelled`
    /// and its dependents are skipped. No effect on a finished task.
    pub fn cancel_task(&mut self, task: TaskId, now: Duration) {
        self.now = self.now.max(now);
        let error = TaskError {
            kind: ErrorKind::Cancelled,
            message: "cancelled".into(),
        };
        self.cancel_one(task.0, error);
        self.settle();
    }

    /// Adds a dynamic task, spawned by `parent` (a running task) or by the driver (`None`,
    /// e.g. an Orchestrator's `main`). It is ready at once.
    pub fn spawn(
        &mut self,
        parent: Option<TaskId>,
        name: Arc<str>,
        opts: Arc<TaskOptions>,
        now: Duration,
    ) -> TaskId {
        self.now = self.now.max(now);
        let id = self.tasks.len() as u32;
        let keys = if opts.sequences.is_empty() {
            Box::default()
        } else {
            self.intern_keys(&opts.sequences)
        };
        self.tasks.push(Task::new(
            name,
            opts,
            keys,
            parent.map_or(NONE, |p| p.0),
            Stage::Pending,
            0,
        ));
        self.ready_seq.push(0);
        self.unfinished += 1;
        if let Some(p) = parent {
            self.tasks[p.index()].rare().children.push(TaskId(id));
        }
        if !self.begun {
            // begin() readies or skips it, after process_begin's hooks.
        } else if let Some(stop) = self.stop.clone() {
            self.skip(id, SkipReason::Stopped(stop));
        } else {
            self.make_ready(id);
        }
        self.settle();
        TaskId(id)
    }

    /// Says a running task now awaits one of its children: it gives its slot back while it
    /// waits, so recursion under `max_parallel(1)` cannot deadlock.
    pub fn suspend(&mut self, task: TaskId) {
        let tk = &mut self.tasks[task.index()];
        if tk.stage != Stage::Running {
            return;
        }
        tk.waits += 1;
        if tk.waits == 1 && tk.holds_slot {
            tk.holds_slot = false;
            self.running -= 1;
        }
        self.settle();
    }

    /// Says an awaited child of `task` is done. When it was the last one awaited, the task
    /// waits for a slot and gets [`Action::Resume`]; otherwise it is resumed at once.
    pub fn resume(&mut self, task: TaskId, now: Duration) {
        self.now = self.now.max(now);
        let t = task.0;
        let tk = &mut self.tasks[t as usize];
        if tk.stage != Stage::Running || tk.waits == 0 {
            // Cancelled meanwhile, or never suspended: let the driver go on.
            self.actions.push_back(Action::Resume { task });
            return;
        }
        if tk.waits > 1 {
            tk.waits -= 1;
            self.actions.push_back(Action::Resume { task });
        } else {
            self.resumes.push_back(t);
        }
        self.settle();
    }

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

    // ----- internals -----------------------------------------------------------------------

    fn begin(&mut self) {
        if self.begun {
            return;
        }
        self.begun = true;
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
        self.actions.push_back(Action::Emit {
            event,
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
            if let Some(t) = self.resumes.pop_front() {
                let tk = &mut self.tasks[t as usize];
                if tk.stage == Stage::Running && tk.waits == 1 {
                    tk.waits = 0;
                    tk.holds_slot = true;
                    self.running += 1;
                }
                self.actions.push_back(Action::Resume { task: TaskId(t) });
                continue;
            }
            let Some(t) = self.pop_ready() else { break };
            if self.tasks[t as usize].stage != Stage::Queued {
                continue;
            }
            if let Some(&busy) = self.tasks[t as usize]
                .keys()
                .iter()
                .find(|&&k| self.keys[k as usize].holder != NONE)
            {
                self.tasks[t as usize].stage = Stage::KeyWait;
                self.keys[busy as usize].waiters.push_back(t);
                continue;
            }
            for i in 0..self.tasks[t as usize].keys().len() {
                let k = self.tasks[t as usize].keys()[i];
                self.keys[k as usize].holder = t;
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
        if let Some(limit) = tk.opts.timeout {
            self.push_timer(now + limit, Timer::Timeout { task: t, attempt });
        }
        self.actions.push_back(Action::Start {
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
        for i in 0..self.tasks[t as usize].keys().len() {
            let k = self.tasks[t as usize].keys()[i] as usize;
            if self.keys[k].holder == t {
                self.keys[k].holder = NONE;
                while let Some(w) = self.keys[k].waiters.pop_front() {
                    if self.tasks[w as usize].stage == Stage::KeyWait {
                        self.tasks[w as usize].stage = Stage::Queued;
                        self.returned.push(Reverse((self.ready_seq[w as usize], w)));
                    }
                }
            }
        }
    }

    fn attempt_failed(&mut self, t: u32, error: TaskError, retryable: bool) {
        self.end_attempt(t, Some(error.clone()));
        self.cancel_children(t);
        let tk = &mut self.tasks[t as usize];
        let can_retry = retryable
            && tk.attempt <= tk.opts.retries
            && self.stop.is_none()
            && error.kind != ErrorKind::Cancelled;
        if can_retry {
            let backoff = tk.opts.backoff;
            let mut delay = backoff.base_delay(tk.attempt);
            if backoff.has_jitter() && !delay.is_zero() {
                let r = next_rand(&mut self.rng);
                delay = delay.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64);
            }
            let tk = &mut self.tasks[t as usize];
            tk.stage = Stage::RetryHook;
            tk.status = Status::Ready;
            let attempt = tk.attempt;
            let rare = tk.rare();
            rare.error = Some(error.clone());
            rare.next_at = self.now + delay;
            if !delay.is_zero() {
                self.push_timer(self.now + delay, Timer::Backoff { task: t, attempt });
            }
            if !self.emit(
                t,
                Event::TaskRetry {
                    task: TaskId(t),
                    attempt,
                    error,
                    delay,
                },
            ) {
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
            ErrorKind::Failed | ErrorKind::Panicked => Status::Failed,
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
        let duration = self.duration(t);
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::OutcomeHook;
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
        let duration = self.duration(t);
        let tk = &mut self.tasks[t as usize];
        tk.stage = Stage::CompletionHook;
        let event = Event::TaskCompletion {
            task: TaskId(t),
            duration,
            status: tk.status,
            error: tk.error().cloned(),
        };
        if !self.emit(t, event) {
            self.done(t);
        }
    }

    fn done(&mut self, t: u32) {
        let statics = self.graph.len();
        let tk = &mut self.tasks[t as usize];
        if tk.stage == Stage::Done {
            return;
        }
        tk.stage = Stage::Done;
        self.unfinished -= 1;
        let status = tk.status;
        if (t as usize) >= statics {
            self.actions.push_back(Action::Settled { task: TaskId(t) });
            return;
        }
        let graph = self.graph.clone();
        if status == Status::Succeeded {
            for &d in graph.dependents(TaskId(t)) {
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
            for &d in graph.dependents(TaskId(t)) {
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

    /// Cancels one unfinished task (whatever its stage), with `error` as its final error.
    fn cancel_one(&mut self, t: u32, error: TaskError) {
        let stage = self.tasks[t as usize].stage;
        match stage {
            Stage::Running => {
                let attempt = self.tasks[t as usize].attempt;
                self.actions.push_back(Action::Cancel {
                    task: TaskId(t),
                    attempt,
                    timed_out: false,
                });
                self.end_attempt(t, Some(error.clone()));
                self.cancel_children(t);
                self.tasks[t as usize].hook_seq = self.tasks[t as usize].hook_seq.wrapping_add(1);
                self.fail(t, error);
            }
            // A hook of the task is running: cancel once it is done.
            Stage::ReadyHook | Stage::BeginHook | Stage::RetryHook => {
                self.release_slot_and_keys(t);
                self.tasks[t as usize].rare().deferred = Some(Deferred::Cancel(error));
            }
            Stage::Backoff => {
                self.tasks[t as usize].hook_seq = self.tasks[t as usize].hook_seq.wrapping_add(1);
                self.fail(t, error);
            }
            Stage::Pending | Stage::Queued | Stage::KeyWait => {
                self.tasks[t as usize].hook_seq = self.tasks[t as usize].hook_seq.wrapping_add(1);
                self.fail(t, error);
            }
            Stage::Excluded
            | Stage::OutcomeHook
            | Stage::CompletionHook
            | Stage::SkipHook
            | Stage::Done => {}
        }
    }

    /// Cancels the unfinished dynamic children of a task whose attempt ended without success.
    fn cancel_children(&mut self, t: u32) {
        let children = match self.tasks[t as usize].rare.as_mut() {
            Some(r) if !r.children.is_empty() => std::mem::take(&mut r.children),
            _ => return,
        };
        for &c in &children {
            let error = TaskError {
                kind: ErrorKind::Cancelled,
                message: format!("parent task \"{}\" ended", self.tasks[t as usize].name).into(),
            };
            self.cancel_one(c.0, error);
        }
        self.tasks[t as usize].rare().children = children;
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
        }
    }

    fn stop_tasks(&mut self, reason: StopReason) {
        self.resumes.clear();
        let error = TaskError {
            kind: ErrorKind::Cancelled,
            message: reason.to_string().into(),
        };
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
            self.actions.push_back(Action::Finished);
        }
    }

    fn push_timer(&mut self, at: Duration, timer: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, timer)));
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
    use crate::scheduler::{Outcome, RunOptions};
    use std::any::Any;

    /// A run holds one `Task` per task (a million in `wide-1m`), so it must stay small. It took
    /// 272 bytes before the rare fields moved to `Rare` and times to `OptTime`.
    #[test]
    fn a_task_is_small() {
        let size = std::mem::size_of::<Task<Arc<dyn Any + Send + Sync>>>();
        assert!(size <= 96, "a Task<Arc<dyn Any>> takes {size} bytes");
    }

    #[test]
    fn opt_time_holds_any_duration() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::new(1, 999_999_999),
            Duration::new(u64::from(u32::MAX) + 7, 5),
            Duration::MAX,
        ] {
            assert_eq!(OptTime::new(d).get(), Some(d));
            assert!(!OptTime::new(d).is_none());
        }
        assert_eq!(OptTime::NONE.get(), None);
        assert!(OptTime::NONE.is_none());
    }

    /// Runs `s` by hand: attempt `n` of a task ends 10 ms after it starts, with
    /// `outcome(name, n)`.
    fn drive(s: &mut Scheduler<()>, outcome: impl Fn(&str, u32) -> Outcome<()>) {
        let mut now = Duration::ZERO;
        s.start(now);
        loop {
            match s.next_action() {
                Some(Action::Start { task, attempt }) => {
                    now += Duration::from_millis(10);
                    let o = outcome(s.name(task), attempt);
                    s.attempt_finished(task, attempt, o, now);
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
            Scheduler::new(graph.clone(), &graph.all(), RunOptions::default());
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
            ok.attempt_log,
            [AttemptRecord {
                start: ok.started.unwrap(),
                end: ok.finished,
                error: None,
            }]
        );
        let flaky = &report.tasks[flaky.index()];
        assert_eq!(flaky.attempts, 3);
        assert_eq!(flaky.attempt_log.len(), 3);
        assert_eq!(flaky.attempt_log[0].start, flaky.started.unwrap());
        assert_eq!(flaky.attempt_log[2].end, flaky.finished);
        let statuses: Vec<Status> = flaky.attempt_log.iter().map(|a| a.status()).collect();
        assert_eq!(
            statuses,
            [Status::Failed, Status::Failed, Status::Succeeded]
        );
    }
}
