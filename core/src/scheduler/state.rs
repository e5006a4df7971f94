//! The state machine itself: the [`Scheduler`] struct, its constructor and its inputs. Its
//! other parts live in child modules, one per concern (each sees this module's private
//! fields):
//! - `dispatch`: the outputs, the ready queue, slots and sequence keys, `settle`/`dispatch`,
//!   the run's begin and end;
//! - `attempts`: attempts and retries: start, finish, fail, backoff, timers firing;
//! - `stop`: skips and the propagation of a task's end (`done`), cancels of one task or all,
//!   stopping the run (all iterative: no recursion per task);
//! - `hooks`: events emitted, hooks done or raised, and the hook stages of a task;
//! - `priority`: the upward ranks that order ready tasks under `critical_path`;
//! - `calls`: dynamic calls, joins, fail-fast groups and `main` (routing between callers);
//! - `queries`: what a driver may read of the run.
//!
//! Task storage, sequence keys, timers and reports live beside it.

mod attempts;
mod calls;
mod dispatch;
mod hooks;
mod priority;
mod queries;
mod stop;

pub use calls::{GroupId, JoinId, DEFAULT_MAX_DEPTH};
use calls::{GroupRec, JoinRec, MainStage};

use super::keys::Keys;
use super::task::{Stage, Task, NONE};
use super::timers::{Timer, Timers};
use super::{Command, Input, Outcome, ProtocolError, RunOptions};
use crate::event::{Event, HookMask, StopReason, TaskError};
use crate::graph::{Graph, Selection, TaskId};
use crate::policy::{OptionError, Priority, TaskOptions};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The pseudo-task index of run-level hook tokens.
const PROCESS: u32 = u32::MAX;

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
    /// The dynamic tasks' names (task `graph.len() + k` is `dyn_names[k]`); a static task's
    /// name is the graph's.
    pub(super) dyn_names: Vec<Arc<str>>,
    /// The dynamic tasks' options, as `dyn_names`; a static task's are the graph's.
    pub(super) dyn_opts: Vec<Arc<TaskOptions>>,
    /// Whether any task of the run has options other than the default (else no option is
    /// read: see [`opts_of`]).
    pub(super) any_opts: bool,
    opts: RunOptions,
    hooks: HookMask,
    max_parallel: usize,
    running: usize,
    pub(super) now: Duration,
    /// Tasks dequeued in the order they became ready (sequence numbers increase).
    ready: VecDeque<(u64, u32)>,
    /// Tasks back from a key wait, by their original ready order; with
    /// [`Priority::CriticalPath`], every ready task, by (rank, ready order).
    returned: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// With [`Priority::CriticalPath`]: each static task's order key, `u64::MAX` minus its
    /// upward rank in nanoseconds (so a longer remaining path sorts first); empty for `fifo`.
    rank_key: Vec<u64>,
    /// With [`Priority::CriticalPath`]: tasks whose `task_ready` hooks or condition are out,
    /// by rank key (stale entries are dropped as they surface).
    becoming_ready: BinaryHeap<Reverse<(u64, u32)>>,
    /// Each task with sequence keys: its place in the ready order when it last became ready
    /// (a key waiter goes back to it); grown on demand, empty in a run without keys.
    ready_seq: Vec<u64>,
    next_seq: u64,
    /// Suspended tasks whose waits are over, waiting for a slot (served first).
    resumes: VecDeque<Wake>,
    keys: Keys,
    timers: Timers,
    pub(super) commands: VecDeque<Command>,
    /// Whether `dispatch` stopped with work left because the driver has a burst of commands
    /// to perform first (see `dispatch::DISPATCH_BURST`): it goes on when they are taken.
    dispatch_more: bool,
    /// Tasks of this run not yet `Done`.
    unfinished: usize,
    /// Tasks of the graph not in this run (`Stage::Excluded`, set once, in `new`).
    pub(super) excluded: usize,
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
    /// Tasks restored from a resumed run ([`Scheduler::restore`]), in the order given.
    restored: Vec<u32>,
}

/// The default options, for every task that has no options of its own.
pub(super) fn default_opts() -> &'static TaskOptions {
    static D: OnceLock<TaskOptions> = OnceLock::new();
    D.get_or_init(TaskOptions::default)
}

/// The options of task `t`: a static task's are the graph's, a dynamic task's in `dynamic`
/// (by id from the graph's length); the default options for an id the run does not know, and
/// for every task when `any` is false (no task of the run has options: the fast path, which
/// reads neither the graph's options nor `dynamic`). A free function, so that it borrows two
/// fields, not the whole scheduler.
#[inline]
pub(super) fn opts_of<'a>(
    graph: &'a Graph,
    dynamic: &'a [Arc<TaskOptions>],
    any: bool,
    t: u32,
) -> &'a TaskOptions {
    if !any {
        return default_opts();
    }
    let (i, n) = (t as usize, graph.len());
    if i < n {
        graph.options(TaskId(t))
    } else {
        dynamic.get(i - n).map_or(default_opts(), |o| o)
    }
}

/// The working memory a finished run leaves for a later run (of the same graph or another):
/// the emptied vector of task states and the command queue, with their allocations.
///
/// [`Scheduler::into_report_and_spare`] gives it, [`Scheduler::with_spare`] takes it. A run of
/// more than 32,768 tasks gives most of its states' memory back while its report is built
/// (so that the report takes their place), so what is kept stays under about 2.5 MB.
///
/// # Examples
///
/// ```
/// use legato::graph::{GraphBuilder, TaskSpec};
/// use legato::scheduler::{Command, Input, Outcome, RunOptions, Scheduler, Spare};
/// use std::time::Duration;
///
/// let mut b = GraphBuilder::new();
/// b.add(TaskSpec::new("a"))?;
/// let graph = std::sync::Arc::new(b.build()?);
/// let mut spare = Spare::default();
/// for _ in 0..2 {
///     let mut s: Scheduler<()> = Scheduler::with_spare(
///         graph.clone(), &graph.all(), RunOptions::default(), spare)?;
///     s.start(Duration::ZERO);
///     while let Some(c) = s.next_command() {
///         if let Command::Start { task, attempt } = c {
///             let done = Input::Finished { task, attempt, outcome: Outcome::Ok(()) };
///             s.handle(Duration::ZERO, [done])?;
///         }
///     }
///     let (report, kept) = s.into_report_and_spare();
///     assert!(report.ok());
///     assert!(kept.capacity() >= 1);
///     spare = kept;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Spare<V> {
    pub(super) tasks: Vec<Task<V>>,
    pub(super) commands: VecDeque<Command>,
}

impl<V> Default for Spare<V> {
    fn default() -> Self {
        Spare {
            tasks: Vec::new(),
            commands: VecDeque::new(),
        }
    }
}

impl<V> Spare<V> {
    /// How many task states fit in the kept vector without allocating.
    pub fn capacity(&self) -> usize {
        self.tasks.capacity()
    }
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
        Self::with_spare(graph, selection, opts, Spare::default())
    }

    /// [`Scheduler::new`], in the memory an earlier run left ([`Spare`]): a driver that runs
    /// flows again and again writes its task states into pages it already has, instead of
    /// a fresh allocation the system must fault in at each run.
    ///
    /// # Errors
    ///
    /// [`OptionError`] for invalid run options (see [`RunOptions::validate`]).
    pub fn with_spare(
        graph: Arc<Graph>,
        selection: &Selection,
        opts: RunOptions,
        spare: Spare<V>,
    ) -> Result<Self, OptionError> {
        opts.validate()?;
        let Spare {
            mut tasks,
            mut commands,
        } = spare;
        tasks.clear();
        tasks.reserve(graph.len());
        commands.clear();
        let mut s = Scheduler {
            tasks,
            dyn_names: Vec::new(),
            dyn_opts: Vec::new(),
            any_opts: false,
            hooks: opts.get_hooks(),
            max_parallel: opts.get_max_parallel().unwrap_or(usize::MAX),
            running: 0,
            now: Duration::ZERO,
            ready: VecDeque::new(),
            returned: BinaryHeap::new(),
            rank_key: Vec::new(),
            becoming_ready: BinaryHeap::new(),
            ready_seq: Vec::new(),
            next_seq: 0,
            resumes: VecDeque::new(),
            keys: Keys::with_limits(opts.get_limits()),
            timers: Timers::default(),
            commands,
            dispatch_more: false,
            unfinished: selection.len(),
            excluded: 0,
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
            restored: Vec::new(),
            opts,
            graph,
        };
        let g = s.graph.clone();
        let keys = &mut s.keys;
        let mut any_opts = false;
        let mut excluded = 0;
        s.tasks.extend(g.ids().map(|id| {
            // The options stay the graph's: only sequence keys are the run's.
            let o = g.options(id);
            any_opts |= !o.is_default();
            let keys = if o.uses.is_empty() {
                Box::default()
            } else {
                keys.intern(&o.uses)
            };
            let stage = if selection.contains(id) {
                Stage::Pending
            } else {
                excluded += 1;
                Stage::Excluded
            };
            Task::new(keys, NONE, stage, g.deps(id).len() as u32)
        }));
        s.any_opts = any_opts;
        s.excluded = excluded;
        if s.opts.get_priority() == Priority::CriticalPath {
            s.rank_key = priority::rank_keys(&g, s.opts.get_costs());
        }
        Ok(s)
    }

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

    /// Restores a task that succeeded in a previous run (resuming that run): it is not run
    /// again; once the run begins it ends `succeeded` with no attempt and `value` as its
    /// result, hooks see `task_skip` with reason [`SkipReason::Resumed`](crate::event::SkipReason::Resumed),
    /// and its dependents go on as after a success. Call before [`Scheduler::start`]; a task
    /// not in the run's selection, or restored twice, is left as it is.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn restore(&mut self, task: TaskId, value: Option<V>) -> Result<(), ProtocolError> {
        self.check(task)?;
        let tk = &mut self.tasks[task.index()];
        if self.started || tk.stage != Stage::Pending || self.restored.contains(&task.0) {
            return Ok(());
        }
        tk.value = value;
        self.restored.push(task.0);
        Ok(())
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

    /// Takes several inputs that happened at the same instant `now`, in any order, and orders
    /// them as the contract says: attempts that finished and hooks that are done first (in the
    /// order given), then resumes, conditions, releases and single-task cancels, then an outside cancel of
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
                Input::HookRaised(token, error) => self.hook_done_one(token, Some(error)),
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
                Input::Evaluated(task, condition) => self
                    .check(task)
                    .map(|_| self.evaluated_one(task.0, condition)),
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

    /// The options of task `t` (see [`opts_of`]).
    pub(super) fn task_opts(&self, t: u32) -> &TaskOptions {
        opts_of(&self.graph, &self.dyn_opts, self.any_opts, t)
    }

    /// Frees the queues and indexes that only a running run needs (the report needs none of
    /// them).
    pub(super) fn free_run_buffers(&mut self) {
        self.commands = VecDeque::new();
        self.ready = VecDeque::new();
        self.returned = BinaryHeap::new();
        self.becoming_ready = BinaryHeap::new();
        self.ready_seq = Vec::new();
        self.resumes = VecDeque::new();
        self.timers = Timers::default();
    }
}
