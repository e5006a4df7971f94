//! Calls routed in the scheduler: who waits for whom, and who is woken or cancelled.
//!
//! As quinn-proto's `Endpoint` routes datagrams between connections, the core routes outcomes
//! between callers; a driver only delivers what it is told to:
//! - [`Scheduler::spawn`]: a new call (a dynamic task); its caller waits for it.
//! - [`Scheduler::join`]: a caller waits for a task that already exists (a cached call in
//!   flight or done); several callers may wait for one task.
//! - [`Scheduler::group`]: a `parallel` group with fail-fast: the first member that fails
//!   cancels the others the group's caller made.
//! - [`Scheduler::start_main`] / [`Scheduler::main_finished`]: an Orchestrator's `main`, a held
//!   pseudo-task that starts after `process_begin` and is cancelled when the run stops.
//! - [`Scheduler::suspend`] / [`Scheduler::resume`]: a wait on something outside the core.
//!
//! A caller that is a running task gives its slot back while it waits, and gets the last
//! outcome it awaits only once it holds a slot again, so recursion under `max_parallel(1)`
//! cannot deadlock (rule 8). Calls nested deeper than [`RunOptions::max_depth`] fail at once.

use super::super::{Command, Input, ProtocolError, RunOptions};
use super::{Scheduler, Wake, NONE};
use crate::event::{ErrorKind, SkipReason, Status, StopReason, TaskError};
use crate::graph::TaskId;
use crate::policy::TaskOptions;
use crate::scheduler::task::{Stage, Task};
use std::sync::Arc;
use std::time::Duration;

/// One wait of [`Scheduler::join`], named in [`Command::Joined`] when its outcome is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JoinId(pub(crate) u32);

impl JoinId {
    /// The join's number in its run (dense, from 0): a host can index its waiters by it.
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// A fail-fast group of calls made with [`Scheduler::group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub(crate) u32);

impl GroupId {
    /// The group's number in its run (dense, from 0), to hand to a host and back with
    /// [`Scheduler::group_id`].
    pub fn as_u32(self) -> u32 {
        self.0
    }
}

/// Who waits in a join, and for what.
#[derive(Debug)]
pub(super) struct JoinRec {
    /// The calling task, or [`NONE`] for `main` (or the driver).
    caller: u32,
    /// The caller's attempt at the join.
    attempt: u32,
}

/// A fail-fast group.
#[derive(Debug)]
pub(super) struct GroupRec {
    /// The calling task, or [`NONE`] for `main`: only the members it called are cancelled.
    caller: u32,
    members: Box<[u32]>,
    /// The first member that ended without succeeding, or [`NONE`].
    failed: u32,
}

/// Where an Orchestrator's `main` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum MainStage {
    /// The run has no `main`.
    #[default]
    Absent,
    /// Waiting for `process_begin`'s hooks.
    Waiting,
    /// Started ([`Command::StartMain`]); holds the run open.
    Running,
    /// Returned, failed, or stopped by the run.
    Over,
}

impl<V> Scheduler<V> {
    /// Adds a dynamic task (an action call), called by `caller` — a running task and the
    /// attempt that calls — or by `main` or the driver (`None`). It is ready at once (or
    /// skipped, if the run has stopped).
    ///
    /// A caller gives its slot back until the call's outcome is delivered
    /// ([`Command::Deliver`]), so recursion under `max_parallel(1)` cannot deadlock. The core
    /// records the caller's current attempt: when that attempt fails, times out or is
    /// cancelled before the call is done, the call is cancelled, and its outcome goes to the
    /// waiter at once. A call left running by an attempt that succeeded (a host that did not
    /// await it) runs on, and the run ends when it does; its outcome is delivered then.
    ///
    /// A call nested deeper than the run's `max_depth` (calls of `main` are at depth 1) ends
    /// at once, failed, with the error `call depth exceeded N (max_depth)` of kind
    /// [`ErrorKind::Depth`]; it never runs.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `caller`. Options are not checked here:
    /// check them with [`TaskOptions::validate`] when the action is defined.
    #[must_use = "the id names the call in `Command::Deliver` and `take_outcome`"]
    pub fn spawn(
        &mut self,
        caller: Option<(TaskId, u32)>,
        name: Arc<str>,
        opts: Arc<TaskOptions>,
        now: Duration,
    ) -> Result<TaskId, ProtocolError> {
        if let Some((c, _)) = caller {
            self.check(c)?;
        }
        self.tick(now);
        let id = self.tasks.len() as u32;
        let keys = if opts.uses.is_empty() {
            Box::default()
        } else {
            self.keys.intern(&opts.uses)
        };
        let depth = caller.map_or(1, |(p, _)| self.depth(p.0).saturating_add(1));
        self.dyn_names.push(name);
        self.any_opts |= !opts.is_default();
        self.dyn_opts.push(opts);
        self.tasks.push(Task::new(
            keys,
            caller.map_or(NONE, |(p, _)| p.0),
            Stage::Pending,
            0,
        ));
        self.unfinished += 1;
        self.tasks[id as usize].rare().depth = depth;
        let mut orphan = false;
        if let Some((p, attempt)) = caller {
            let pk = &self.tasks[p.index()];
            let current = pk.stage == Stage::Running && pk.attempt == attempt;
            self.tasks[p.index()].rare().children.push(TaskId(id));
            self.tasks[id as usize].rare().caller_attempt = attempt;
            if current {
                self.suspend_one(p);
            } else {
                orphan = true;
            }
        }
        if !self.begun {
            // begin() readies or skips it, after process_begin's hooks.
        } else if let Some(stop) = self.stop.clone() {
            self.skip(id, SkipReason::Stopped(stop));
        } else if orphan {
            // Called from an attempt that is over (a sync body that ignored its cancel).
            let error = TaskError::cancelled(format!(
                "caller \"{}\" is no longer running",
                self.name(caller.map_or(TaskId(0), |(p, _)| p))
            ));
            self.cancel_one(id, error);
        } else if depth > self.max_depth {
            let error = TaskError::new(
                ErrorKind::Depth,
                format!("call depth exceeded {} (max_depth)", self.max_depth),
            );
            self.cancel_one(id, error);
        } else {
            self.make_ready(id);
        }
        self.settle();
        Ok(TaskId(id))
    }

    /// How deep a task's call is nested: 0 for a declared task, 1 for a call of `main`.
    fn depth(&self, t: u32) -> u32 {
        self.tasks[t as usize].rare.as_ref().map_or(0, |r| r.depth)
    }

    /// `caller` — a running task and its attempt, or `None` for `main` or the driver — waits
    /// for `target`, a task that already exists (a cached call in flight or done). The core
    /// says when to hand it `target`'s outcome with [`Command::Joined`] naming the returned
    /// [`JoinId`]: at once if `target` is done, else when it is; a caller that is a running
    /// task gives its slot back meanwhile, as with [`Scheduler::spawn`]. Read the outcome
    /// with [`Scheduler::outcome`] (every waiter gets it; it is not moved out).
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `caller` or `target`.
    #[must_use = "the id names the join in `Command::Joined`"]
    pub fn join(
        &mut self,
        caller: Option<(TaskId, u32)>,
        target: TaskId,
        now: Duration,
    ) -> Result<JoinId, ProtocolError> {
        if let Some((c, _)) = caller {
            self.check(c)?;
        }
        let t = self.check(target)? as u32;
        self.tick(now);
        let id = JoinId(self.joins.len() as u32);
        let (caller_t, attempt) = caller.map_or((NONE, 0), |(c, a)| (c.0, a));
        self.joins.push(JoinRec {
            caller: caller_t,
            attempt,
        });
        if self.tasks[t as usize].stage == Stage::Done {
            self.commands.push_back(Command::Joined {
                join: id,
                task: target,
            });
        } else {
            self.tasks[t as usize].rare().joins.push(id.0);
            if caller_t != NONE && self.is_current(caller_t, attempt) {
                self.suspend_one(TaskId(caller_t));
            }
        }
        self.settle();
        Ok(id)
    }

    /// Whether `attempt` is the running attempt of `t`: the one whose report counts.
    fn is_current(&self, t: u32, attempt: u32) -> bool {
        let tk = &self.tasks[t as usize];
        tk.stage == Stage::Running && tk.attempt == attempt
    }

    /// Whether `attempt` of `task` is the one running now: a report or a call from any other
    /// attempt (cancelled, timed out) is stale. `false` for an id the run does not know.
    pub fn is_current_attempt(&self, task: TaskId, attempt: u32) -> bool {
        task.index() < self.tasks.len() && self.is_current(task.0, attempt)
    }

    /// Makes `members` — calls made by `caller` (a running task and its attempt, or `None`
    /// for `main`) — a fail-fast group: the first member that ends without succeeding cancels
    /// the unfinished members `caller` made (a cached call another caller made runs on). Each
    /// member's outcome is still delivered as usual; [`Scheduler::group_failure`] names the
    /// member that failed first. A member already in a group stays in its first.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `caller` or a member.
    #[must_use = "the id is how `group_failure` names the member that failed first"]
    pub fn group(
        &mut self,
        caller: Option<(TaskId, u32)>,
        members: &[TaskId],
        now: Duration,
    ) -> Result<GroupId, ProtocolError> {
        if let Some((c, _)) = caller {
            self.check(c)?;
        }
        for &m in members {
            self.check(m)?;
        }
        self.tick(now);
        let g = self.groups.len() as u32;
        self.groups.push(GroupRec {
            caller: caller.map_or(NONE, |(c, _)| c.0),
            members: members.iter().map(|m| m.0).collect(),
            failed: NONE,
        });
        for &m in members {
            self.tasks[m.index()].rare().group.get_or_insert(g);
        }
        // A member that already failed fails the group now.
        if let Some(&m) = members.iter().find(|m| {
            let tk = &self.tasks[m.index()];
            tk.stage == Stage::Done && tk.status != Status::Succeeded
        }) {
            self.group_member_failed(g, m.0);
        }
        self.settle();
        Ok(GroupId(g))
    }

    /// The id of group number `raw` of this run, if there is one: how an id that crossed to a
    /// host as [`GroupId::as_u32`] comes back.
    pub fn group_id(&self, raw: u32) -> Option<GroupId> {
        ((raw as usize) < self.groups.len()).then_some(GroupId(raw))
    }

    /// The member of a fail-fast group that failed first, if one did.
    pub fn group_failure(&self, group: GroupId) -> Option<TaskId> {
        let g = self.groups.get(group.0 as usize)?;
        (g.failed != NONE).then_some(TaskId(g.failed))
    }

    /// A member of group `g` ended without succeeding: the first one cancels the others.
    fn group_member_failed(&mut self, g: u32, t: u32) {
        let rec = &mut self.groups[g as usize];
        if rec.failed != NONE {
            return;
        }
        rec.failed = t;
        let caller = rec.caller;
        let members = rec.members.clone();
        let error = TaskError::cancelled(format!(
            "task \"{}\" of the same fail-fast group failed",
            self.name(TaskId(t))
        ));
        for m in members.iter().copied().filter(|&m| m != t) {
            if self.tasks[m as usize].parent == caller {
                self.cancel_one(m, error.clone());
            }
        }
    }

    /// What happens when dynamic or joined task `t` is done: its callers get its outcome, and
    /// its fail-fast group hears of a failure. Called once per task, by `done`.
    pub(super) fn route_outcome(&mut self, t: u32) {
        let tk = &mut self.tasks[t as usize];
        let (joins, group) = match tk.rare.as_mut() {
            Some(r) => (std::mem::take(&mut r.joins), r.group),
            None => return,
        };
        let failed = tk.status != Status::Succeeded;
        for j in joins {
            let JoinRec { caller, attempt } = self.joins[j as usize];
            let w = Wake {
                task: caller,
                child: t,
                join: j,
            };
            if caller != NONE && self.is_current(caller, attempt) {
                self.wake(caller, w);
            } else {
                self.push_wake(w);
            }
        }
        if let (true, Some(g)) = (failed, group) {
            self.group_member_failed(g, t);
        }
    }

    /// Says a running task now waits for something outside the core: it gives its slot back
    /// while it waits. Pair with [`Scheduler::resume`]. No effect on a task that is not
    /// running. (A wait for another task is a [`Scheduler::join`].)
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn suspend(&mut self, task: TaskId) -> Result<(), ProtocolError> {
        self.check(task)?;
        self.suspend_one(task);
        self.settle();
        Ok(())
    }

    pub(super) fn suspend_one(&mut self, task: TaskId) {
        let tk = &mut self.tasks[task.index()];
        if tk.stage != Stage::Running {
            return;
        }
        tk.waits += 1;
        if tk.waits == 1 && tk.holds_slot {
            tk.holds_slot = false;
            self.running -= 1;
        }
    }

    /// Says a wait begun with [`Scheduler::suspend`] is over. When it was the task's last
    /// wait, the task waits for a slot and then gets [`Command::Resume`]; otherwise (or if it
    /// is no longer running) it gets it at once.
    ///
    /// # Errors
    ///
    /// [`ProtocolError`] if the run does not know `task`.
    pub fn resume(&mut self, task: TaskId, now: Duration) -> Result<(), ProtocolError> {
        self.handle(now, [Input::Resume(task)])
    }

    pub(super) fn resume_one(&mut self, task: TaskId) {
        self.wake(
            task.0,
            Wake {
                task: task.0,
                child: NONE,
                join: NONE,
            },
        );
    }

    /// One wait of task `t` is over, and `w` says what it gets. The task's last wait waits
    /// for a slot; others are delivered at once.
    pub(super) fn wake(&mut self, t: u32, w: Wake) {
        let tk = &mut self.tasks[t as usize];
        if tk.stage == Stage::Running && tk.waits == 1 {
            self.resumes.push_back(w);
            return;
        }
        if tk.stage == Stage::Running && tk.waits > 1 {
            tk.waits -= 1;
        }
        self.push_wake(w);
    }

    pub(super) fn push_wake(&mut self, w: Wake) {
        self.commands.push_back(if w.join != NONE {
            Command::Joined {
                join: JoinId(w.join),
                task: TaskId(w.child),
            }
        } else if w.child == NONE {
            Command::Resume {
                task: TaskId(w.task),
            }
        } else {
            Command::Deliver {
                task: TaskId(w.child),
            }
        });
    }

    // ----- main ----------------------------------------------------------------------------

    /// Starts a run that has a `main` (an Orchestrator's): as [`Scheduler::start`], and once
    /// every `process_begin` hook is done the core hands out [`Command::StartMain`]. The run
    /// stays open while `main` runs. When the run stops first — its timeout, an outside
    /// cancel, fail-fast, a hook that raised — the core hands out [`Command::CancelMain`]
    /// and no longer waits for it: cancel `main` and do not await it. If the run stops before
    /// `main` started, it never starts.
    pub fn start_main(&mut self, now: Duration) {
        if self.started {
            return;
        }
        self.main = MainStage::Waiting;
        self.holds += 1;
        self.start(now);
    }

    /// Says `main` returned (`ok`) or raised. A `main` that raised cancels the calls it left
    /// running (no one is left to take their results): the run stops with
    /// [`StopReason::MainFailed`]. No effect once the core cancelled `main`.
    pub fn main_finished(&mut self, ok: bool, now: Duration) {
        self.tick(now);
        if self.main == MainStage::Running {
            self.main = MainStage::Over;
            self.release_one();
            if !ok {
                self.stop_run(StopReason::MainFailed);
            }
        }
        self.settle();
    }

    /// Whether the core started `main` ([`Command::StartMain`] was handed out).
    pub fn main_started(&self) -> bool {
        matches!(self.main, MainStage::Running | MainStage::Over) && self.main_began
    }

    /// At the run's begin: `main` starts, unless the run already stopped.
    pub(super) fn begin_main(&mut self) {
        if self.main != MainStage::Waiting {
            return;
        }
        if self.stop.is_some() {
            self.main = MainStage::Over;
            self.release_one();
        } else {
            self.main = MainStage::Running;
            self.main_began = true;
            self.commands.push_back(Command::StartMain);
        }
    }

    /// The run stopped: a running `main` is cancelled and no longer holds the run.
    pub(super) fn stop_main(&mut self) {
        if self.main == MainStage::Running {
            self.main = MainStage::Over;
            self.release_one();
            self.commands.push_back(Command::CancelMain);
        }
    }
}

impl RunOptions {
    /// Calls nested deeper than `n` fail at once with `call depth exceeded N (max_depth)`
    /// (`n` ≥ 1: [`Scheduler::new`] refuses 0). Default: 10,000.
    #[must_use]
    pub fn max_depth(mut self, n: u32) -> Self {
        self.max_depth = Some(n);
        self
    }

    /// The call depth limit (10,000 unless set).
    pub fn get_max_depth(&self) -> u32 {
        self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH)
    }
}

/// The default of [`RunOptions::max_depth`].
pub const DEFAULT_MAX_DEPTH: u32 = 10_000;
